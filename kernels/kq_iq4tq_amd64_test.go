//go:build !purego

package kernels

import (
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
)

// The IQ4_XS, TQ1_0 and TQ2_0 kernels of _asmkq (row kernels at AVX2 and
// AVX-512, whole-task kernels at AVX-512), checked against the Go tier on
// edge shapes and extreme blocks. TestMatMul and TestKQuantTiersAgree
// cover them too; these tests add what those do not reach.

var iq4tqTypes = []gguf.Type{gguf.TypeIQ4_XS, gguf.TypeTQ1_0, gguf.TypeTQ2_0}

// randomKQBlocks returns n rows of k values of typ with arbitrary bytes
// (every code, including TQ2_0's code 3 and TQ1_0 bytes above 242) and
// finite fp16 scales of magnitude about scale.
func randomKQBlocks(rng *rand.Rand, typ gguf.Type, n, k int, scale float64) []byte {
	bb := typ.BlockBytes()
	data := make([]byte, n*k/256*bb)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for i := 0; i < len(data); i += bb {
		for _, o := range kqFP16Offsets[typ] {
			h := fp32ToFP16(float32(rng.NormFloat64() * scale))
			data[i+o], data[i+o+1] = byte(h), byte(h>>8)
		}
	}
	return data
}

// absDots returns Σ_k |x[b][k]·W[n][k]| over the dequantized weights, the
// denominator of the relative tier checks.
func absDots(m *Matrix, x []float32, batch int) []float64 {
	N, K := m.Rows, m.Cols
	deq := make([]float32, N*K)
	typeInfos()[m.Type].toFloat(deq, m.Data)
	den := make([]float64, batch*N)
	for b := range batch {
		for n := range N {
			var s float64
			for c, v := range deq[n*K : (n+1)*K] {
				s += math.Abs(float64(v) * float64(x[b*K+c]))
			}
			den[b*N+n] = s
		}
	}
	return den
}

// checkTiersAgainstGo runs m at every tier above Go and requires each
// output within tierAgree of the Go tier's, relative to Σ|x·w|.
func checkTiersAgainstGo(t *testing.T, name string, m *Matrix, x []float32, batch int) {
	t.Helper()
	want := callGuarded(t, x, batch, m, Options{Tier: TierGo, Threads: 1})
	den := absDots(m, x, batch)
	for _, tier := range Tiers()[1:] {
		for _, threads := range []int{1, 2} {
			got := callGuarded(t, x, batch, m, Options{Tier: tier, Threads: threads})
			for i := range got {
				if e := errOf(float64(got[i]), float64(want[i]), den[i]); e > tierAgree || math.IsNaN(float64(got[i])) {
					t.Fatalf("%s %dx%d batch %d tier %s threads %d: y[%d] = %g, go tier %g (%.3g apart)",
						name, m.Rows, m.Cols, batch, tier, threads, i, got[i], want[i], e)
				}
			}
		}
	}
}

// TestKQAVX2KernelsUseVEXRegisters checks that the generated AVX2
// K-quant functions use only registers a VEX encoding can name (as
// TestAVX2KernelsUseVEXRegisters does for zkernels_amd64.s): X16-X31,
// Y16-Y31, Z or K registers would make the assembler emit AVX-512
// instructions, which fault on AVX2-only CPUs.
func TestKQAVX2KernelsUseVEXRegisters(t *testing.T) {
	src, err := os.ReadFile("zkq_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	bad := regexp.MustCompile(`\b([XY](1[6-9]|2[0-9]|3[01])|Z[0-9]+|K[0-7])\b`)
	fn, n := "", 0
	for i, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, "TEXT ") {
			fn = line
			if strings.Contains(fn, "avx2") {
				n++
			}
			continue
		}
		if strings.Contains(fn, "avx2") && bad.MatchString(line) {
			t.Errorf("zkq_amd64.s:%d: %s uses %q", i+1, strings.Fields(fn)[1], bad.FindString(line))
		}
	}
	if n == 0 {
		t.Fatal("no AVX2 functions found")
	}
}

// TestIQ4TQDispatch checks that the new kernels are registered: row
// kernels and task kernels at AVX2 and AVX-512.
func TestIQ4TQDispatch(t *testing.T) {
	for _, typ := range iq4tqTypes {
		for _, tier := range Tiers()[1:] {
			if table[tier][typ].quant == nil {
				t.Errorf("tier %s type %s: no quantized kernel", tier, typ)
			}
		}
		for _, tier := range Tiers()[1:] {
			if rowKernels[tier][typ] == nil {
				t.Errorf("tier %s type %s: no task kernel", tier, typ)
			}
		}
	}
}

// TestIQ4TQEdgeShapes: one super-block per row and a few more, row counts
// that are not multiples of the task kernels' 4 (and more than one
// 64-row task), every batch size 1..17.
func TestIQ4TQEdgeShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, typ := range iq4tqTypes {
		for _, k := range []int{256, 768} {
			for _, n := range []int{1, 2, 3, 5, 7, 13, 67, 130} {
				m := &Matrix{Type: typ, Rows: n, Cols: k, Data: randomKQBlocks(rng, typ, n, k, 0.01)}
				for batch := 1; batch <= 17; batch++ {
					if n*k*batch > 300_000 && batch%4 != 1 {
						continue // keep the big shapes to a few batch sizes
					}
					x := make([]float32, batch*k)
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
					checkTiersAgainstGo(t, typ.String(), m, x, batch)
				}
			}
		}
	}
}

// extremeBlocks builds rows of typ whose blocks hit the integer limits:
// IQ4_XS with every code at -127 (or +113) and scales -32 (or +31), TQ1_0
// and TQ2_0 with every weight +1 or -1 (and TQ2_0's code 3, +2), scales
// at the fp16 extremes (largest, smallest subnormal, zero).
func extremeBlocks(typ gguf.Type, k int) (rows [][]byte, names []string) {
	nb := k / 256
	bb := typ.BlockBytes()
	put := func(b []byte, off int, h uint16) { b[off], b[off+1] = byte(h), byte(h>>8) }
	for _, d := range []uint16{0x3c00, 0x7bff, 0x0001, 0x0000, 0xfbff} { // 1, 65504, 2^-24, 0, -65504
		switch typ {
		case gguf.TypeIQ4_XS:
			for _, c := range []struct {
				name     string
				qs       byte
				sl       byte
				sh       uint16
				alternat bool
			}{
				{"min-codes,min-scales", 0x00, 0x00, 0x0000, false}, // q = -127, ls = -32
				{"max-codes,max-scales", 0xff, 0xff, 0xffff, false}, // q = 113, ls = 31
				{"min-codes,max-scales", 0x00, 0xff, 0xffff, false},
				{"mixed", 0xf0, 0x0f, 0x5555, true},
			} {
				row := make([]byte, nb*bb)
				for i := range nb {
					b := row[i*bb : (i+1)*bb]
					put(b, 0, d)
					put(b, 2, c.sh)
					for j := 4; j < 8; j++ {
						b[j] = c.sl
					}
					for j := 8; j < bb; j++ {
						b[j] = c.qs
						if c.alternat && j%3 == 0 {
							b[j] = 0x0f
						}
					}
				}
				rows, names = append(rows, row), append(names, c.name)
			}
		case gguf.TypeTQ1_0:
			// 242 = 22222 in base 3 scaled up: ceil(242·256/243) = 255
			// decodes to all +1; 0 to all -1; 0xff and 0xf3 (above 242)
			// as the Go tier reads them.
			for _, c := range []struct {
				name string
				v    byte
			}{{"all+1", 255}, {"all-1", 0}, {"0xf3", 0xf3}, {"0x80", 0x80}} {
				row := make([]byte, nb*bb)
				for i := range nb {
					b := row[i*bb : (i+1)*bb]
					for j := range 52 {
						b[j] = c.v
					}
					put(b, 52, d)
				}
				rows, names = append(rows, row), append(names, c.name)
			}
		case gguf.TypeTQ2_0:
			for _, c := range []struct {
				name string
				v    byte
			}{{"all+1", 0xaa}, {"all-1", 0x00}, {"all+2", 0xff}, {"mixed", 0xe4}} {
				row := make([]byte, nb*bb)
				for i := range nb {
					b := row[i*bb : (i+1)*bb]
					for j := range 64 {
						b[j] = c.v
					}
					put(b, 64, d)
				}
				rows, names = append(rows, row), append(names, c.name)
			}
		}
	}
	return rows, names
}

// TestIQ4TQExtremes runs the extreme blocks against activations that
// quantize to ±127 everywhere (constant rows of either sign, alternating
// signs) and against random ones, and requires every tier to match the
// Go tier, whose integer sums are exact.
func TestIQ4TQExtremes(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	const k = 512
	for _, typ := range iq4tqTypes {
		rows, names := extremeBlocks(typ, k)
		data := make([]byte, 0, len(rows)*len(rows[0]))
		for _, r := range rows {
			data = append(data, r...)
		}
		m := &Matrix{Type: typ, Rows: len(rows), Cols: k, Data: data}
		const batch = 6
		x := make([]float32, batch*k)
		for i := range k {
			x[0*k+i] = 1
			x[1*k+i] = -1
			x[2*k+i] = float32(1 - 2*(i%2))
			x[3*k+i] = float32(1 - 2*(i/4%2))
			x[4*k+i] = float32(rng.NormFloat64())
			x[5*k+i] = float32(rng.NormFloat64() * 1e-3)
		}
		want := callGuarded(t, x, batch, m, Options{Tier: TierGo, Threads: 1})
		den := absDots(m, x, batch)
		for _, tier := range Tiers()[1:] {
			got := callGuarded(t, x, batch, m, Options{Tier: tier, Threads: 1})
			for i := range got {
				if math.IsInf(float64(want[i]), 0) {
					if got[i] != want[i] {
						t.Fatalf("%s %s tier %s act row %d: y = %g, go tier %g", typ, names[i%m.Rows], tier, i/m.Rows, got[i], want[i])
					}
					continue
				}
				if e := errOf(float64(got[i]), float64(want[i]), den[i]); e > tierAgree || math.IsNaN(float64(got[i])) {
					t.Fatalf("%s %s tier %s act row %d: y = %g, go tier %g (%.3g apart)", typ, names[i%m.Rows], tier, i/m.Rows, got[i], want[i], e)
				}
			}
		}
	}
}

// TestIQ4TQTaskKernels calls the task kernels (AVX-512: the whole-task
// assembly for one activation row; AVX2 and the other rows: the row
// kernels) directly on row ranges that start and end anywhere, with 1..8
// activation rows, and checks that they write exactly their outputs, with
// the Go tier's values.
func TestIQ4TQTaskKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	const n, k = 23, 768
	for _, c := range []struct {
		tier Tier
		typ  gguf.Type
	}{
		{TierAVX2, gguf.TypeIQ4_XS}, {TierAVX2, gguf.TypeTQ1_0}, {TierAVX2, gguf.TypeTQ2_0}, {TierAVX2, gguf.TypeQ4_K},
		{TierAVX512, gguf.TypeIQ4_XS}, {TierAVX512, gguf.TypeTQ1_0}, {TierAVX512, gguf.TypeTQ2_0},
	} {
		typ := c.typ
		if !c.tier.Available() {
			continue
		}
		rk := rowKernels[c.tier][typ]
		if rk == nil {
			t.Fatalf("%s tier %s: no task kernel", typ, c.tier)
		}
		m := &Matrix{Type: typ, Rows: n, Cols: k, Data: randomKQBlocks(rng, typ, n, k, 0.01)}
		rb := m.RowBytes()
		const batch = 9
		x := make([]float32, batch*k)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		a := quantizeActs(actQ8_K, x, batch, k)
		want := make([]float32, batch*n)
		goK := table[TierGo][typ].quant
		s := new(scratch)
		var out [1]float32
		for r := range batch {
			for i := range n {
				goK(out[:], m.Data[i*rb:(i+1)*rb], a, r, s)
				want[r*n+i] = out[0]
			}
		}
		den := absDots(m, x, batch)
		for _, span := range [][2]int{{0, 23}, {3, 4}, {3, 8}, {1, 22}, {5, 18}, {0, 1}, {22, 23}} {
			n0, n1 := span[0], span[1]
			for r0 := range batch {
				for nr := 1; nr <= min(rowsTile, batch-r0); nr++ {
					y := make([]float32, batch*n)
					for i := range y {
						y[i] = sentinel
					}
					rk(y, n, m.Data, rb, n0, n1, a, r0, nr)
					for i, v := range y {
						r, row := i/n, i%n
						inside := r >= r0 && r < r0+nr && row >= n0 && row < n1
						if !inside {
							if math.Float32bits(v) != math.Float32bits(sentinel) {
								t.Fatalf("%s %s rows %d..%d acts %d+%d: wrote y[%d]", typ, c.tier, n0, n1, r0, nr, i)
							}
							continue
						}
						if e := errOf(float64(v), float64(want[i]), den[i]); e > tierAgree || math.IsNaN(float64(v)) {
							t.Fatalf("%s %s rows %d..%d acts %d+%d: y[%d] = %g, go %g (%.3g apart)", typ, c.tier, n0, n1, r0, nr, i, v, want[i], e)
						}
					}
				}
			}
		}
	}
}

// BenchmarkIQ4TQKernel times the kernels on cache-resident data (64 rows of
// K = 4096): ns per super-block per activation row, for the row kernels
// with 1 and 4 activation rows and, where the tier has one, the task
// kernel (one activation row). Q4_K is there for comparison.
func BenchmarkIQ4TQKernel(b *testing.B) {
	const k, rows = 4096, 64
	for _, typ := range append([]gguf.Type{gguf.TypeQ4_K}, iq4tqTypes...) {
		rng := rand.New(rand.NewPCG(1, 2))
		data := randomKQBlocks(rng, typ, rows, k, 0.01)
		rb := k / 256 * typ.BlockBytes()
		for _, tier := range Tiers() {
			for _, nr := range []int{1, 4} {
				x := make([]float32, nr*k)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				a := quantizeActs(actQ8_K, x, nr, k)
				perBlock := func(b *testing.B) {
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows*k/256*nr), "ns/blockrow")
				}
				name := typ.String() + "/" + tier.String()
				if rk := rowKernels[tier][typ]; rk != nil && nr == 1 {
					b.Run(name+"/task", func(b *testing.B) {
						y := make([]float32, rows)
						for b.Loop() {
							rk(y, rows, data, rb, 0, rows, a, 0, 1)
						}
						perBlock(b)
					})
				}
				kq := table[tier][typ].quant
				if kq == nil {
					continue
				}
				b.Run(name+"/nr="+string(rune('0'+nr)), func(b *testing.B) {
					s := new(scratch)
					out := make([]float32, nr)
					for b.Loop() {
						for r := range rows {
							kq(out, data[r*rb:(r+1)*rb], a, 0, s)
						}
					}
					perBlock(b)
				})
			}
		}
	}
}
