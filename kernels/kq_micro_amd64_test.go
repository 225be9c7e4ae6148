//go:build !purego

package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/qconv/qconv/gguf"
)

// BenchmarkKQKernel times one generated kernel call on cache-resident data:
// ns per super-block per activation row.
func BenchmarkKQKernel(b *testing.B) {
	for _, typ := range []gguf.Type{gguf.TypeQ4_K, gguf.TypeQ6_K} {
		for _, tier := range Tiers()[1:] {
			for _, nr := range []int{1, 4} {
				const k = 4096
				rows := 64
				bb := typ.BlockBytes()
				rb := k / 256 * bb
				data := make([]byte, rows*rb)
				rng := rand.New(rand.NewPCG(1, 2))
				for i := range data {
					data[i] = byte(rng.Uint32())
				}
				for i := 0; i < len(data); i += bb {
					for _, o := range kqFP16Offsets[typ] {
						data[i+o], data[i+o+1] = 0, 0x20
					}
				}
				x := make([]float32, nr*k)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				a := quantizeActs(actQ8_K, x, nr, k)
				kq := table[tier][typ].quant
				s := new(scratch)
				out := make([]float32, nr)
				b.Run(typ.String()+"/"+tier.String()+"/nr="+string(rune('0'+nr)), func(b *testing.B) {
					for b.Loop() {
						for r := range rows {
							kq(out, data[r*rb:(r+1)*rb], a, 0, s)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows*k/256*nr), "ns/blockrow")
				})
			}
		}
	}
}
