//go:build !purego

package kernels

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/qconv/qconv/gguf"
)

// kqTypes are the K-quant family types with generated kernels.
var kqTypes = []gguf.Type{
	gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K, gguf.TypeQ2_K, gguf.TypeQ3_K,
	gguf.TypeIQ4_XS, gguf.TypeTQ2_0, gguf.TypeTQ1_0,
}

// kqFP16Offsets lists each type's fp16 fields (d, dmin) inside a block.
var kqFP16Offsets = map[gguf.Type][]int{
	gguf.TypeQ2_K: {80, 82}, gguf.TypeQ3_K: {108}, gguf.TypeQ4_K: {0, 2}, gguf.TypeQ5_K: {0, 2},
	gguf.TypeQ6_K: {208}, gguf.TypeIQ4_XS: {0}, gguf.TypeTQ1_0: {52}, gguf.TypeTQ2_0: {64},
}

// TestKQuantDispatch checks that every tier above Go picks a generated
// kernel for the K-quant types that have one.
func TestKQuantDispatch(t *testing.T) {
	ptr := func(k kernel) uintptr { return reflect.ValueOf(k.quant).Pointer() }
	for _, typ := range kqTypes {
		goK := ptr(pick(TierGo, typ, ActQuantized))
		for _, tier := range Tiers()[1:] {
			if table[tier][typ].quant == nil {
				t.Logf("tier %s type %s: no kernel (falls back)", tier, typ)
				continue
			}
			if ptr(pick(tier, typ, ActQuantized)) == goK {
				t.Errorf("tier %s type %s: picked the Go kernel", tier, typ)
			}
		}
	}
}

// TestKQuantTiersAgree feeds every tier arbitrary block bytes (every quant
// code and scale, with the fp16 scales kept finite) and activation rows
// with large values, for 1..9 activation rows, and requires the integer
// sums to match the Go tier up to float rounding.
func TestKQuantTiersAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, typ := range kqTypes {
		const n, k = 23, 1024
		bb := typ.BlockBytes()
		data := make([]byte, n*k/256*bb)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		if typ == gguf.TypeTQ2_0 {
			// Crumb 3 (weight +2) is outside the format (ggml never writes
			// it) and the Go tier's ternary kernel reads it as +1: keep to 0..2.
			for i, v := range data {
				for s := 0; s < 8; s += 2 {
					if v>>s&3 == 3 {
						v &^= 1 << s
					}
				}
				data[i] = v
			}
		}
		for i := 0; i < len(data); i += bb {
			for _, o := range kqFP16Offsets[typ] {
				h := fp32ToFP16(float32(rng.NormFloat64() * 0.01))
				data[i+o], data[i+o+1] = byte(h), byte(h>>8)
			}
		}
		m := &Matrix{Type: typ, Rows: n, Cols: k, Data: data}
		deq := make([]float32, n*k)
		typeInfos()[typ].toFloat(deq, data)
		for _, batch := range []int{1, 2, 3, 4, 5, 9} {
			x := make([]float32, batch*k)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				if rng.IntN(64) == 0 {
					x[i] *= 50 // outliers: activations near ±127 elsewhere small
				}
			}
			want := callGuarded(t, x, batch, m, Options{Tier: TierGo, Threads: 1})
			// Σ|x·w| per output, for the relative check.
			den := make([]float64, batch*n)
			for b := range batch {
				for r := range n {
					for c, v := range deq[r*k : (r+1)*k] {
						den[b*n+r] += math.Abs(float64(v) * float64(x[b*k+c]))
					}
				}
			}
			for _, tier := range Tiers()[1:] {
				got := callGuarded(t, x, batch, m, Options{Tier: tier, Threads: 2})
				for i := range got {
					if e := errOf(float64(got[i]), float64(want[i]), den[i]); e > tierAgree {
						t.Fatalf("%s tier %s batch %d: y[%d] = %g, go tier %g (%.3g apart)", typ, tier, batch, i, got[i], want[i], e)
					}
				}
			}
		}
	}
}
