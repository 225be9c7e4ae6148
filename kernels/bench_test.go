package kernels

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/sharedfiles"
	"github.com/qconv/qconv/quantize"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		// benchfmt configuration lines, for benchstat grouping
		fmt.Printf("kernels-best: %s\nkernels-tiers: %v\n", Best(), Tiers())
	}
	os.Exit(m.Run())
}

// benchMatrix returns an n x k matrix of type t: rows of ggml-quantized
// golden data repeated (quantized types), or quantize/ output of random
// values (float types).
func benchMatrix(b *testing.B, t gguf.Type, n, k int) *Matrix {
	rb := k / t.BlockSize() * t.BlockBytes()
	data := make([]byte, n*rb)
	if t.BlockSize() == 1 {
		rng := rand.New(rand.NewPCG(5, 6))
		src := make([]float32, k)
		for i := range src {
			src[i] = float32(rng.NormFloat64())
		}
		for r := range n {
			if err := quantize.Quantize(t, data[r*rb:(r+1)*rb], src, k, nil); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		g := loadGolden(b, filepath.Join(sharedfiles.Path(b, "golden", "data"),
			fmt.Sprintf("%s.ref.10x%d.qgld", strings.ToLower(t.String()), k)))
		for r := range n {
			copy(data[r*rb:(r+1)*rb], g.quant[(r%g.rows)*rb:])
		}
	}
	return &Matrix{Type: t, Rows: n, Cols: k, Data: data}
}

// BenchmarkMatMul: y = x·Wᵀ with W 4096 x 4096, every supported type and
// available tier, quantized activations, b activation rows, one thread
// (run with -cpu 1; use -benchtime short on shared machines). SetBytes is
// the weight bytes, so MB/s is weight bandwidth.
func BenchmarkMatMul(b *testing.B) {
	const n, k = 4096, 4096
	for _, t := range gguf.Types() {
		if !Supported(t) {
			continue
		}
		m := benchMatrix(b, t, n, k)
		for _, tier := range Tiers() {
			for _, batch := range []int{1, 8} {
				name := fmt.Sprintf("type=%s/tier=%s/b=%d", strings.ToLower(t.String()), tier, batch)
				b.Run(name, func(b *testing.B) {
					x := make([]float32, batch*k)
					rng := rand.New(rand.NewPCG(1, 1))
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
					y := make([]float32, batch*n)
					opts := Options{Threads: 1, Tier: tier}
					b.SetBytes(int64(len(m.Data)))
					b.ReportAllocs()
					for b.Loop() {
						MatMul(y, x, batch, m, opts)
					}
					b.ReportMetric(2*float64(n)*k*float64(batch)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkMatMulFFN is the comparison with ggml's figures in
// ../shared/perf: one Llama-3-8B FFN matrix (14336 rows of 4096), two
// threads, the best tier, batch 1 and 8, for every type, row-major and
// (where the type has one) block-major with DefaultTileRows tiles.
func BenchmarkMatMulFFN(b *testing.B) {
	const n, k = 14336, 4096
	for _, t := range gguf.Types() {
		if !Supported(t) {
			continue
		}
		rm := benchMatrix(b, t, n, k)
		layouts := []Layout{RowMajor}
		if Tileable(t) {
			layouts = append(layouts, BlockMajor(DefaultTileRows))
		}
		for _, l := range layouts {
			m := rm
			if l != RowMajor {
				m = &Matrix{Type: t, Rows: n, Cols: k, Layout: l, Data: make([]byte, len(rm.Data))}
				Pack(m.Data, rm.Data, t, n, k, l)
			}
			lname := "row"
			if l != RowMajor {
				lname = "block"
			}
			for _, batch := range []int{1, 8} {
				b.Run(fmt.Sprintf("type=%s/layout=%s/b=%d", strings.ToLower(t.String()), lname, batch), func(b *testing.B) {
					x := make([]float32, batch*k)
					rng := rand.New(rand.NewPCG(1, 1))
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
					y := make([]float32, batch*n)
					opts := Options{Threads: 2}
					b.SetBytes(int64(len(m.Data)))
					for b.Loop() {
						MatMul(y, x, batch, m, opts)
					}
					b.ReportMetric(2*float64(n)*k*float64(batch)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkMemoryRead is the bandwidth reference for the GEMV figures: it
// reads a 1 GiB buffer (larger than any cache) with GOMAXPROCS goroutines,
// each summing its share as uint64 words, so weight_gbps of a GEMV can be
// set against what plain loads reach on the same machine in the same run
// (run with -cpu 1,2,4,...; SetBytes makes MB/s the read bandwidth).
func BenchmarkMemoryRead(b *testing.B) {
	buf := make([]uint64, 1<<27)
	for i := range buf {
		buf[i] = uint64(i)
	}
	threads := runtime.GOMAXPROCS(0)
	b.SetBytes(int64(len(buf) * 8))
	var sink atomic.Uint64
	for b.Loop() {
		var wg sync.WaitGroup
		per := len(buf) / threads
		for t := range threads {
			part := buf[t*per : (t+1)*per]
			wg.Go(func() {
				var s0, s1, s2, s3 uint64
				for i := 0; i+4 <= len(part); i += 4 {
					s0 += part[i]
					s1 += part[i+1]
					s2 += part[i+2]
					s3 += part[i+3]
				}
				sink.Add(s0 + s1 + s2 + s3)
			})
		}
		wg.Wait()
	}
}
