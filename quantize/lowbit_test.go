package quantize

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/qconv/qconv/gguf"
)

// Reference vectors: see the comment at the top of mxfp4_test.go.

// lbLowbitEdgeIn: one block per fp16 scale pattern (subnormal, smallest
// normal, largest finite, negative, +Inf, ±0) with a byte pattern
// j·0x1B+b in the quants; the same bytes serve Q1_0 and Q2_0 (both 18
// bytes per block with d first).
func lbLowbitEdgeIn() []byte {
	ds := []uint16{0x0001, 0x03FF, 0x0400, 0x7BFF, 0x8001, 0xFBFF, 0x7C00, 0x0000, 0x8000}
	q := make([]byte, len(ds)*18)
	for b, d := range ds {
		binary.LittleEndian.PutUint16(q[b*18:], d)
		for j := 0; j < 16; j++ {
			q[b*18+2+j] = byte(j*0x1B + b)
		}
	}
	return q
}

func TestQ1_0GGML(t *testing.T) {
	lbCheckGGML(t, lbGGMLCase{
		typ: gguf.TypeQ1_0, d16: 0,
		blockIn:      "a44e78d565ff72a792cfc0801bb56293b5b7",
		bulkDeqSHA:   "f67a59e53d7d47b9f7c0c0048113016e7d6131968f06b96fa2d684ffc10172db",
		bulkQuantSHA: "efa208724d9f345b2b9a1d7a9b82ffbafd0ac47947d0d3cb5e20ee84f3d40ebf",
		edgeQuant: "007e1391e363ac6edca286c16c8c6e9e6200007ef3d7255eabfbfbe6f40fd8344c4b9322007e842bf779ffffffffffff" +
			"ffff21635dea007e6234593931da18ed75697aa5f17751d5007e61cabded3577a9c91356067c2c2351cb007eff1f69c7" +
			"e7a9ec48c66c809627ba1e18",
		edgeDeqIn:  lbLowbitEdgeIn,
		edgeDeqSHA: "d8476c8b152c5d919ca9f86b0c93f7c7466d73332285e9e4fd920d246acf2568",
	})
}

func TestQ2_0GGML(t *testing.T) {
	lbCheckGGML(t, lbGGMLCase{
		typ: gguf.TypeQ2_0, d16: 0,
		blockIn: "a4440df2037a5e584db7611f46efcb8396ec",
		blockOut: "0000000000801441008094c0008094c000809440008094c0008014410080144100801441008094c0008094c0008094c00080944000809440008014410000000000809440" +
			"008014410000000000000000008094c00080944000000000000000000000000000801441008094c0000000000080144100000000008014410080944000000000008094c0" +
			"0080944000000000008014410080144100000000008094c00080944000000000008094c000000000008014410080144100809440008014410080144100809440008094c0" +
			"0080144100801441008094c0008094c00080944000809440000000000000000000809440008094c0008014410080944000801441",
		bulkDeqSHA:   "b6a8e887875d06c577b8e2dfd3341e1bfc833135e3526ce573b8e21114218e6f",
		bulkQuantSHA: "b88ddd307e83fd7159caa66ad8231b53f145e5521382d0a0779fd3db0b5a36c8",
		edgeQuant: "007c5555555555555555a099986594960984007c55555555555555555968649159291005000046996966215599525555" +
			"555555555555007c55555555555555550000000000000000003c11519605299992665555555555555555003e55555555" +
			"555555555509051996529494000019696455426646455555555555555555405655555555555555554259295555666196" +
			"604642155860628a91995555555555555555466946565851194064659408495446658694002e59a5a642952866905555" +
			"555555555555004055555555555555552958999a68514446",
		edgeDeqIn:  lbLowbitEdgeIn,
		edgeDeqSHA: "f87e645590391b3e3b77283fb552f36dc20a8a8e765095c39d5c40c34887ca89",
	})
}

// Q1_0 keeps the sign of every element and the fp16 mean magnitude (+Inf
// from 65520 up, the fp16 overflow threshold).
func TestQ1_0Properties(t *testing.T) {
	x := lbRandomFloats(gguf.TypeQ1_0, 64)
	y := lbDequant(t, gguf.TypeQ1_0, lbQuant(t, gguf.TypeQ1_0, x))
	for b := 0; b < len(x)/q1QK; b++ {
		xb, yb := x[b*q1QK:(b+1)*q1QK], y[b*q1QK:(b+1)*q1QK]
		var sum float64
		for _, v := range xb {
			sum += math.Abs(float64(v))
		}
		d := float64(yb[0])
		if d < 0 {
			d = -d
		}
		if mean := sum / q1QK; mean >= 65520 && !math.IsInf(d, 1) || mean < 65520 && math.Abs(d-mean) > max(mean/1024, 0x1p-25) { // fp16: 11 bits, subnormal below 2^-14
			t.Fatalf("block %d: |d| = %g, mean |x| = %g", b, d, mean)
		}
		for j, v := range xb {
			if want := math.Copysign(d, float64(v)); v == 0 && yb[j] != float32(d) || v != 0 && float64(yb[j]) != want {
				t.Fatalf("block %d element %d: x = %g, y = %g (d = %g)", b, j, v, yb[j], d)
			}
		}
	}
}

// Q2_0: every element lands on the nearest of -d, 0, d, 2d (d = max |x|,
// in fp16; the quantizer never picks 2d) up to the fp16 rounding of d, and a block whose codes are
// all in {-1, 0, +1} with some ±1 and a normal positive d requantizes to
// itself.
func TestQ2_0Properties(t *testing.T) {
	x := lbRandomFloats(gguf.TypeQ2_0, 64)
	q := lbQuant(t, gguf.TypeQ2_0, x)
	y := lbDequant(t, gguf.TypeQ2_0, q)
	for b := 0; b < len(x)/q2QK; b++ {
		d := fp16ToFP32(binary.LittleEndian.Uint16(q[b*q2Bytes:]))
		for j := b * q2QK; j < (b+1)*q2QK; j++ {
			if d == 0 {
				if y[j] != 0 {
					t.Fatalf("element %d: y = %g with d = 0", j, y[j])
				}
				continue
			}
			if math.IsInf(float64(d), 0) {
				break // max |x| beyond fp16's range
			}
			// half a step, plus the fp16 rounding of d (relative 2^-11,
			// absolute 2^-25 for subnormal fp16) times |q-1| <= 1
			if err := math.Abs(float64(y[j] - x[j])); err > float64(d)*(0.5+0x1p-10)+0x1p-24 {
				t.Fatalf("element %d: x = %g, y = %g, d = %g", j, x[j], y[j], d)
			}
		}
	}
	r := lbRng(7)
	for n := 0; n < 200; n++ {
		blk := make([]byte, q2Bytes)
		binary.LittleEndian.PutUint16(blk, 0x0400+uint16(r.next()>>40%0x7400)) // positive normal, finite
		for i := 2; i < q2Bytes; i++ {
			for j := 0; j < 4; j++ {
				blk[i] |= byte(r.next()>>40%3) << (2 * j)
			}
		}
		blk[2] = blk[2]&^3 | 2 // at least one +1
		again := lbQuant(t, gguf.TypeQ2_0, lbDequant(t, gguf.TypeQ2_0, blk))
		if string(again) != string(blk) {
			t.Fatalf("requantizing %x gave %x", blk, again)
		}
	}
}
