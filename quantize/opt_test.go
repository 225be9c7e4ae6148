package quantize

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/qconv/qconv/gguf"
)

// The optimised row functions must equal the reference copies in
// ref_test.go byte for byte on ordinary and adversarial inputs, with and
// without the SIMD kernels.

var optRefs = []struct {
	typ        gguf.Type
	quant      func([]byte, []float32, []float32)
	dequant    func([]float32, []byte)
	blockBytes int
}{
	{gguf.TypeQ4_0, refQuantizeRowQ4_0, refDequantizeRowQ4_0, 18},
	{gguf.TypeQ4_1, refQuantizeRowQ4_1, refDequantizeRowQ4_1, 20},
	{gguf.TypeQ5_0, refQuantizeRowQ5_0, refDequantizeRowQ5_0, 22},
	{gguf.TypeQ5_1, refQuantizeRowQ5_1, refDequantizeRowQ5_1, 24},
	{gguf.TypeQ8_0, refQuantizeRowQ8_0, refDequantizeRowQ8_0, 34},
	{gguf.TypeQ8_1, refQuantizeRowQ8_1, nil, 36},
	{gguf.TypeIQ4_NL, nil, refDequantizeRowIQ4NL, 18},
	{gguf.TypeIQ4_XS, nil, refDequantizeRowIQ4XS, 136},
	{gguf.TypeTQ1_0, refQuantizeRowTQ1_0, refDequantizeRowTQ1_0, 54},
	{gguf.TypeTQ2_0, refQuantizeRowTQ2_0, refDequantizeRowTQ2_0, 66},
	{gguf.TypeQ2_K, nil, refDequantizeRowQ2K, q2KBytes},
	{gguf.TypeQ3_K, nil, refDequantizeRowQ3K, q3KBytes},
	{gguf.TypeQ4_K, nil, refDequantizeRowQ4K, q4KBytes},
	{gguf.TypeQ5_K, nil, refDequantizeRowQ5K, q5KBytes},
	{gguf.TypeQ6_K, nil, refDequantizeRowQ6K, q6KBytes},
}

// adversarialRows returns rows of n elements: Gaussian at several scales
// (down to subnormal maxima whose inverse overflows), random bit patterns,
// Gaussian rows salted with NaNs (various payloads), infinities, ±0,
// subnormals and ±FLT_MAX, constant rows, and rows of exact rounding ties.
func adversarialRows(n int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	specials := []float32{
		float32(math.NaN()), math.Float32frombits(0x7f800001), math.Float32frombits(0xffc12345),
		float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)),
		math.Float32frombits(1), math.Float32frombits(0x80000003), math.Float32frombits(0x007fffff),
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32 * 1000, 65504, 65520, -65536,
	}
	var rows [][]float32
	gauss := func(scale float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64()) * scale
		}
		return x
	}
	for _, s := range []float32{1, 1e-3, 1e4, 1e30, 1e-36, 1e-39, 1e-43, 3e-45} {
		rows = append(rows, gauss(s))
	}
	for range 4 {
		x := make([]float32, n)
		for i := range x {
			x[i] = math.Float32frombits(r.Uint32())
		}
		rows = append(rows, x)
	}
	for k := range 12 {
		x := gauss(1)
		for range 1 + k%4 {
			x[r.IntN(n)] = specials[r.IntN(len(specials))]
		}
		rows = append(rows, x)
	}
	for _, c := range []float32{0, 1, -1, 1e-40, float32(math.NaN())} {
		x := make([]float32, n)
		for i := range x {
			x[i] = c
		}
		rows = append(rows, x)
	}
	// Ties: half-integer multiples of power-of-two steps, with block
	// extremes that make the scales exact for each type.
	for _, m := range []float32{8, 16, 15, 31, 127, 1, 2} {
		x := make([]float32, n)
		for i := range x {
			x[i] = (float32(r.IntN(int(2*m+1))) - m + float32(r.IntN(2))*0.5) / 4
		}
		for i := 0; i < n; i += 32 {
			x[i] = -m / 4
		}
		rows = append(rows, x)
	}
	// Subnormal products: the trit/round arguments near ±0.5 and ±1.5.
	x := make([]float32, n)
	for i := range x {
		x[i] = []float32{0.5, -0.5, 0.49999997, 0.50000006, 1, -1, 1.5, 0}[r.IntN(8)]
	}
	rows = append(rows, x)
	return rows
}

// randomBlocks returns nb random blocks whose leading fp16 (and second
// fp16, for the types with a min) take every value in turn, so that NaN,
// infinite, subnormal and negative scales are all covered.
func randomBlocks(nb, blockBytes int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, nb*blockBytes)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for i := range nb {
		binary.LittleEndian.PutUint16(b[i*blockBytes:], uint16(i*7919))
		if blockBytes != 54 && blockBytes != 66 && blockBytes != 136 {
			binary.LittleEndian.PutUint16(b[i*blockBytes+2:], uint16(i*104729+1))
		}
	}
	// The K-quant scales (d, then dmin where there is one).
	if off, ok := map[int]int{q2KBytes: 80, q3KBytes: 108, q6KBytes: 208}[blockBytes]; ok {
		for i := range nb {
			binary.LittleEndian.PutUint16(b[i*blockBytes+off:], uint16(i*7919))
			if blockBytes == q2KBytes {
				binary.LittleEndian.PutUint16(b[i*blockBytes+off+2:], uint16(i*104729+1))
			}
		}
	}
	// The ternary scales sit at the end of the block.
	if blockBytes == 54 || blockBytes == 66 {
		for i := range nb {
			binary.LittleEndian.PutUint16(b[i*blockBytes+blockBytes-2:], uint16(i*7919))
		}
	}
	return b
}

func eachConvMode(t *testing.T, f func(t *testing.T)) {
	t.Run("simd", f)
	if simdConv {
		t.Run("scalar", func(t *testing.T) { scalarOnly(func() { f(t) }) })
	}
}

func TestOptimisedMatchesReference(t *testing.T) {
	eachConvMode(t, func(t *testing.T) {
		for _, c := range optRefs {
			tr, _ := Lookup(c.typ)
			n := 1024
			if c.quant != nil {
				for k, x := range adversarialRows(n, uint64(c.typ)) {
					got := make([]byte, tr.RowBytes(n))
					want := make([]byte, tr.RowBytes(n))
					tr.QuantizeRow(got, x, nil)
					c.quant(want, x, nil)
					if !bytes.Equal(got, want) {
						for i := range got {
							if got[i] != want[i] {
								t.Fatalf("%s: quantize row %d differs at byte %d (block %d): %#02x, want %#02x",
									tr.Name, k, i, i/c.blockBytes, got[i], want[i])
							}
						}
					}
				}
			}
			if c.dequant != nil {
				nb := 1 << 16 / (tr.BlockSize / 32) / 4
				src := randomBlocks(nb, c.blockBytes, uint64(c.typ))
				got := make([]float32, nb*tr.BlockSize)
				want := make([]float32, nb*tr.BlockSize)
				tr.DequantizeRow(got, src)
				c.dequant(want, src)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: dequantize element %d (block %d) = %#08x, want %#08x",
							tr.Name, i, i/tr.BlockSize, math.Float32bits(got[i]), math.Float32bits(want[i]))
					}
				}
			}
		}
	})
}

// TestLegacyTernaryNoAllocs: the row functions of this file's types
// allocate nothing.
func TestLegacyTernaryNoAllocs(t *testing.T) {
	x := gaussRow(1024, 5)
	for _, typ := range []gguf.Type{gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0,
		gguf.TypeQ5_1, gguf.TypeQ8_0, gguf.TypeQ8_1, gguf.TypeIQ4_NL, gguf.TypeIQ4_XS, gguf.TypeTQ1_0, gguf.TypeTQ2_0,
		gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K} {
		tr, _ := Lookup(typ)
		dst := make([]byte, tr.RowBytes(len(x)))
		deq := make([]float32, len(x))
		if a := testing.AllocsPerRun(5, func() { tr.QuantizeRow(dst, x, nil) }); a != 0 {
			t.Errorf("%s: quantize allocates %v times per row", tr.Name, a)
		}
		if a := testing.AllocsPerRun(5, func() { tr.DequantizeRow(deq, dst) }); a != 0 {
			t.Errorf("%s: dequantize allocates %v times per row", tr.Name, a)
		}
	}
}

// TestTritFast checks tritCodes' fast path against the reference trit for
// every float32 product of magnitude below 1.5 — the only ones that take
// it — and a few beyond.
func TestTritFast(t *testing.T) {
	// All of them with QCONV_EXHAUSTIVE=1; otherwise all from 0.25 up and
	// every 101st below (all round to 0 there).
	all := os.Getenv("QCONV_EXHAUSTIVE") == "1"
	var x [tqQK]float32
	var c [tqQK]uint8
	check := func(k int) {
		tritCodes(&c, &x, 1)
		for i, v := range x[:k] {
			if want := uint8(refTrit(v, 1)); c[i] != want {
				t.Fatalf("trit code of %g (%#08x) = %d, want %d", v, math.Float32bits(v), c[i], want)
			}
		}
	}
	k := 0
	for u := uint32(0); u < 0x3fc00000; u++ { // |p| < 1.5
		if !all && u < 0x3e800000 && u%101 != 0 {
			continue
		}
		x[k], x[k+1] = math.Float32frombits(u), math.Float32frombits(u|1<<31)
		if k += 2; k == tqQK {
			check(k)
			k = 0
		}
	}
	check(k)
	k = 0
	for _, p := range []float32{1.5, -1.5, 2, -2.5, float32(math.Inf(1)), float32(math.NaN()), 1e30, -1e9, 255.7, 300} {
		x[k] = p
		k++
	}
	check(k)
}

// TestCTrunc compares cTrunc with the range-checked reference on the
// boundaries, NaNs, infinities and a sweep of bit patterns.
func TestCTrunc(t *testing.T) {
	cases := []float32{0, -0.9, 0.9, 127.5, -128.5, 2147483520, -2147483648, 2147483648, -2147483904,
		3e9, -3e9, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.Float32frombits(0x7f800001), math.Float32frombits(0xffc00001), math.MaxFloat32, 1e-45}
	for _, f := range cases {
		if got, want := cTrunc(f), refCTrunc(f); got != want {
			t.Errorf("cTrunc(%g) = %#x, want %#x", f, uint32(got), uint32(want))
		}
	}
	for u := uint64(0); u < 1<<32; u += 65521 {
		f := math.Float32frombits(uint32(u))
		if got, want := cTrunc(f), refCTrunc(f); got != want {
			t.Fatalf("cTrunc(%g) = %#x, want %#x", f, uint32(got), uint32(want))
		}
	}
}

// TestZeroMinSign: blocks whose minimum (or maximum) is a zero of either
// sign, in every position, must keep the sign of the first such element
// (the SIMD min/max scans of Q4_1 and Q5_1 defer those blocks to the
// scalar code).
func TestZeroMinSign(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	negZero := float32(math.Copysign(0, -1))
	const n = 32 * 512
	x := make([]float32, n)
	for i := range x {
		v := abs32(float32(r.NormFloat64()))
		if i%64 >= 32 {
			v = -v // the zeros are the maximum there
		}
		switch r.IntN(6) {
		case 0:
			v = 0
		case 1:
			v = negZero
		}
		x[i] = v
	}
	eachConvMode(t, func(t *testing.T) {
		for _, c := range optRefs[:4] {
			if c.typ != gguf.TypeQ4_1 && c.typ != gguf.TypeQ5_1 {
				continue
			}
			tr, _ := Lookup(c.typ)
			got := make([]byte, tr.RowBytes(n))
			want := make([]byte, tr.RowBytes(n))
			tr.QuantizeRow(got, x, nil)
			c.quant(want, x, nil)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: zero-extreme blocks differ", tr.Name)
			}
		}
	})
}
