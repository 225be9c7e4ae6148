package quantize

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qconv/qconv/gguf"
)

// TestQ8_1KnownBlock checks Q8_1 against a hand-computed block: amax 63.5
// gives d = 0.5 exactly (id = 2), roundf rounds halfway cases away from
// zero (1.25·2 = 2.5 → 3, -0.25·2 = -0.5 → -1), and s = d·Σq = 0.5·128.
func TestQ8_1KnownBlock(t *testing.T) {
	x := make([]float32, 32)
	x[0], x[1], x[2], x[3], x[4] = 63.5, 1.25, -1.25, 0.75, -0.25
	x[31] = -0.2 // -0.4 → 0
	dst := make([]byte, 36)
	if err := Quantize(gguf.TypeQ8_1, dst, x, 32, nil); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 36)
	binary.LittleEndian.PutUint16(want[0:], 0x3800) // d = 0.5
	binary.LittleEndian.PutUint16(want[2:], 0x5400) // s = 64
	for i, q := range []int8{127, 3, -3, 2, -1} {
		want[4+i] = uint8(q)
	}
	if !bytes.Equal(dst, want) {
		t.Fatalf("q8_1 block\n got  %x\n want %x", dst, want)
	}
	y := make([]float32, 32)
	if err := Dequantize(gguf.TypeQ8_1, y, dst); err != nil {
		t.Fatal(err)
	}
	for i, w := range []float32{63.5, 1.5, -1.5, 1, -0.5} {
		if y[i] != w {
			t.Errorf("dequantized[%d] = %g, want %g", i, y[i], w)
		}
	}

	// s is rounded once, from float32(Σq)·d: amax 1 gives d = 1/127 and
	// q = 127 for x = 1, so s = 127·fl(1/127), whose fp16 is 0x3c00.
	clear(x)
	x[0] = 1
	if err := Quantize(gguf.TypeQ8_1, dst, x, 32, nil); err != nil {
		t.Fatal(err)
	}
	if d, s := binary.LittleEndian.Uint16(dst), binary.LittleEndian.Uint16(dst[2:]); d != fp32ToFP16(float32(1)/127) || s != 0x3c00 {
		t.Errorf("d, s = %#04x, %#04x; want %#04x, 0x3c00", d, s, fp32ToFP16(float32(1)/127))
	}
}

// TestQ8_1MatchesQ8_0 checks that Q8_1's d and qs are Q8_0's.
func TestQ8_1MatchesQ8_0(t *testing.T) {
	x := gaussRow(4096, 3)
	a := make([]byte, 4096/32*34)
	b := make([]byte, 4096/32*36)
	quantizeRowQ8_0(a, x, nil)
	quantizeRowQ8_1(b, x, nil)
	for i := 0; i < 4096/32; i++ {
		qa, qb := a[i*34:(i+1)*34], b[i*36:(i+1)*36]
		if !bytes.Equal(qa[:2], qb[:2]) || !bytes.Equal(qa[2:], qb[4:]) {
			t.Fatalf("block %d: q8_0 %x, q8_1 %x", i, qa, qb)
		}
		// s = fp16(float32(Σq) · d) with the unrounded float32 d = amax/127.
		var sum int32
		for _, q := range qb[4:] {
			sum += int32(int8(q))
		}
		var amax float32
		for _, v := range x[i*32 : (i+1)*32] {
			amax = max(amax, abs32(v))
		}
		if s, want := binary.LittleEndian.Uint16(qb[2:]), fp32ToFP16(float32(sum)*(amax/127)); s != want {
			t.Fatalf("block %d: s = %#04x, want %#04x", i, s, want)
		}
	}
}

// TestLegacyHandBlocks pins the rounding rules of the legacy reference
// quantizers on small hand-made blocks.
func TestLegacyHandBlocks(t *testing.T) {
	// Q4_0: max = -8 (largest magnitude, negative) gives d = 1, id = 1, and
	// q = min(15, trunc(x + 8.5)): 0.5 → 9 (half rounds up by truncation),
	// -0.5 → 8, 7.9 → 15 (clamped from 16), -8 → 0.
	x := make([]float32, 32)
	x[0], x[1], x[2], x[3] = -8, 0.5, -0.5, 7.9
	dst := make([]byte, 18)
	quantizeRowQ4_0(dst, x, nil)
	if d := binary.LittleEndian.Uint16(dst); d != 0x3c00 {
		t.Errorf("q4_0 d = %#04x, want 0x3c00", d)
	}
	for j, want := range []uint8{0, 9, 8, 15} {
		if got := dst[2+j] & 0xf; got != want {
			t.Errorf("q4_0 code %d = %d, want %d", j, got, want)
		}
	}
	if got := dst[2+4]; got != 0x88 {
		t.Errorf("q4_0 zero pair = %#02x, want 0x88", got)
	}

	// Q8_0 uses roundf: 63.5 → d = 0.5; 0.25·2 = 0.5 → 1 and -0.75·2 = -1.5 → -2.
	clear(x)
	x[0], x[1], x[2] = 63.5, 0.25, -0.75
	q8 := make([]byte, 34)
	quantizeRowQ8_0(q8, x, nil)
	if got := []int8{int8(q8[2]), int8(q8[3]), int8(q8[4])}; got[0] != 127 || got[1] != 1 || got[2] != -2 {
		t.Errorf("q8_0 codes %v, want [127 1 -2]", got)
	}

	// Q4_1: min -1, max 2 → d = 0.2, m = -1; 0 → trunc(5+0.5) = 5.
	clear(x)
	x[0], x[1] = -1, 2
	q41 := make([]byte, 20)
	quantizeRowQ4_1(q41, x, nil)
	if d, m := binary.LittleEndian.Uint16(q41), binary.LittleEndian.Uint16(q41[2:]); d != fp32ToFP16(0.2) || m != 0xbc00 {
		t.Errorf("q4_1 d, m = %#04x, %#04x", d, m)
	}
	if q41[4] != 0x50 || q41[5] != 0x5f || q41[6] != 0x55 {
		t.Errorf("q4_1 code bytes %x, want 505f55 (elements 0-2 low, 16-18 high)", q41[4:7])
	}
}

// TestDegenerateBlocks: zero and subnormal blocks must give zero (finite)
// scales and dequantize to zeros, for every type of this file set.
func TestDegenerateBlocks(t *testing.T) {
	for _, typ := range myTypes {
		tr, _ := Lookup(typ)
		n := 512
		for _, scale := range []float32{0, 1e-40, 1e-30} {
			x := gaussRow(n, 9)
			for i := range x {
				x[i] *= scale
			}
			for _, im := range [][]float32{nil, onesRow(n)} {
				dst := make([]byte, tr.RowBytes(n))
				if err := Quantize(typ, dst, x, n, im); err != nil {
					t.Fatal(err)
				}
				y := make([]float32, n)
				if err := Dequantize(typ, y, dst); err != nil {
					t.Fatal(err)
				}
				for i, v := range y {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 1e-6 {
						t.Fatalf("%s scale %g imatrix %v: element %d dequantizes to %g", tr.Name, scale, im != nil, i, v)
					}
				}
			}
		}
	}
}

var myTypes = []gguf.Type{
	gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeQ8_0, gguf.TypeQ8_1,
	gguf.TypeIQ4_NL, gguf.TypeIQ4_XS, gguf.TypeTQ1_0, gguf.TypeTQ2_0,
}

func gaussRow(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func onesRow(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 1
	}
	return x
}

// TestRoundTripError bounds the relative RMSE of random N(0,1) rows, with
// and without a random importance vector. The bounds are the golden
// gauss1 figures (golden/case_stats.tsv) plus 15%.
func TestRoundTripError(t *testing.T) {
	bounds := map[gguf.Type]float64{
		gguf.TypeQ4_0: 0.099, gguf.TypeQ4_1: 0.090, gguf.TypeQ5_0: 0.049, gguf.TypeQ5_1: 0.044,
		gguf.TypeQ8_0: 0.0063, gguf.TypeQ8_1: 0.0063, gguf.TypeIQ4_NL: 0.091, gguf.TypeIQ4_XS: 0.090,
	}
	const n, rows = 4096, 4
	r := rand.New(rand.NewPCG(5, 6))
	im := make([]float32, n)
	for i := range im {
		im[i] = float32(math.Exp(r.NormFloat64()))
	}
	for typ, bound := range bounds {
		tr, _ := Lookup(typ)
		for _, imat := range [][]float32{nil, im} {
			x := gaussRow(n*rows, uint64(typ))
			dst := make([]byte, rows*tr.RowBytes(n))
			if err := Quantize(typ, dst, x, n, imat); err != nil {
				t.Fatal(err)
			}
			y := make([]float32, n*rows)
			if err := Dequantize(typ, y, dst); err != nil {
				t.Fatal(err)
			}
			var se, sx float64
			for i := range x {
				d := float64(x[i] - y[i])
				se += d * d
				sx += float64(x[i]) * float64(x[i])
			}
			rel := math.Sqrt(se / sx)
			b := bound
			if imat != nil && tr.Imatrix == ImatrixOptional {
				b *= 1.1 // the imatrix trades plain RMSE for weighted error
			}
			if rel > b {
				t.Errorf("%s (imatrix %v): relative RMSE %.4f > %.4f", tr.Name, imat != nil, rel, b)
			}
		}
	}
}

// TestBlockErrorBounds checks per-element error bounds of the reference
// (non-imatrix) legacy quantizers, block by block, on wide-range data.
func TestBlockErrorBounds(t *testing.T) {
	x := gaussRow(8192, 11)
	r := rand.New(rand.NewPCG(1, 2))
	for b := 0; b < len(x); b += 32 {
		s := float32(math.Pow(10, 6*r.Float64()-3))
		for j := b; j < b+32; j++ {
			x[j] *= s
		}
	}
	type bound func(amax, lo, hi float32) float32
	cases := map[gguf.Type]bound{
		// one step of d = amax/8 on the side opposite the extreme, plus
		// the fp16 rounding of d over 8 steps
		gguf.TypeQ4_0: func(a, _, _ float32) float32 { return a * (1.0/8 + 0.01) },
		gguf.TypeQ5_0: func(a, _, _ float32) float32 { return a * (1.0/16 + 0.01) },
		gguf.TypeQ8_0: func(a, _, _ float32) float32 { return a * (0.5/127 + 0.001) },
		gguf.TypeQ4_1: func(a, lo, hi float32) float32 { return (hi-lo)*(0.5/15+0.01) + a*0.001 },
		gguf.TypeQ5_1: func(a, lo, hi float32) float32 { return (hi-lo)*(0.5/31+0.01) + a*0.001 },
	}
	for typ, bf := range cases {
		tr, _ := Lookup(typ)
		dst := make([]byte, tr.RowBytes(len(x)))
		if err := Quantize(typ, dst, x, len(x), nil); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(x))
		if err := Dequantize(typ, y, dst); err != nil {
			t.Fatal(err)
		}
		for b := 0; b < len(x); b += 32 {
			xb := x[b : b+32]
			amax, _ := absMaxSigned(xb)
			lo, hi := minMax(xb)
			lim := bf(amax, lo, hi)
			for j, v := range xb {
				if e := abs32(v - y[b+j]); e > lim {
					t.Fatalf("%s block %d element %d: |%g - %g| = %g > %g", tr.Name, b/32, j, v, y[b+j], e, lim)
				}
			}
		}
	}
}

// TestImatrixUse: types that ignore the importance matrix give the same
// bytes with and without one; types that use it give different bytes for a
// strongly non-uniform one.
func TestImatrixUse(t *testing.T) {
	const n = 1024
	x := gaussRow(n, 21)
	im := onesRow(n)
	for i := 0; i < n; i += 7 {
		im[i] = 100
	}
	for _, typ := range myTypes {
		tr, _ := Lookup(typ)
		a := make([]byte, tr.RowBytes(n))
		b := make([]byte, tr.RowBytes(n))
		if err := Quantize(typ, a, x, n, nil); err != nil {
			t.Fatal(err)
		}
		if err := Quantize(typ, b, x, n, im); err != nil {
			t.Fatal(err)
		}
		switch tr.Imatrix {
		case ImatrixIgnored:
			if !bytes.Equal(a, b) {
				t.Errorf("%s ignores the imatrix but its output changed", tr.Name)
			}
		case ImatrixOptional:
			if bytes.Equal(a, b) {
				t.Errorf("%s uses the imatrix but its output did not change", tr.Name)
			}
		default:
			t.Errorf("%s: unexpected imatrix use %v", tr.Name, tr.Imatrix)
		}
	}
}

// TestGoldenFMASensitiveRowsBite makes sure the golden fma_sensitive rows
// really detect a fused multiply-add: quantizing the Q4_0 rows with
// x*id + 8.5 fused must disagree with ggml's bytes somewhere.
func TestGoldenFMASensitiveRowsBite(t *testing.T) {
	files := goldenFiles(t, "q4_0")
	var g *goldenFile
	for _, p := range files {
		if h := loadGolden(t, p); h.Variant == "ref" && h.Cols == 512 {
			g = h
		}
	}
	if g == nil {
		t.Fatal("no q4_0 ref 512-column golden file")
	}
	diff := 0
	for r := 48; r < 52; r++ { // the fma_sensitive rows of the 52x512 shape
		src := g.Input[r*g.Cols : (r+1)*g.Cols]
		for b := 0; b < g.Cols/32; b++ {
			x := src[b*32 : b*32+32]
			_, max := absMaxSigned(x)
			id := inverse(max / -8)
			want := g.Quant[r*g.Cols/32*18+b*18:][:18]
			for j := 0; j < 16; j++ {
				f0 := float32(math.FMA(float64(x[j]), float64(id), 8.5))
				f1 := float32(math.FMA(float64(x[j+16]), float64(id), 8.5))
				q := uint8(min(15, int8(cTrunc(f0)))) | uint8(min(15, int8(cTrunc(f1))))<<4
				if q != want[2+j] {
					diff++
				}
			}
		}
	}
	if diff == 0 {
		t.Fatal("a fused x*id+8.5 reproduces every fma_sensitive Q4_0 block: the golden rows do not test fusion")
	}
}

func benchInput(n int) []float32 { return gaussRow(n, 42) }

// BenchmarkQuantize quantizes one 4096-element row per iteration for every
// registered type; SetBytes is the f32 input size.
func BenchmarkQuantize(b *testing.B) {
	const n = 4096
	x := benchInput(n)
	for _, tr := range Registered() {
		if tr.QuantizeRow == nil || n%tr.BlockSize != 0 {
			continue
		}
		b.Run("type="+tr.Name, func(b *testing.B) {
			dst := make([]byte, tr.RowBytes(n))
			b.SetBytes(4 * n)
			b.ReportAllocs()
			for b.Loop() {
				tr.QuantizeRow(dst, x, nil)
			}
		})
	}
}

// BenchmarkDequantize expands one 4096-element row per iteration for every
// registered type; SetBytes is the quantized input size.
func BenchmarkDequantize(b *testing.B) {
	const n = 4096
	x := benchInput(n)
	for _, tr := range Registered() {
		if tr.DequantizeRow == nil || tr.QuantizeRow == nil || n%tr.BlockSize != 0 {
			continue
		}
		b.Run("type="+tr.Name, func(b *testing.B) {
			q := make([]byte, tr.RowBytes(n))
			tr.QuantizeRow(q, x, nil)
			y := make([]float32, n)
			b.SetBytes(int64(len(q)))
			b.ReportAllocs()
			for b.Loop() {
				tr.DequantizeRow(y, q)
			}
		})
	}
}
