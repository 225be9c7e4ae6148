package quantize

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/qconv/qconv/gguf"
)

// TestQkxBatchLayout checks the offsets the generated kernels use
// (_asm/main.go).
func TestQkxBatchLayout(t *testing.T) {
	var b qkxBatch
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"x", unsafe.Offsetof(b.x), 0},
		{"w", unsafe.Offsetof(b.w), 1024},
		{"l", unsafe.Offsetof(b.l), 2048},
		{"num", unsafe.Offsetof(b.num), 3072},
		{"scale", unsafe.Offsetof(b.scale), 3264},
		{"min", unsafe.Offsetof(b.min), 3296},
		{"st", unsafe.Offsetof(b.st), 3328},
		{"size", unsafe.Sizeof(b), 3328 + 10*32},
	} {
		if c.got != c.want {
			t.Errorf("qkxBatch.%s at %d, want %d", c.name, c.got, c.want)
		}
	}
}

// searchInputs generates super-blocks (256 values) and weights meant to
// stress the searches: ordinary data at many magnitudes, zeros, constants,
// subnormals, exact ties, huge ranges, one-sided data, signed zeros,
// infinities and NaNs, with ordinary, zero, tiny and huge weights.
func searchInputs(rng *rand.Rand, count int) (xs, ws [][]float32) {
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, 1e-40, 1.5, -2.5, 0.5,
		3.4e38, -3.4e38, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	for k := 0; k < count; k++ {
		x := make([]float32, qkK)
		w := make([]float32, qkK)
		scale := float32(math.Pow(10, float64(rng.IntN(80)-40)))
		kind := k % 12
		for i := range x {
			g := float32(rng.NormFloat64())
			switch kind {
			case 0, 1: // ordinary
				x[i] = g * scale
			case 2: // small integers and half-integers: exact ties
				x[i] = float32(rng.IntN(33)-16) / 2
			case 3: // subnormals
				x[i] = g * 1e-40
			case 4: // one-sided
				x[i] = float32(math.Abs(float64(g))) * scale
			case 5:
				x[i] = -float32(math.Abs(float64(g))) * scale
			case 6: // huge ranges
				x[i] = g * float32(math.Pow(10, float64(rng.IntN(70)-35)))
			case 7: // sparse, constant and zero sub-blocks
				switch (i / 16) % 4 {
				case 0:
					x[i] = 0
				case 1:
					x[i] = 0.25
				case 2:
					if rng.IntN(16) == 0 {
						x[i] = g
					}
				default:
					x[i] = g * scale
				}
			case 8: // special values sprinkled in
				x[i] = g
				if rng.IntN(8) == 0 {
					x[i] = special[rng.IntN(len(special))]
				}
			case 9: // offsets: all values far from zero
				x[i] = 1000 + g
			case 10: // near-constant
				x[i] = 1 + g*1e-6
			default: // fp16-like grid
				x[i] = float32(math.Round(float64(g)*64)) / 64
			}
			switch (k / 12) % 5 {
			case 0:
				w[i] = float32(math.Exp(rng.NormFloat64()))
			case 1:
				w[i] = 1
			case 2:
				if rng.IntN(3) > 0 {
					w[i] = float32(rng.Float64())
				}
			case 3:
				w[i] = float32(math.Exp(rng.NormFloat64() * 20))
			default:
				w[i] = float32(rng.IntN(4)) * 0.5
			}
		}
		xs, ws = append(xs, x), append(ws, w)
	}
	return xs, ws
}

// TestQkxSearchSIMD compares the SIMD searches with the scalar ones, bit
// for bit, on every parameter set the K-quants use.
func TestQkxSearchSIMD(t *testing.T) {
	if !qkxKernelFor(32, false) {
		t.Skip("no SIMD search on this machine or build")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	xs, ws := searchInputs(rng, 600)
	type cfg struct {
		n, nmax      int
		rmin, rdelta float32
		nstep        int
		qkx3, mad    bool
	}
	cfgs := []cfg{
		{32, 15, -1, 0.1, 20, false, false},   // Q4_K
		{32, 31, -0.5, 0.1, 15, false, false}, // Q5_K
		{32, 15, -0.9, 0.05, 36, true, false}, // Q4_K imatrix
		{32, 31, -0.9, 0.05, 36, true, false}, // Q5_K imatrix
		{16, 3, -0.5, 0.1, 15, false, true},   // Q2_K
		{16, 3, -0.9, 0.05, 36, true, false},  // Q2_K imatrix
		{32, 15, -1, 0.1, 0, false, false},    // no candidates
		{16, 7, -1, 0.1, 1, false, false},
		{16, 7, -1, 0.1, 2, true, true},
	}
	for _, c := range cfgs {
		if !qkxKernelFor(c.n, c.mad) {
			continue
		}
		for k := range xs {
			for off := 0; off+8*c.n <= qkK; off += 8 * c.n {
				var a, b qkxBatch
				a.loadX(xs[k][off:], c.n)
				b.loadX(xs[k][off:], c.n)
				for i := 0; i < c.n; i++ {
					for j := 0; j < 8; j++ {
						a.w[i][j] = ws[k][off+c.n*j+i]
						b.w[i][j] = a.w[i][j]
					}
				}
				a.search(c.n, c.nmax, c.rmin, c.rdelta, c.nstep, c.qkx3, c.mad)
				b.searchScalar(c.n, c.nmax, c.rmin, c.rdelta, c.nstep, c.qkx3, c.mad)
				for j := 0; j < 8; j++ {
					bad := math.Float32bits(a.scale[j]) != math.Float32bits(b.scale[j]) ||
						math.Float32bits(a.min[j]) != math.Float32bits(b.min[j])
					for i := 0; i < c.n; i++ {
						bad = bad || a.l[i][j] != b.l[i][j]
					}
					if bad {
						t.Fatalf("%+v input %d+%d sub-block %d: SIMD scale %g min %g, scalar %g %g",
							c, k, off, j, a.scale[j], a.min[j], b.scale[j], b.min[j])
					}
				}
				// The requantization too, with the scales found and
				// with zero, negative and odd scales mixed in.
				d, m := a.scale, a.min
				d[k%8], d[(k+3)%8] = 0, -d[(k+3)%8]
				m[(k+1)%8] = float32(math.Inf(1))
				a.requant(c.n, c.nmax, &d, &m)
				b.st = [10][8]float32{}
				for i := 0; i < c.n; i++ { // the scalar requantization
					for j := 0; j < 8; j++ {
						if d[j] != 0 {
							b.l[i][j] = clampInt32(nearestInt((b.x[i][j]+m[j])/d[j]), 0, int32(c.nmax))
						}
					}
				}
				if a.l != b.l {
					t.Fatalf("%+v input %d+%d: requantized codes differ", c, k, off)
				}
			}
		}
	}
}

// TestQxSearchSIMD compares the SIMD makeQxQuants search (Q6_K) and the
// requantization with a code offset with the scalar code, bit for bit.
func TestQxSearchSIMD(t *testing.T) {
	if !qxKernelFor(16) {
		t.Skip("no SIMD search on this machine or build")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	xs, ws := searchInputs(rng, 600)
	for k := range xs {
		for off := 0; off < qkK; off += 128 {
			var a, b qkxBatch
			a.loadX(xs[k][off:], 16)
			b.loadX(xs[k][off:], 16)
			for i := 0; i < 16; i++ {
				for j := 0; j < 8; j++ {
					w := ws[k][off+16*j+i]
					if k%3 == 0 {
						w = float32(a.x[i][j] * a.x[i][j])
					}
					a.w[i][j], b.w[i][j] = w, w
				}
			}
			a.qxSearch(16, 32)
			func() {
				simdSearch = false
				defer func() { simdSearch = true }()
				b.qxSearch(16, 32)
			}()
			for j := 0; j < 8; j++ {
				bad := math.Float32bits(a.scale[j]) != math.Float32bits(b.scale[j])
				for i := 0; i < 16; i++ {
					bad = bad || a.l[i][j] != b.l[i][j]
				}
				if bad {
					t.Fatalf("input %d+%d sub-block %d: SIMD scale %g, scalar %g", k, off, j, a.scale[j], b.scale[j])
				}
			}
			d, m := a.scale, [8]float32{}
			d[k%8] = 0
			a.requantRange(16, -32, 31, 32, &d, &m)
			func() {
				simdSearch = false
				defer func() { simdSearch = true }()
				b.requantRange(16, -32, 31, 32, &d, &m)
			}()
			if a.l != b.l {
				t.Fatalf("input %d+%d: requantized codes differ", k, off)
			}
		}
	}
}

// TestKQuantsSIMD quantizes whole rows with and without the SIMD searches
// and compares the bytes.
func TestKQuantsSIMD(t *testing.T) {
	if !simdSearch {
		t.Skip("no SIMD search on this machine or build")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	xs, ws := searchInputs(rng, 240)
	var src, im []float32
	for k := range xs {
		src = append(src, xs[k]...)
		im = append(im, ws[k]...)
	}
	for _, typ := range []gguf.Type{gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K} {
		tr, _ := Lookup(typ)
		for _, w := range [][]float32{nil, im} {
			got := make([]byte, tr.RowBytes(len(src)))
			want := make([]byte, len(got))
			tr.QuantizeRow(got, src, w)
			func() {
				simdSearch = false
				defer func() { simdSearch = true }()
				tr.QuantizeRow(want, src, w)
			}()
			if !bytes.Equal(got, want) {
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("%s (imatrix %v): byte %d (block %d) differs", tr.Name, w != nil, i, i/tr.BlockBytes)
						break
					}
				}
			}
		}
	}
}

// TestQ3KSearchSIMDAdversarial: the batched make_q3_quants of Q3_K (no
// imatrix) against the scalar one on the adversarial rows of opt_test.go
// (NaN payloads, infinities, subnormals, ties, constant rows).
func TestQ3KSearchSIMDAdversarial(t *testing.T) {
	if !simdSearch {
		t.Skip("no SIMD search on this machine or build")
	}
	tr, _ := Lookup(gguf.TypeQ3_K)
	for k, x := range adversarialRows(2048, 33) {
		got := make([]byte, tr.RowBytes(len(x)))
		want := make([]byte, len(got))
		tr.QuantizeRow(got, x, nil)
		func() {
			simdSearch = false
			defer func() { simdSearch = true }()
			tr.QuantizeRow(want, x, nil)
		}()
		if !bytes.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("row %d: byte %d (block %d) differs", k, i, i/tr.BlockBytes)
					break
				}
			}
		}
	}
}
