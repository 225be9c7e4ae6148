package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/quantize"
)

// Error metrics, against the float64 reference ref = Σ_k x[b][k]·W[n][k]
// over the dequantized weights:
//
// Float activations (ActFloat, and the float weight types):
// e = |y − ref| / Σ_k |x[b][k]·W[n][k]| <= 1e-3 (measured: <= 2e-7).
//
// Quantized activations round each activation to 8 bits with a step of
// d = amax/127 per activation block (32 values for Q8_0/Q8_1, 256 for
// Q8_K), so the error is proportional to the weights times that block's
// amax, not to |x·w| (a sparse weight row meeting a small x_k would make
// the first metric unbounded). The metric is
// eq = |y − ref| / Σ_k |W[n][k]|·amax(x[b], block of k). Rounding alone
// gives eq <= 1/254 ≈ 0.0039, plus the fp16 rounding of d (Q8_0/Q8_1)
// and of s = d·Σq (Q8_1). quantBound is the bound per partner format,
// the analytic bound with a small margin; the worst eq measured (golden
// rows of every input case, shapes 52x512, 10x4096, odd row subsets and
// one-block rows, N(0,1) activations, batch 1..17, every tier, row-major
// and block-major in 16- and 4-row tiles; go1.26 amd64) is:
//
//	Q8_0 partner: q4_0 3.90e-3  q5_0 3.73e-3  q8_0 3.94e-3  iq4_nl 3.04e-3
//	Q8_1 partner: q4_1 3.92e-3  q5_1 3.94e-3
//	Q8_K partner: q2_K 2.18e-3  q3_K 2.87e-3  q4_K 1.99e-3  q5_K 2.73e-3
//	              q6_K 2.26e-3  iq4_xs 2.20e-3  tq1_0 3.41e-3  tq2_0 3.23e-3
//
// TestVecDotGolden separately shows that the quantized path matches
// ggml's own vec_dot (same activation rounding) to <= 6e-8 of ‖w‖·‖x‖.
var quantBound = map[actKind]float64{actQ8_0: 4.5e-3, actQ8_1: 4.5e-3, actQ8_K: 4.2e-3}

const floatBound = 1e-3

// tierAgree bounds |y_tier − y_go| / Σ|x·w|: the same integer block sums,
// only the float accumulation order differs.
const tierAgree = 1e-5

type testMatrix struct {
	name string
	m    *Matrix
	deq  []float32 // Rows × Cols reference weights
}

// goldenMatrices cuts test matrices from the golden files: whole files,
// row subsets (odd N) and one-block-wide slices (K = block size).
func goldenMatrices(t *testing.T) []testMatrix {
	var out []testMatrix
	for _, f := range goldenFiles(t) {
		if !strings.Contains(f, ".ref.") {
			continue
		}
		g := loadGolden(t, f)
		bs, bb := g.typ.BlockSize(), g.typ.BlockBytes()
		rb := g.cols / bs * bb
		base := strings.TrimSuffix(filepath.Base(f), ".qgld")
		out = append(out, testMatrix{base, &Matrix{Type: g.typ, Rows: g.rows, Cols: g.cols, Data: g.quant}, g.deq})
		if g.rows < 52 {
			continue
		}
		// Odd row counts from a mix of cases (rows 3.. cross case borders).
		for _, n := range []int{1, 5, 17} {
			r0 := 3
			out = append(out, testMatrix{fmt.Sprintf("%s/rows=%d", base, n),
				&Matrix{Type: g.typ, Rows: n, Cols: g.cols, Data: g.quant[r0*rb : (r0+n)*rb]},
				g.deq[r0*g.cols : (r0+n)*g.cols]})
		}
		// One block per row: block 1 of every row.
		var data []byte
		var deq []float32
		for r := range g.rows {
			data = append(data, g.quant[r*rb+bb:r*rb+2*bb]...)
			deq = append(deq, g.deq[r*g.cols+bs:r*g.cols+2*bs]...)
		}
		out = append(out, testMatrix{fmt.Sprintf("%s/cols=%d", base, bs),
			&Matrix{Type: g.typ, Rows: g.rows, Cols: bs, Data: data}, deq})
	}
	return out
}

// quantizeMatrices builds random matrices through quantize/ for the float
// types and for every type quantize can already produce.
func quantizeMatrices(t *testing.T) []testMatrix {
	var out []testMatrix
	rng := rand.New(rand.NewPCG(7, 8))
	for _, typ := range gguf.Types() {
		if !Supported(typ) {
			continue
		}
		tr, ok := quantize.Lookup(typ)
		if !ok || tr.QuantizeRow == nil {
			t.Logf("quantize/ cannot produce %s yet: random-shape matrices skipped for it (golden ones still run)", typ)
			continue
		}
		bs := typ.BlockSize()
		shapes := [][2]int{{19, 3 * max(bs, 32)}, {33, 2 * 256}}
		if bs == 1 {
			shapes = append(shapes, [2]int{7, 1}, [2]int{5, 7}, [2]int{3, 300})
		}
		for _, s := range shapes {
			n, k := s[0], s[1]
			src := make([]float32, n*k)
			for i := range src {
				src[i] = float32(rng.NormFloat64() * 0.5)
			}
			data := make([]byte, n*tr.RowBytes(k))
			if err := quantize.Quantize(typ, data, src, k, nil); err != nil {
				t.Fatal(err)
			}
			deq := make([]float32, n*k)
			if err := quantize.Dequantize(typ, deq, data); err != nil {
				t.Fatal(err)
			}
			out = append(out, testMatrix{fmt.Sprintf("%s.rand.%dx%d", typ, n, k),
				&Matrix{Type: typ, Rows: n, Cols: k, Data: data}, deq})
		}
	}
	return out
}

const guard = 16

var sentinel = math.Float32frombits(0x7fc0dead)

// callGuarded runs MatMul on a y with sentinel guards either side and
// fails on any write outside y or any element left unwritten.
func callGuarded(t *testing.T, x []float32, batch int, m *Matrix, opts Options) []float32 {
	t.Helper()
	n := batch * m.Rows
	buf := make([]float32, n+2*guard)
	for i := range buf {
		buf[i] = sentinel
	}
	xs := slices.Clone(x)
	MatMul(buf[guard:guard+n], xs, batch, m, opts)
	for i, v := range buf {
		if inside := i >= guard && i < guard+n; !inside && math.Float32bits(v) != math.Float32bits(sentinel) {
			t.Fatalf("%v: write outside y at offset %d", opts, i-guard)
		} else if inside && math.Float32bits(v) == math.Float32bits(sentinel) {
			t.Fatalf("%v: y[%d] never written", opts, i-guard)
		}
	}
	if !slices.Equal(xs, x) {
		t.Fatalf("%v: x was modified", opts)
	}
	return buf[guard : guard+n]
}

func TestMatMul(t *testing.T) {
	mats := append(goldenMatrices(t), quantizeMatrices(t)...)
	rng := rand.New(rand.NewPCG(1, 2))
	type key struct {
		typ gguf.Type
		act Activations
	}
	worst := map[key]float64{}
	for _, tm := range mats {
		m := tm.m
		K, N := m.Cols, m.Rows
		for _, batch := range []int{1, 2, 3, 4, 5, 8, 17} {
			if K*N > 100000 && batch > 5 {
				continue
			}
			x := make([]float32, batch*K)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			// float64 reference and the per-output error denominators
			qk := typeInfos()[m.Type].act
			ablk := 32
			if qk == actQ8_K {
				ablk = 256
			}
			ref := make([]float64, batch*N)
			den := make([]float64, batch*N)
			denQ := make([]float64, batch*N)
			amax := make([]float64, K)
			for b := range batch {
				for k0 := 0; k0 < K; k0 += ablk {
					var a float64
					for _, v := range x[b*K+k0 : b*K+min(K, k0+ablk)] {
						a = max(a, math.Abs(float64(v)))
					}
					for k := k0; k < min(K, k0+ablk); k++ {
						amax[k] = a
					}
				}
				for n := range N {
					var s, a, aq float64
					for k := range K {
						w := float64(tm.deq[n*K+k])
						p := float64(x[b*K+k]) * w
						s += p
						a += math.Abs(p)
						aq += math.Abs(w) * amax[k]
					}
					ref[b*N+n], den[b*N+n], denQ[b*N+n] = s, a, aq
				}
			}
			// Every layout the type has: row-major, and block-major in
			// 16- and 4-row tiles.
			layouts := []*Matrix{m}
			if Tileable(m.Type) {
				for _, R := range []int{16, 4} {
					bm := &Matrix{Type: m.Type, Rows: N, Cols: K, Layout: BlockMajor(R), Data: make([]byte, len(m.Data))}
					Pack(bm.Data, m.Data, m.Type, N, K, bm.Layout)
					layouts = append(layouts, bm)
				}
			}
			for _, act := range []Activations{ActQuantized, ActFloat} {
				var goY []float32
				for _, tier := range Tiers() {
					for li, ml := range append(layouts, m) { // row-major with 1 and 3 threads
						threads := []int{1, 3}[li%2]
						opts := Options{Threads: threads, Tier: tier, Activations: act}
						y := callGuarded(t, x, batch, ml, opts)
						if goY == nil {
							goY = y
						}
						bound, dn := floatBound, den
						if act == ActQuantized && qk != actNone {
							bound, dn = quantBound[qk], denQ
						}
						for i, v := range y {
							e := errOf(float64(v), ref[i], dn[i])
							if e > bound || math.IsNaN(e) {
								t.Fatalf("%s %s batch %d %v: y[%d] = %g, want %g (err %.3g > %.3g)", tm.name, ml.Layout, batch, opts, i, v, ref[i], e, bound)
							}
							worst[key{m.Type, act}] = max(worst[key{m.Type, act}], e)
							if a := errOf(float64(v), float64(goY[i]), den[i]); a > tierAgree {
								t.Fatalf("%s %s batch %d %v: y[%d] = %g, tier go gave %g (%.3g apart)", tm.name, ml.Layout, batch, opts, i, v, goY[i], a)
							}
						}
					}
				}
			}
		}
	}
	keys := make([]key, 0, len(worst))
	for k := range worst {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return int(a.typ)*2 + int(a.act) - int(b.typ)*2 - int(b.act) })
	for _, k := range keys {
		t.Logf("%-7s %-9s max err %.3g", k.typ, k.act, worst[k])
	}
}

func errOf(got, want, den float64) float64 {
	if den == 0 {
		if got == 0 && want == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return math.Abs(got-want) / den
}

func TestMatMulPanics(t *testing.T) {
	m := &Matrix{Type: gguf.TypeQ8_0, Rows: 2, Cols: 32, Data: make([]byte, 2*34)}
	for name, f := range map[string]func(){
		"short y": func() { MatMul(make([]float32, 1), make([]float32, 32), 1, m, Options{}) },
		"long x":  func() { MatMul(make([]float32, 2), make([]float32, 33), 1, m, Options{}) },
		"short data": func() {
			MatMul(make([]float32, 2), make([]float32, 32), 1, &Matrix{Type: gguf.TypeQ8_0, Rows: 2, Cols: 32, Data: make([]byte, 67)}, Options{})
		},
		"partial blk": func() {
			MatMul(make([]float32, 2), make([]float32, 16), 1, &Matrix{Type: gguf.TypeQ8_0, Rows: 2, Cols: 16}, Options{})
		},
		"unsupported": func() { MatMul(nil, nil, 0, &Matrix{Type: gguf.TypeIQ2_XXS, Rows: 0, Cols: 256}, Options{}) },
		"bad tier":    func() { MatMul(make([]float32, 2), make([]float32, 32), 1, m, Options{Tier: numTiers}) },
		"bad layout": func() {
			MatMul(make([]float32, 2), make([]float32, 32), 1, &Matrix{Type: gguf.TypeQ8_0, Rows: 2, Cols: 32, Layout: 7, Data: m.Data}, Options{})
		},
		"negative bat": func() { MatMul(nil, nil, -1, m, Options{}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	// Empty batch is fine.
	MatMul(nil, nil, 0, m, Options{})
}

func TestParseTier(t *testing.T) {
	for tier := TierAuto; tier < numTiers; tier++ {
		got, err := ParseTier(strings.ToUpper(tier.String()))
		if err != nil || got != tier {
			t.Errorf("ParseTier(%q) = %v, %v", tier.String(), got, err)
		}
	}
	if _, err := ParseTier("sse2"); err == nil {
		t.Error("ParseTier(sse2) succeeded")
	}
	if !TierGo.Available() || !TierAuto.Available() || !Best().Available() {
		t.Error("go/auto/best tier not available")
	}
	t.Logf("tiers: %v, best %v", Tiers(), Best())
}

// TestDispatch checks that the assembly kernels are the ones picked.
func TestDispatch(t *testing.T) {
	ptr := func(k kernel) uintptr { return reflect.ValueOf(k.quant).Pointer() }
	for _, tier := range Tiers()[1:] {
		for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeIQ4_NL} {
			if ptr(pick(tier, typ, ActQuantized)) == ptr(pick(TierGo, typ, ActQuantized)) {
				t.Errorf("tier %s type %s: picked the Go kernel", tier, typ)
			}
		}
	}
	if k := pick(Best(), gguf.TypeQ8_0, ActFloat); k.quant != nil || k.float == nil {
		t.Error("ActFloat picked a quantized kernel")
	}
}

// TestTiersAgreeRandomBlocks feeds every tier arbitrary block bytes (all
// quant codes, -128 included), with only the fp16 scales kept finite, and
// requires the tiers to agree with the Go tier.
func TestTiersAgreeRandomBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeIQ4_NL} {
		const n, k, batch = 37, 352, 11
		bb := typ.BlockBytes()
		data := make([]byte, n*k/32*bb)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for i := 0; i < len(data); i += bb {
			h := fp32ToFP16(float32(rng.NormFloat64() * 0.01))
			data[i], data[i+1] = byte(h), byte(h>>8)
			if typ == gguf.TypeQ4_1 || typ == gguf.TypeQ5_1 { // the min
				h := fp32ToFP16(float32(rng.NormFloat64() * 0.01))
				data[i+2], data[i+3] = byte(h), byte(h>>8)
			}
		}
		m := &Matrix{Type: typ, Rows: n, Cols: k, Data: data}
		x := make([]float32, batch*k)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		want := callGuarded(t, x, batch, m, Options{Tier: TierGo, Threads: 1})
		for _, tier := range Tiers()[1:] {
			got := callGuarded(t, x, batch, m, Options{Tier: tier, Threads: 2})
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*math.Max(1, math.Abs(float64(want[i]))) {
					t.Fatalf("%s tier %s: y[%d] = %g, go tier %g", typ, tier, i, got[i], want[i])
				}
			}
		}
	}
}
