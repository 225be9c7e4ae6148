package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qconv/qconv/internal/sharedfiles"
)

// qconv runs the CLI in-process and returns its exit code and output.
func qconv(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, streams{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"inspect"}, {"inspect", "--bogus", "x"}, {"nosuchcommand"}, {"inspect", "/nonexistent/file.gguf"}} {
		code, _, stderr := qconv(t, args...)
		if code != exitUsage || !strings.HasPrefix(stderr, "qconv: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	code, out, _ := qconv(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "qconv ") {
		t.Errorf("--version: %d %q", code, out)
	}
	code, out, _ = qconv(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: exit %d", code)
	}
}

func TestInspectFixtures(t *testing.T) {
	fx := sharedfiles.Path(t, "fixtures")
	cases := []struct {
		path    string
		code    int
		format  string
		tensors int
		errHas  string
	}{
		{"gguf-stories260k/tinyllamas-stories-260k-f32.gguf", 0, "gguf", 48, ""},
		{"gguf-llama-tiny-random/llama-2-tiny-random.gguf", 0, "gguf", -1, ""},
		{"gguf-vocab/ggml-vocab-llama.v1.gguf", 0, "gguf", 0, ""},
		{"gguf-endian/test-le-v3.gguf", 0, "gguf", 3, ""},
		{"hf-stories260k-bf16-sharded", 0, "safetensors", 48, ""},
		{"hf-stories260k-bf16-sharded/model.safetensors.index.json", 0, "safetensors", 48, ""},
		{"hf-gpt2-tiny/model.safetensors", 0, "safetensors", -1, ""},
		{"safetensors-dtypes/all_dtypes.safetensors", 0, "safetensors", 36, ""},
		{"gguf-endian/test-be-v3.gguf", 1, "", 0, "big-endian"},
		{"gguf-stories260k/tinyllamas-stories-260k-q8_0.gguf", 1, "", 0, "blk.0.ffn_down.weight"},
		{"invalid/ollama-truncated-test.gguf", 1, "", 0, "truncated"},
		{"invalid/prerelease-FUGG-magic-example.gguf", 1, "", 0, "FUGG"},
		{"invalid/unknown-value-type-13-test_writer.gguf", 1, "", 0, "unknown value type 13"},
		{"invalid/TinyLLama-v0.ggmlv3.q4_0.bin", 1, "", 0, "GGJT"},
		{"invalid/safetensors_abuse_attempt_1.safetensors", 1, "", 0, "header length"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			p := filepath.Join(fx, c.path)
			code, out, stderr := qconv(t, "inspect", "--json", p)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, c.code, stderr)
			}
			if c.code != 0 {
				if !strings.Contains(stderr, c.errHas) || !strings.Contains(stderr, filepath.Base(p)) {
					t.Errorf("stderr %q should name the file and say %q", stderr, c.errHas)
				}
				return
			}
			var rep struct {
				Format   string         `json:"format"`
				Metadata map[string]any `json:"metadata"`
				Tensors  []struct {
					Name   string  `json:"name"`
					Type   string  `json:"type"`
					Shape  []int64 `json:"shape"`
					Offset int64   `json:"offset"`
					NBytes int64   `json:"nbytes"`
				} `json:"tensors"`
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("--json output is not JSON: %v", err)
			}
			if rep.Format != c.format || (c.tensors >= 0 && len(rep.Tensors) != c.tensors) {
				t.Errorf("format %s with %d tensors", rep.Format, len(rep.Tensors))
			}
			// The text form succeeds too and lists every tensor.
			code, text, _ := qconv(t, "inspect", p)
			if code != 0 {
				t.Fatalf("text inspect exit %d", code)
			}
			for _, tn := range rep.Tensors {
				if !strings.Contains(text, tn.Name) {
					t.Errorf("text output lacks tensor %s", tn.Name)
					break
				}
			}
		})
	}
}

func TestInspectShapeOrder(t *testing.T) {
	p := sharedfiles.Path(t, "fixtures", "gguf-stories260k", "tinyllamas-stories-260k-f32.gguf")
	_, out, _ := qconv(t, "inspect", "--json", p)
	var rep struct {
		Metadata map[string]any
		Tensors  []struct {
			Name  string
			Shape []int64
		}
	}
	json.Unmarshal([]byte(out), &rep)
	if rep.Metadata["general.architecture"] != "llama" {
		t.Errorf("architecture %v", rep.Metadata["general.architecture"])
	}
	for _, tn := range rep.Tensors {
		// ffn_gate maps n_embd 64 to n_ff 172: shape [172, 64], outermost first.
		if tn.Name == "blk.0.ffn_gate.weight" && (len(tn.Shape) != 2 || tn.Shape[0] != 172 || tn.Shape[1] != 64) {
			t.Errorf("ffn_gate shape %v, want [172 64]", tn.Shape)
		}
	}
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := qconv(t, "demo", "--dir", dir)
	if code != 0 {
		t.Fatalf("demo exit %d: %s", code, stderr)
	}
	for _, want := range []string{"generated", "converted", "PASS", "Q4_K_M"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// The converted file is kept with --dir and is valid.
	code, _, stderr = qconv(t, "inspect", filepath.Join(dir, "demo-Q4_K_M.gguf"))
	if code != 0 {
		t.Errorf("inspect of the demo output: exit %d %s", code, stderr)
	}
}

func TestBenchKernels(t *testing.T) {
	code, out, stderr := qconv(t, "bench", "kernels", "--types", "q8_0,q4_k", "--rows", "64", "--cols", "512", "--batch", "1,2", "--min-time", "1ms", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var recs []map[string]any
	if err := json.Unmarshal([]byte(out), &recs); err != nil || len(recs) < 4 {
		t.Fatalf("%v: %s", err, out)
	}
	for _, k := range []string{"type", "layout", "tier", "rows", "cols", "batch", "threads", "seconds", "gflops", "weight_gbps", "max_rel_err"} {
		if _, ok := recs[0][k]; !ok {
			t.Errorf("record lacks %q", k)
		}
	}
	// --layout both: a row-major and a block-major record per (type, tier,
	// batch) for a tileable type, only row-major for f16.
	code, out, stderr = qconv(t, "bench", "kernels", "--types", "q4_0,f16", "--rows", "40", "--cols", "256", "--batch", "3", "--min-time", "1ms", "--layout", "both", "--json", "--tiers", "go")
	if code != 0 {
		t.Fatalf("--layout both: exit %d: %s", code, stderr)
	}
	recs = nil
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range recs {
		got[fmt.Sprint(r["type"], " ", r["layout"])]++
		if e, _ := r["max_rel_err"].(float64); !(e < 0.05) {
			t.Errorf("%v %v: max_rel_err %v", r["type"], r["layout"], r["max_rel_err"])
		}
	}
	if want := map[string]int{"q4_0 row-major": 1, "q4_0 block-major-16": 1, "f16 row-major": 1}; !maps.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	for _, args := range [][]string{{"--types", "q9"}, {"--cols", "100"}, {"--batch", "0"}, {"--tiers", "sse9"}, {"--layout", "columns"}} {
		if code, _, _ := qconv(t, append([]string{"bench", "kernels", "--rows", "8", "--min-time", "1ms"}, args...)...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestKernelFlag(t *testing.T) {
	t.Setenv("QCONV_KERNEL", "avx9")
	if code, _, stderr := qconv(t, "inspect", "x"); code != exitUsage || !strings.Contains(stderr, "avx9") {
		t.Errorf("bad QCONV_KERNEL: exit %d %q", code, stderr)
	}
	t.Setenv("QCONV_KERNEL", "purego")
	code, out, stderr := qconv(t, "bench", "kernels", "--types", "q8_0", "--rows", "16", "--cols", "256", "--batch", "1", "--min-time", "1ms", "--json")
	if code != 0 || strings.Count(out, `"tier": "go"`) != 1 || strings.Contains(out, "avx") {
		t.Errorf("QCONV_KERNEL=purego bench: exit %d %s %s", code, out, stderr)
	}
}

// TestConvertSplitCLI converts a split GGUF model from the command line:
// without --keep-split into one file named after the model (the split
// suffix dropped), with it into the same number of files.
func TestConvertSplitCLI(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.gguf")
	if code, _, stderr := qconv(t, "synth", model, "-q"); code != 0 {
		t.Fatal(stderr)
	}
	// Two splits of 20 and 19 tensors, the first with the metadata (the
	// layout llama.cpp's gguf-split writes).
	if code, out, stderr := qconv(t, "convert", model, "--to", "copy", "--split-max-tensors", "20", "-o", filepath.Join(dir, "m.gguf"), "-f"); code != 0 || !strings.Contains(out, "wrote 2 files") {
		t.Fatalf("splitting: exit %d: %s %s", code, out, stderr)
	}
	first := filepath.Join(dir, "m-00001-of-00002.gguf")
	code, out, stderr := qconv(t, "convert", first, "--to", "q8_0")
	if code != 0 || !strings.Contains(out, filepath.Join(dir, "m-Q8_0.gguf")) {
		t.Fatalf("exit %d: %s %s", code, out, stderr)
	}
	code, out, stderr = qconv(t, "convert", filepath.Join(dir, "m-00002-of-00002.gguf"), "--to", "q8_0", "--keep-split", "-o", filepath.Join(dir, "k.gguf"), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct{ Outputs []string }
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "k-00001-of-00002.gguf"), filepath.Join(dir, "k-00002-of-00002.gguf")}
	if fmt.Sprint(rep.Outputs) != fmt.Sprint(want) {
		t.Errorf("outputs %v, want %v", rep.Outputs, want)
	}
	for _, w := range want {
		if code, _, stderr := qconv(t, "inspect", w); code != 0 {
			t.Errorf("inspect %s: %s", w, stderr)
		}
	}
}

func TestSplitFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--keep-split", "--split-max-tensors", "3"},
		{"--split-max-size", "lots"},
		{"--split-max-tensors", "-1"},
	} {
		code, _, stderr := qconv(t, append([]string{"convert", "in.gguf", "--to", "q8_0"}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, "split") {
			t.Errorf("%v: exit %d, %q", args, code, stderr)
		}
	}
}
