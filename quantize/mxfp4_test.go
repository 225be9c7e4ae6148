package quantize

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"

	"github.com/qconv/qconv/gguf"
)

// Reference vectors for MXFP4, NVFP4 (this file) and Q1_0, Q2_0
// (lowbit_test.go) were produced by ggml commit d99724f (the commit of the
// golden set) through libggml-base: to_float for dequantization and
// from_float_ref (quantize_row_<type>_ref) for quantization; for all four
// types ggml_quantize_chunk, with and without an importance matrix, was
// checked to give the same bytes as from_float_ref. The inputs are not
// stored: both the generator and these tests build them from the xorshift64
// stream below, and the tests compare against SHA-256 digests of ggml's
// output (little-endian bytes; float32 as their bit patterns), plus a few
// short literal blocks.

// lbRng is xorshift64 (x ^= x<<13; x ^= x>>7; x ^= x<<17).
type lbRng uint64

func (r *lbRng) next() uint64 {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = lbRng(x)
	return x
}

func (r *lbRng) byte() byte { return byte(r.next() >> 32) }

// lbDequantSeed and lbQuantSeed, xor the ggml type id, start the streams.
const (
	lbDequantSeed = 0x9E3779B97F4A7C15
	lbQuantSeed   = 0xD1B54A32D192ED03
	lbEdgeSeed    = 0x2545F4914F6CDD1D
	lbBulkBlocks  = 4096
)

// lbRandomBlocks fills n blocks of random bytes; when d16 >= 0 the fp16 at
// that offset is made finite (exponent 31 loses its top bit).
func lbRandomBlocks(t gguf.Type, n, d16 int) []byte {
	r := lbRng(lbDequantSeed ^ uint64(t))
	bb := t.BlockBytes()
	q := make([]byte, n*bb)
	for i := range q {
		q[i] = r.byte()
	}
	if d16 >= 0 {
		for b := 0; b < n; b++ {
			if hi := &q[b*bb+d16+1]; *hi>>2&0x1f == 0x1f {
				*hi &^= 0x40
			}
		}
	}
	return q
}

func lbPow2(k int) float32 { return math.Float32frombits(uint32(127+k) << 23) }

// lbRandomFloats gives n blocks of uniform(-1,1)·2^k, k in [-20,20] per
// block; every 5th block is zero and every 7th gets a spike of 7·2^k.
func lbRandomFloats(t gguf.Type, n int) []float32 {
	r := lbRng(lbQuantSeed ^ uint64(t))
	bs := t.BlockSize()
	x := make([]float32, n*bs)
	for b := 0; b < n; b++ {
		s := lbPow2(int(r.next()>>32%41) - 20)
		y := x[b*bs : (b+1)*bs]
		for j := range y {
			u := float32(r.next()>>40) * (1.0 / (1 << 24))
			y[j] = (2*u - 1) * s
		}
		if b%5 == 4 {
			clear(y)
		}
		if b%7 == 6 {
			y[r.next()>>32%uint64(bs)] = 7 * s
		}
	}
	return x
}

// lbEdgeAmax are block maxima that probe the scale computations: values
// just below powers of two (log2f rounding), subnormals, ±0, Inf, FLT_MAX
// and UE4M3 rounding, clamping and subnormal boundaries (amax/6).
var lbEdgeAmax = [...]uint32{
	0x3F7FFFFF, 0x497FFFFF, 0x4B7FFFFF, 0x7F7FFFFF, 0x00800000, 0x00000001, 0x00400000, 0x7F800000,
	0x3F800000, 0x00000000, 0x80000000, 0x3FC00000, 0x1E7FFFFF, 0x0D800000, 0x02FFFFFF, 0x42C80000,
	0x40CC0000, 0x3CC00000, 0x45280000, 0x4528C000, 0x3DC00000, 0x3BC00000, 0x3B400000, 0x40000000,
}

// lbEdgeFloats: 32 values per entry of lbEdgeAmax, uniform(-1,1)·a with a
// itself at one position, -a next to it in every third group and a NaN
// two further on in every fourth.
func lbEdgeFloats() []float32 {
	r := lbRng(lbEdgeSeed)
	x := make([]float32, 32*len(lbEdgeAmax))
	for b, bits := range lbEdgeAmax {
		a := math.Float32frombits(bits)
		y := x[32*b : 32*b+32]
		for j := range y {
			u := float32(r.next()>>40) * (1.0 / (1 << 24))
			y[j] = (2*u - 1) * a
		}
		p := b * 7 % 32
		y[p] = a
		if b%3 == 1 {
			y[(p+1)%32] = -a
		}
		if b%4 == 3 {
			y[(p+2)%32] = math.Float32frombits(0x7FC00000)
		}
	}
	return x
}

func lbSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func lbFloatBytes(f []float32) []byte {
	b := make([]byte, 4*len(f))
	for i, v := range f {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func lbHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lbFloatsFromHex decodes little-endian float32s.
func lbFloatsFromHex(t *testing.T, s string) []float32 {
	b := lbHex(t, s)
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return f
}

func lbLookup(t *testing.T, typ gguf.Type) *Traits {
	t.Helper()
	tr, ok := Lookup(typ)
	if !ok {
		t.Fatalf("%s not registered", typ)
	}
	return tr
}

// lbDequant runs the registered DequantizeRow over whole blocks.
func lbDequant(t *testing.T, typ gguf.Type, q []byte) []float32 {
	t.Helper()
	tr := lbLookup(t, typ)
	y := make([]float32, len(q)/tr.BlockBytes*tr.BlockSize)
	if err := Dequantize(typ, y, q); err != nil {
		t.Fatal(err)
	}
	return y
}

func lbQuant(t *testing.T, typ gguf.Type, x []float32) []byte {
	t.Helper()
	tr := lbLookup(t, typ)
	q := make([]byte, tr.RowBytes(len(x)))
	if err := Quantize(typ, q, x, len(x), nil); err != nil {
		t.Fatal(err)
	}
	return q
}

// lbFirstDiff names the first differing block, for failure messages.
func lbFirstDiff(got, want []byte, bb int) int {
	for i := range got {
		if i >= len(want) || got[i] != want[i] {
			return i / bb
		}
	}
	return -1
}

// lbGGMLCase is one type's set of reference vectors.
type lbGGMLCase struct {
	typ          gguf.Type
	d16          int    // offset of an fp16 scale to keep finite in random blocks, or -1
	blockIn      string // one block (the first random dequant block), hex
	blockOut     string // its to_float output, hex float32 LE; "" to skip
	bulkDeqSHA   string // to_float of lbBulkBlocks random blocks
	bulkQuantSHA string // from_float_ref of lbRandomFloats(lbBulkBlocks)
	edgeQuant    string // from_float_ref of lbEdgeFloats, hex
	edgeDeqIn    func() []byte
	edgeDeqSHA   string // to_float of edgeDeqIn
}

func lbCheckGGML(t *testing.T, c lbGGMLCase) {
	tr := lbLookup(t, c.typ)
	if tr.DequantizeRow == nil || tr.QuantizeRow == nil || tr.Imatrix != ImatrixIgnored {
		t.Fatalf("%s: traits %+v", tr.Name, tr)
	}
	bulk := lbRandomBlocks(c.typ, lbBulkBlocks, c.d16)
	if got := hex.EncodeToString(bulk[:tr.BlockBytes]); got != c.blockIn {
		t.Fatalf("%s: random stream differs from the generator's: first block %s, want %s", tr.Name, got, c.blockIn)
	}
	if c.blockOut != "" {
		want := lbFloatsFromHex(t, c.blockOut)
		got := lbDequant(t, c.typ, bulk[:tr.BlockBytes])
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: block 0 element %d = %g (%08x), ggml %g (%08x)", tr.Name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
	if got := lbSHA(lbFloatBytes(lbDequant(t, c.typ, bulk))); got != c.bulkDeqSHA {
		t.Errorf("%s: dequantized random blocks: sha256 %s, ggml %s", tr.Name, got, c.bulkDeqSHA)
	}
	if got := lbSHA(lbFloatBytes(lbDequant(t, c.typ, c.edgeDeqIn()))); got != c.edgeDeqSHA {
		t.Errorf("%s: dequantized edge blocks: sha256 %s, ggml %s", tr.Name, got, c.edgeDeqSHA)
	}
	if got := lbSHA(lbQuant(t, c.typ, lbRandomFloats(c.typ, lbBulkBlocks))); got != c.bulkQuantSHA {
		t.Errorf("%s: quantized random blocks: sha256 %s, ggml %s", tr.Name, got, c.bulkQuantSHA)
	}
	want := lbHex(t, c.edgeQuant)
	if got := lbQuant(t, c.typ, lbEdgeFloats()); string(got) != string(want) {
		b := lbFirstDiff(got, want, tr.BlockBytes)
		t.Errorf("%s: quantized edge blocks differ from ggml from block %d:\n got %x\nwant %x", tr.Name, b,
			got[b*tr.BlockBytes:(b+1)*tr.BlockBytes], want[b*tr.BlockBytes:(b+1)*tr.BlockBytes])
	}
}

func TestMXFP4GGML(t *testing.T) {
	lbCheckGGML(t, lbGGMLCase{
		typ: gguf.TypeMXFP4, d16: -1,
		blockIn: "a76afc2a4665d09de4f77da7129fc8ffe3",
		blockOut: "000080d3000000d4000080d3000080540000405400000000000040d4000000540000c054000040d40000c054000080530000c0d4000000000000c0d40000c053" +
			"000080540000c0d4000080530000005400008054000040d4000000d3000080d40000c0d40000c054000080d300000053000000d3000000d40000c0d4000080d4",
		bulkDeqSHA:   "496c5f1eb3f9850d0aa84c77f01bef68f1189ba8fe15193ed9652d0df4e03327",
		bulkQuantSHA: "26fbdfab7877e3e0bc33a6f3c58f03f419dcca7d06e823c0fbc430c668fad313",
		edgeQuant: "7c3777eefcc76f7f6f414efeaee45a7ff691ee9e24554b961946ae56c2c6c900c55b95ccc6613eee2e6c94d39a5b2b0d" +
			"9e9624fd9a45b1029d555409ddd2c5d3b1bdd9d5ff00000000000000000000000000000000e800000000000000000000" +
			"000000000000fe0000000000000000000000000000000000000000000000000000000000000000007d2c5d60ed4a6d3b" +
			"5365d2ac555c215d9d000000000000000000000000000000000000000000000000000000000000000000007d55ab3d6c" +
			"59d50d9fe435de6ded4734603b5be5dc3d69a5449b5cb0d5292144d99919d6d0eb5d55c6ddbc5dc25965e36c064104c2" +
			"6dd60c653252d9560b2e94dd31b15d83269d0ecb7397730231f7759075c442607f77fe5e1a7b60e47e5ee63a70cf6e56" +
			"617755aec67e0576fc7f5706d11fd2f7764c88b5631eead5eddcdadea6640c443f73dc885eade4063e976fc06316ee6a" +
			"eea31c5a792197a373f36465e5675477c7e7ee2d5c75c5a1747fad535741e6ecce76eee34de674ecd2d4a9ee0dc711c9" +
			"7c77f66e04d64e7ed04654200ec5a0a0daa6e9054505cca5",
		// e = 0, 1, 2 (subnormal scales), 127, 254, 255 with every code in both nibbles
		edgeDeqIn: func() []byte {
			var q []byte
			for _, e := range []byte{0, 1, 2, 127, 254, 255} {
				q = append(q, e)
				for j := 0; j < 16; j++ {
					q = append(q, byte(j<<4|(15-j)))
				}
			}
			return q
		},
		edgeDeqSHA: "32b0d05e6ae81ee5475c53cb6ccb87f70307687907bdd5f5c1a4871763dd7c16",
	})
}

func TestNVFP4GGML(t *testing.T) {
	lbCheckGGML(t, lbGGMLCase{
		typ: gguf.TypeNVFP4, d16: -1,
		blockIn: "a44857d6d5fd7a66bc2e03781450bf9698541056af24c64521b7a5a3f357c7f9c567d5c4",
		blockOut: "0000103f000010bf000040be0000403f0000c0be000040bf0000903e00000000000010bf000090bf0000903f0000403f000090be0000403e000000000000903f" +
			"00000041000000000000c0c1000080410000000000000041000000000000804100000040000040410000c0c0000000c0000000c00000404100000040000040410000b4c2" +
			"0000f04100007042000034420000f0400000b442000034420000b441000070c1000070410000f0c10000f041000070410000b4c1000070c1000070c10000a8410000a842" +
			"0000a8420000e0c0000028420000a842000028420000e0410000a8c2000028420000e0c10000a8c20000e0c100006042000028c20000e0c1",
		bulkDeqSHA:   "48c64f3b2210ea3b5b84b2b4c20edb03157e90987de3f8686f870b6c22a29a71",
		bulkQuantSHA: "d372b64915417ddf094067d0fd1fe8a885df82ee7b882c87aa0ce12bd9dadf20",
		edgeQuant: "23217e7e17d6dddb36afef5e4347fdafec5676e6ff7f7777ff777ff7ff7ff7f7f77ff7777e7e7e7e7ff7f7ffffff7f77" +
			"ffff7777fff7f77f00000000000000000000000000000000000000000000000000000000000000000000000000000000" +
			"00000000000000000000000000007e7e0000000000000000000000000000000000000000000000000000000000000000" +
			"212300007d4ed07fec2ffcf473e6b76f653764a600000000000000000000000000000000000028250000000000000000" +
			"0000000000000000455beddcd9754d0ff64bd467f64e4079000000000000000000000000000000000000000000000000" +
			"0000000000000000000000000000585800000000000000000000000000000000167d5e0b5347230232f9709c77c94760" +
			"37390202e76eae0afbe0641e57ef2571b7665e67756e16fe25766ccf550adc17d0f77f477e7e7e7ef5745eca45fd3dca" +
			"dca7721e4e3f7edd3f7de5a6ef37cfa0661aff60e4b9176d080700017147737373e4d5c562597bc7efe6366e00000000" +
			"00000000cac9a555c9c323c200002b2a00000000000000000000000000000000b07796606f66d960efc5f603610eebbb",
		// every scale byte once (block b, sub-block s: 4b+s), every code in both nibbles
		edgeDeqIn: func() []byte {
			q := make([]byte, 64*nvfp4Bytes)
			for b := 0; b < 64; b++ {
				for s := 0; s < 4; s++ {
					q[b*nvfp4Bytes+s] = byte(4*b + s)
				}
				for j := 0; j < 32; j++ {
					k := (j + b) % 16
					q[b*nvfp4Bytes+4+j] = byte(k<<4 | (15 - k))
				}
			}
			return q
		},
		edgeDeqSHA: "c42c7a2668130df3eeb5c761a019fe3a9df81d16f793c7ca9d3d11a781748472",
	})
}

// The FP4 tables and scale codecs against the format definitions,
// computed independently in float64.
func TestFP4Formats(t *testing.T) {
	for c := 0; c < 16; c++ { // E2M1: sign, 2-bit exponent (bias 1), 1-bit mantissa
		e, m := c>>1&3, float64(c&1)
		v := m * 0.5
		if e > 0 {
			v = (1 + m/2) * math.Ldexp(1, e-1)
		}
		if c&8 != 0 {
			v = -v
		}
		if float64(fp4Values[c]) != 2*v {
			t.Errorf("fp4Values[%d] = %d, want 2·%g", c, fp4Values[c], v)
		}
	}
	for e := 0; e < 256; e++ {
		if got, want := e8m0Half(uint8(e)), float32(math.Ldexp(1, e-128)); got != want {
			t.Errorf("e8m0Half(%d) = %g, want %g", e, got, want)
		}
	}
	ue4m3 := func(c int) float64 { // unsigned E4M3, bias 7; 0x7F is NaN in E4M3, 0 in ggml; bit 7 ignored otherwise
		if c == 0x7F {
			return 0
		}
		exp, man := c>>3&15, float64(c&7)
		if exp == 0 {
			return man * math.Ldexp(1, -9)
		}
		return (1 + man/8) * math.Ldexp(1, exp-7)
	}
	for c := 0; c < 256; c++ {
		if got, want := ue4m3Half[c], float32(ue4m3(c)/2); got != want {
			t.Errorf("ue4m3Half[%#x] = %g, want %g", c, got, want)
		}
		if c >= 1 && c <= 0x7E {
			want := uint8(c)
			if c >= 0x78 {
				want = 0x7E // ggml: exponent field 15 (256..416) saturates to 448
			}
			if got := fp32ToUE4M3(2 * ue4m3Half[c]); got != want {
				t.Errorf("fp32ToUE4M3(%g) = %#x, want %#x", 2*ue4m3Half[c], got, want)
			}
		}
	}
	for _, tc := range []struct {
		x    float32
		want uint8
	}{
		{0, 0}, {-1, 0}, {float32(math.NaN()), 0}, {float32(math.Inf(1)), 0x7E}, {448, 0x7E}, {1e30, 0x7E},
		{0x1p-10, 1},        // x·512 + 0.5 = 1: the smallest subnormal
		{0x1p-10 * 0.99, 0}, // below half of it
		{1.0625, 0x39},      // mantissa tie 1+1/16 rounds up to 1+1/8
		{464, 0x7E},         // clamped, not rounded up to the next binade
		{248, 0x7E},         // ggml quirk: any x that rounds to 256 or more gives 448
		{0x1.fp-7, 0x07},    // ggml quirk: just below 2^-6 the subnormal code saturates at 7·2^-9
	} {
		if got := fp32ToUE4M3(tc.x); got != tc.want {
			t.Errorf("fp32ToUE4M3(%g) = %#x, want %#x", tc.x, got, tc.want)
		}
	}
	// Outside those two ranges the encoder picks a nearest code (ties away
	// from zero).
	r := lbRng(11)
	for n := 0; n < 20000; n++ {
		x := float32(math.Ldexp(1+float64(r.next()>>11)*0x1p-53, int(r.next()>>32%25)-16))
		if x >= 248 || x < 0x1p-6 && x*512+0.5 >= 8 {
			continue
		}
		got := float64(2 * ue4m3Half[fp32ToUE4M3(x)])
		for c := 0; c <= 0x7E; c++ {
			if alt := ue4m3(c); math.Abs(alt-float64(x)) < math.Abs(got-float64(x)) {
				t.Fatalf("fp32ToUE4M3(%g) decodes to %g, but %#x (%g) is nearer", x, got, c, alt)
			}
		}
	}
}

// Blocks whose largest code is ±6 (E2M1) under a normal scale requantize
// to themselves: the scale rule recovers the scale and every value is on
// the grid (the code for -0 becomes +0's).
func TestFP4Requantize(t *testing.T) {
	r := lbRng(5)
	codes := func(q []byte) {
		for i := range q {
			q[i] = r.byte()
			if q[i]&0xF == 8 {
				q[i] &^= 0xF
			}
			if q[i]>>4 == 8 {
				q[i] &= 0xF
			}
		}
		q[r.next()>>32%uint64(len(q))] |= 0x70 // some |code| is 6 (7 or 15 in the high nibble)
	}
	for n := 0; n < 2000; n++ {
		blk := make([]byte, mxfp4Bytes)
		blk[0] = byte(3 + r.next()>>32%248) // 2^(e-128)·12 stays finite and normal
		codes(blk[1:])
		if again := lbQuant(t, gguf.TypeMXFP4, lbDequant(t, gguf.TypeMXFP4, blk)); string(again) != string(blk) {
			t.Fatalf("MXFP4: requantizing %x gave %x", blk, again)
		}
		blk = make([]byte, nvfp4Bytes)
		for s := 0; s < nvfp4NSub; s++ {
			blk[s] = byte(1 + r.next()>>32%0x77) // 0x78..0x7E re-encode as 0x7E in ggml
			codes(blk[nvfp4NSub+8*s : nvfp4NSub+8*s+8])
		}
		if again := lbQuant(t, gguf.TypeNVFP4, lbDequant(t, gguf.TypeNVFP4, blk)); string(again) != string(blk) {
			t.Fatalf("NVFP4: requantizing %x gave %x", blk, again)
		}
	}
}
