package verify

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qconv/qconv/convert"
	"github.com/qconv/qconv/gguf"
)

// f32GGUF writes a GGUF of F32 tensors (name -> dims, values) to path.
func f32GGUF(t *testing.T, path string, names []string, dims [][]int64, vals [][]float32) {
	t.Helper()
	var infos []gguf.TensorInfo
	for i, n := range names {
		infos = append(infos, gguf.TensorInfo{Name: n, Type: gguf.TypeF32, Dims: dims[i]})
	}
	l, err := gguf.NewLayout(nil, infos)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := l.WriteHeader(io.NewOffsetWriter(f, 0)); err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		b := make([]byte, 0, 4*len(v))
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
		if err := l.WriteTensorAt(f, i, b); err != nil {
			t.Fatal(err)
		}
	}
}

// pair writes a file and a source and opens both.
func pair(t *testing.T) (*gguf.File, *convert.Source) {
	t.Helper()
	dir := t.TempDir()
	names := []string{"a", "b", "c", "only_in_file"}
	dims := [][]int64{{4}, {2, 2}, {2}, {1}}
	file := [][]float32{{1, 2, 3, 5}, {1, 2, 3, 4}, {0, float32(math.NaN())}, {7}}
	f32GGUF(t, filepath.Join(dir, "file.gguf"), names, dims, file)
	f32GGUF(t, filepath.Join(dir, "src.gguf"), []string{"a", "b", "c", "only_in_source"},
		[][]int64{{4}, {2, 2}, {2}, {3}}, [][]float32{{1, 2, 3, 4}, {1, 2, 3, 4}, {0, 1}, {1, 2, 3}})
	f, err := gguf.Open(filepath.Join(dir, "file.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	src, err := convert.OpenSource(filepath.Join(dir, "src.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return f, src
}

func TestRunAgainst(t *testing.T) {
	f, src := pair(t)
	th := Thresholds{gguf.TypeF32: 0.2}
	rep, err := Run(t.Context(), f, Options{Source: src, Thresholds: th, Jobs: 3, ChunkElems: 1})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]TensorResult{}
	var order []string
	for _, r := range rep.Tensors {
		byName[r.Name] = r
		order = append(order, r.Name)
	}
	if strings.Join(order, ",") != "a,b,c,only_in_file,only_in_source" {
		t.Errorf("order %v: want file order, then missing tensors", order)
	}
	a := byName["a"]
	if a.Status != StatusPass || !near(a.Compare.RelRMSE, math.Sqrt(1.0/30)) || !near(a.Compare.RMSE, 0.5) ||
		!near(*a.Ratio, math.Sqrt(1.0/30)/0.2) || *a.Threshold != 0.2 || a.RowsChecked != 1 {
		t.Errorf("a: %+v %+v", a, a.Compare)
	}
	if b := byName["b"]; b.Status != StatusPass || b.Compare.RMSE != 0 || b.Rows != 2 || b.RowsChecked != 2 {
		t.Errorf("b: %+v", b)
	}
	c := byName["c"]
	if c.Status != StatusFail || len(c.Failures) != 1 || c.Failures[0].Metric != MetricNonFinite || c.Stats.NonFinite != 1 {
		t.Errorf("c: %+v", c)
	}
	if r := byName["only_in_file"]; r.Status != StatusFail || r.Failures[0].Metric != MetricExtra {
		t.Errorf("extra: %+v", r)
	}
	if r := byName["only_in_source"]; r.Status != StatusFail || r.Failures[0].Metric != MetricMissing {
		t.Errorf("missing: %+v", r)
	}
	if s := rep.Summary; s.Tensors != 5 || s.Passed != 2 || s.Failed != 3 || s.Verdict != "FAIL" || rep.Passed() {
		t.Errorf("summary %+v", s)
	}
	if rep.Thresholds["f32"] != 0.2 || len(rep.Thresholds) != 1 {
		t.Errorf("thresholds %v", rep.Thresholds)
	}

	// Tightening the threshold fails a; the worst-first order puts
	// non-ratio failures first, then a, then the passes.
	rep, err = Run(t.Context(), f, Options{Source: src, Thresholds: Thresholds{gguf.TypeF32: 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	var worst []string
	for _, r := range rep.Worst() {
		worst = append(worst, r.Name)
	}
	if strings.Join(worst, ",") != "c,only_in_file,only_in_source,a,b" {
		t.Errorf("worst first: %v", worst)
	}
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, want := range []string{
		"  a: rel_rmse 0.1826 exceeds 0.1 (f32)\n",
		"  c: 1 non-finite value where the source is finite\n",
		"  only_in_source: in the source but not in the file\n",
		"  only_in_file: in the file but not in the source\n",
		"\nFAIL: 4 of 5 tensors failed: a (rel_rmse), c (non_finite), only_in_file (extra), only_in_source (missing)\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}

func TestRunSelf(t *testing.T) {
	f, _ := pair(t)
	rep, err := Run(t.Context(), f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Against != "" || rep.Thresholds != nil || rep.Summary.Failed != 1 || rep.Tensors[2].Failures[0].Metric != MetricNonFinite {
		t.Errorf("%+v", rep)
	}
	if a := rep.Tensors[0]; a.Compare != nil || !near(a.Stats.RMS, math.Sqrt(39.0/4)) || a.Stats.MaxAbs != 5 {
		t.Errorf("a: %+v", a.Stats)
	}
}

func TestRunKernelChecker(t *testing.T) {
	f, src := pair(t)
	var seen []string
	k := KernelCheckerFunc(func(ctx context.Context, in KernelInput) (*KernelResult, error) {
		rows := in.Dims[len(in.Dims)-1]
		if len(in.Dims) == 1 {
			rows = 1
		}
		dst := make([]float32, rows*in.Dims[0])
		if err := in.Dequantize(0, rows, dst); err != nil {
			return nil, err
		}
		seen = append(seen, in.Name) // Jobs is 1 below: no race
		if in.Name == "b" {
			return &KernelResult{Kernel: "test", RelError: Float(dst[3]), MaxRelError: 1}, nil // 4 > 1
		}
		return &KernelResult{Kernel: "test", Skipped: "not packed"}, nil
	})
	rep, err := Run(t.Context(), f, Options{Source: src, Jobs: 1, Kernel: k, Thresholds: Thresholds{gguf.TypeF32: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != "a,b" { // not c (already failed) nor tensors without a source
		t.Errorf("kernel checks ran on %v", seen)
	}
	if b := rep.Tensors[1]; b.Status != StatusFail || b.Failures[0].Metric != MetricKernel || b.Kernel.RelError != 4 {
		t.Errorf("b: %+v", b)
	}
	if a := rep.Tensors[0]; a.Status != StatusPass || a.Kernel.Skipped == "" {
		t.Errorf("a: %+v", a)
	}
	boom := errors.New("boom")
	_, err = Run(t.Context(), f, Options{Kernel: KernelCheckerFunc(func(context.Context, KernelInput) (*KernelResult, error) { return nil, boom })})
	if !errors.Is(err, boom) {
		t.Errorf("kernel error: %v", err)
	}
}

func TestRunCanceled(t *testing.T) {
	f, src := pair(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Run(ctx, f, Options{Source: src}); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}
