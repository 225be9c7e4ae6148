//go:build !purego

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/qconv/qconv/gguf"
)

// neonFP16Offsets lists the fp16 fields (d, m or dmin) of each NEON type's
// block.
var neonFP16Offsets = map[gguf.Type][]int{
	gguf.TypeQ8_0: {0}, gguf.TypeQ4_0: {0}, gguf.TypeQ4_1: {0, 2}, gguf.TypeQ5_0: {0}, gguf.TypeQ5_1: {0, 2},
	gguf.TypeIQ4_NL: {0}, gguf.TypeQ4_K: {0, 2}, gguf.TypeQ5_K: {0, 2}, gguf.TypeQ6_K: {208},
	gguf.TypeQ2_K: {80, 82}, gguf.TypeQ3_K: {108}, gguf.TypeIQ4_XS: {0},
}

// TestNEONDispatch reports what x/sys/cpu detects and checks that
// TierNEON is available exactly with Advanced SIMD, that it is the best
// tier, and that it runs the variant the CPU supports for every type it
// has kernels for.
func TestNEONDispatch(t *testing.T) {
	a := cpu.ARM64
	t.Logf("cpu.ARM64: HasASIMD %v HasASIMDDP %v HasASIMDHP %v HasI8MM %v; tiers %v, best %v, SDOT kernels %v",
		a.HasASIMD, a.HasASIMDDP, a.HasASIMDHP, a.HasI8MM, Tiers(), Best(), neonDotProduct)
	if TierNEON.Available() != a.HasASIMD {
		t.Fatalf("TierNEON available %v, HasASIMD %v", TierNEON.Available(), a.HasASIMD)
	}
	if !a.HasASIMD {
		t.Skip("no Advanced SIMD")
	}
	if Best() != TierNEON {
		t.Errorf("best tier %v, want neon", Best())
	}
	if neonDotProduct != a.HasASIMDDP {
		t.Errorf("SDOT kernels %v, HasASIMDDP %v", neonDotProduct, a.HasASIMDDP)
	}
	want := neonBase
	if a.HasASIMDDP {
		want = neonDot
	}
	ptr := func(f any) uintptr { return reflect.ValueOf(f).Pointer() }
	for typ, k := range want {
		got := pick(TierNEON, typ, ActQuantized)
		if ptr(got.quant) != ptr(k.row) {
			t.Errorf("%s: tier neon picked another quant kernel", typ)
		}
		rk, fk := pickRows(TierNEON, typ, got)
		if rk == nil || fk != nil || ptr(rk) != ptr(k.rows) {
			t.Errorf("%s: tier neon picked another task kernel", typ)
		}
		if ptr(pick(TierNEON, typ, ActQuantized).quant) == ptr(pick(TierGo, typ, ActQuantized).quant) {
			t.Errorf("%s: tier neon picked the Go kernel", typ)
		}
	}
	for typ, f := range neonFloats {
		got := pick(TierNEON, typ, ActQuantized)
		if got.quant != nil || ptr(got.float) != ptr(f.row) {
			t.Errorf("%s: tier neon picked another float kernel", typ)
		}
		if rk, fk := pickRows(TierNEON, typ, got); rk != nil || ptr(fk) != ptr(f.rows) {
			t.Errorf("%s: tier neon picked another float task kernel", typ)
		}
	}
}

// withNEONVariant runs f with the kernels of ks registered as TierNEON's.
func withNEONVariant(ks neonKernels, f func()) {
	var saveT [gguf.TypeCount]kernel
	var saveR [gguf.TypeCount]rowsKernel
	copy(saveT[:], table[TierNEON][:])
	copy(saveR[:], rowKernels[TierNEON][:])
	defer func() {
		copy(table[TierNEON][:], saveT[:])
		copy(rowKernels[TierNEON][:], saveR[:])
	}()
	ks.register(TierNEON)
	f()
}

// neonVariants returns the kernel sets this CPU can run, by name.
func neonVariants(t *testing.T) map[string]neonKernels {
	if !TierNEON.Available() {
		t.Skip("no NEON tier")
	}
	v := map[string]neonKernels{"neon": neonBase}
	if cpu.ARM64.HasASIMDDP {
		v["dot"] = neonDot
	} else {
		t.Log("no dot-product extension: SDOT kernels not tested")
	}
	return v
}

// randomBlocks returns n rows of k values of typ: arbitrary block bytes
// (every quant code and scale) with the fp16 fields kept finite.
func randomBlocks(rng *rand.Rand, typ gguf.Type, n, k int) []byte {
	bb := typ.BlockBytes()
	data := make([]byte, n*k/typ.BlockSize()*bb)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for i := 0; i < len(data); i += bb {
		for _, o := range neonFP16Offsets[typ] {
			h := fp32ToFP16(float32(rng.NormFloat64() * 0.01))
			data[i+o], data[i+o+1] = byte(h), byte(h>>8)
		}
	}
	return data
}

// TestNEONKernels runs every NEON kernel variant the CPU supports against
// the Go tier on random blocks: one block per row and a few (odd counts
// exercise the two-block loop's tail), row counts that are not multiples
// of anything (and cross a task's 64 rows), batch 1..17 (every tail of
// the 4-row activation tiles), 1 and 3 threads; the row kernel is called
// directly too.
func TestNEONKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for name, ks := range neonVariants(t) {
		withNEONVariant(ks, func() {
			for _, typ := range slices.Sorted(func(yield func(gguf.Type) bool) {
				for typ := range ks {
					if !yield(typ) {
						return
					}
				}
			}) {
				bs := typ.BlockSize()
				for _, nbk := range []int{1, 2, 3, 7} {
					if bs == 256 && nbk == 7 {
						nbk = 5
					}
					k := nbk * bs
					for _, n := range []int{1, 3, 67} {
						t.Run(fmt.Sprintf("%s/%s/k=%d/n=%d", name, typ, k, n), func(t *testing.T) {
							neonCheck(t, rng, typ, n, k)
						})
					}
				}
			}
		})
	}
}

func neonCheck(t *testing.T, rng *rand.Rand, typ gguf.Type, n, k int) {
	data := randomBlocks(rng, typ, n, k)
	m := &Matrix{Type: typ, Rows: n, Cols: k, Data: data}
	deq := make([]float32, n*k)
	typeInfos()[typ].toFloat(deq, data)
	for batch := 1; batch <= 17; batch++ {
		if n*k > 10000 && batch%4 != 1 && batch != 2 && batch != 17 {
			continue
		}
		x := make([]float32, batch*k)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
			if rng.IntN(64) == 0 {
				x[i] *= 50 // outliers: values near ±127 next to small ones
			}
		}
		den := make([]float64, batch*n)
		for b := range batch {
			for r := range n {
				for c, v := range deq[r*k : (r+1)*k] {
					den[b*n+r] += math.Abs(float64(v) * float64(x[b*k+c]))
				}
			}
		}
		want := callGuarded(t, x, batch, m, Options{Tier: TierGo, Threads: 1})
		for _, threads := range []int{1, 3} {
			got := callGuarded(t, x, batch, m, Options{Tier: TierNEON, Threads: threads})
			for i := range got {
				if e := errOf(float64(got[i]), float64(want[i]), den[i]); e > tierAgree || math.IsNaN(float64(got[i])) {
					t.Fatalf("batch %d threads %d: y[%d] = %g, go tier %g (%.3g apart)", batch, threads, i, got[i], want[i], e)
				}
			}
		}
		// The row kernel, as MatMul's fallback path would call it.
		if batch <= tileRows {
			a := quantizeActs(typeInfos()[typ].act, x, batch, k)
			rb := m.RowBytes()
			s := new(scratch)
			for r := range n {
				out := make([]float32, batch)
				wantRow := make([]float32, batch)
				pick(TierNEON, typ, ActQuantized).quant(out, data[r*rb:(r+1)*rb], a, 0, s)
				pick(TierGo, typ, ActQuantized).quant(wantRow, data[r*rb:(r+1)*rb], a, 0, s)
				for b := range batch {
					if e := errOf(float64(out[b]), float64(wantRow[b]), den[b*n+r]); e > tierAgree {
						t.Fatalf("row kernel, batch %d: row %d act %d = %g, go %g", batch, r, b, out[b], wantRow[b])
					}
				}
			}
		}
	}
}

// TestNEONFloat checks the float-weight kernels against the Go tier for K
// below, at and around the 16-value step (the remainder goes through Go),
// K split into chunks (4 rows of 2100 values), and batch 1..9.
func TestNEONFloat(t *testing.T) {
	if !TierNEON.Available() {
		t.Skip("no NEON tier")
	}
	rng := rand.New(rand.NewPCG(23, 24))
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16} {
		for _, k := range []int{1, 7, 16, 17, 33, 300, 2100} {
			for _, n := range []int{1, 5, 67} {
				if k*n > 30000 {
					n = 5
				}
				size := typ.BlockBytes()
				data := make([]byte, n*k*size)
				for i := range n * k {
					v := float32(rng.NormFloat64())
					switch typ {
					case gguf.TypeF32:
						b := math.Float32bits(v)
						data[4*i], data[4*i+1], data[4*i+2], data[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
					case gguf.TypeF16:
						h := fp32ToFP16(v)
						data[2*i], data[2*i+1] = byte(h), byte(h>>8)
					case gguf.TypeBF16:
						b := math.Float32bits(v) >> 16
						data[2*i], data[2*i+1] = byte(b), byte(b>>8)
					}
				}
				m := &Matrix{Type: typ, Rows: n, Cols: k, Data: data}
				deq := make([]float32, n*k)
				typeInfos()[typ].toFloat(deq, data)
				for _, batch := range []int{1, 2, 3, 4, 5, 9} {
					x := make([]float32, batch*k)
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
					want := callGuarded(t, x, batch, m, Options{Tier: TierGo, Threads: 1})
					got := callGuarded(t, x, batch, m, Options{Tier: TierNEON, Threads: 2})
					for i := range got {
						b, r := i/n, i%n
						var den float64
						for c, v := range deq[r*k : (r+1)*k] {
							den += math.Abs(float64(v) * float64(x[b*k+c]))
						}
						if e := errOf(float64(got[i]), float64(want[i]), den); e > tierAgree {
							t.Fatalf("%s k %d n %d batch %d: y[%d] = %g, go tier %g (%.3g apart)", typ, k, n, batch, i, got[i], want[i], e)
						}
					}
				}
			}
		}
	}
}
