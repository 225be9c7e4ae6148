package convert

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/synth"
	"github.com/qconv/qconv/safetensors"
)

// peakResident resets the process's peak resident set size (Linux:
// /proc/self/clear_refs) and returns a function reading it, in bytes; both
// report false where the platform has no such counters.
func peakResident() (reset func() bool, read func() (int64, bool)) {
	reset = func() bool { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil }
	read = func() (int64, bool) {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return 0, false
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			var kib int64
			if _, err := fmt.Sscanf(string(line), "VmHWM: %d kB", &kib); err == nil {
				return kib << 10, true
			}
		}
		return 0, false
	}
	return reset, read
}

// BenchmarkConvertResident converts a 4-layer llama-shaped F16 model of
// 128 MiB (n_embd 1024, n_ff 2816, vocab 8000) to Q8_0 with 2 workers and
// reports, besides the source bytes per second, the peak resident set of
// the process during the conversion ("peak-rss-MiB", Linux) next to the
// input's size ("input-MiB"): the input is memory-mapped, and each task's
// pages are released when it is done, so the peak is bounded by the work
// in flight rather than by the model's size.
//
//	go test -run XXX -bench ConvertResident -benchtime 5x ./convert
func BenchmarkConvertResident(b *testing.B) {
	dir := b.TempDir()
	in := filepath.Join(dir, "model-f16.gguf")
	c := synth.Config{Name: "bench-rss", Layers: 4, Embd: 1024, FF: 2816, Heads: 16, KVHeads: 4, Vocab: 8000,
		Type: synth.Tiny().Type, Seed: 1}
	if err := c.WriteFile(context.Background(), in, false); err != nil {
		b.Fatal(err)
	}
	src, err := OpenSource(in)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	tgt, err := ParseTarget("q8_0")
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewPlan(src, Options{Target: tgt})
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(dir, "out.gguf")
	reset, read := peakResident()
	b.SetBytes(p.SourceBytes())
	var peak int64
	b.ResetTimer()
	for range b.N {
		ok := reset()
		if _, err := p.Write(context.Background(), out, RunOptions{Jobs: 2, Force: true}); err != nil {
			b.Fatal(err)
		}
		if v, ok2 := read(); ok && ok2 {
			peak = max(peak, v)
		}
	}
	b.StopTimer()
	if peak > 0 {
		b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
	}
	b.ReportMetric(float64(p.SourceBytes())/(1<<20), "input-MiB")
}

// BenchmarkTransposedRows gathers a GPT-2 XL MLP weight (Conv1D, stored
// [1600, 6400] F32) in convert's row chunks, as a conversion reads it.
func BenchmarkTransposedRows(b *testing.B) {
	const in, out = 1600, 6400
	st := &Tensor{Name: "mlp.c_fc.weight", Dims: []int64{out, in}, Type: gguf.TypeF32, data: make([]byte, in*out*4),
		stDT: safetensors.F32, rowLen: out}
	tr, err := transposed(st)
	if err != nil {
		b.Fatal(err)
	}
	per := max(int64(chunkElems)/in, 1)
	b.SetBytes(int64(len(st.data)))
	for range b.N {
		for r0 := int64(0); r0 < out; r0 += per {
			tr.rawRows(r0, min(per, out-r0))
		}
	}
}
