package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/sharedfiles"
)

// TestConvertHF runs convert on Hugging Face checkpoint directories: a
// llama checkpoint gets GGUF names, an unsupported architecture is refused
// (exit 1) naming what is supported, and --raw converts it with its stored
// names.
func TestConvertHF(t *testing.T) {
	fx := sharedfiles.Path(t, "fixtures")
	dir := t.TempDir()

	out := filepath.Join(dir, "stories.gguf")
	code, _, stderr := qconv(t, "convert", filepath.Join(fx, "hf-stories260k-bf16-sharded"), "--to", "q8_0",
		"--tensor-type", "ffn_down=f16", "-o", out, "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ti, ok := f.Tensor("blk.0.attn_q.weight"); !ok || ti.Type != gguf.TypeQ8_0 {
		t.Errorf("blk.0.attn_q.weight: %v %v", ti.Type, ok)
	}
	if v, _ := f.String("general.architecture"); v != "llama" {
		t.Errorf("general.architecture %q", v)
	}

	mini := filepath.Join(fx, "hf-minicpm3-synthetic")
	code, _, stderr = qconv(t, "convert", mini, "--to", "f32", "-o", filepath.Join(dir, "mini.gguf"))
	if code != 1 || !strings.Contains(stderr, "MiniCPM3ForCausalLM") || !strings.Contains(stderr, "LlamaForCausalLM") || !strings.Contains(stderr, "--raw") {
		t.Errorf("unsupported architecture: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = qconv(t, "convert", mini, "--raw", "--to", "f32", "-o", filepath.Join(dir, "mini.gguf"), "--quiet")
	if code != 0 {
		t.Fatalf("--raw: exit %d: %s", code, stderr)
	}
	g, err := gguf.Open(filepath.Join(dir, "mini.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if len(g.Tensors()) != 15 || g.Tensors()[0].Name != "lm_head.weight" {
		t.Errorf("--raw output: %d tensors, first %s", len(g.Tensors()), g.Tensors()[0].Name)
	}
}
