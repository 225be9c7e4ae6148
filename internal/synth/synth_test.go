package synth

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/qconv/qconv/gguf"
)

func TestTinyModel(t *testing.T) {
	dir := t.TempDir()
	c := Tiny()
	p := filepath.Join(dir, "a.gguf")
	if err := c.WriteFile(t.Context(), p, false); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(p)
	if err != nil {
		t.Fatalf("generated file does not parse: %v", err)
	}
	defer f.Close()
	if n := len(f.Tensors()); n != 3+9*c.Layers {
		t.Errorf("%d tensors", n)
	}
	var params int64
	for i, ti := range f.Tensors() {
		params += ti.NElements()
		data := f.TensorData(i)
		if bytes.Count(data, []byte{0}) == len(data) {
			t.Errorf("%s is all zeros", ti.Name)
		}
	}
	if params != c.Params() {
		t.Errorf("params %d, want %d", params, c.Params())
	}
	if arch, _ := f.String("general.architecture"); arch != "llama" {
		t.Errorf("architecture %q", arch)
	}
	kv, ok := f.Tensor("blk.0.attn_k.weight")
	if !ok || kv.Dims[0] != 256 || kv.Dims[1] != 128 || kv.Type != gguf.TypeF16 {
		t.Errorf("attn_k: %+v", kv)
	}
	// Deterministic: a second run gives the same bytes.
	q := filepath.Join(dir, "b.gguf")
	if err := c.WriteFile(t.Context(), q, false); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(p)
	b, _ := os.ReadFile(q)
	if !bytes.Equal(a, b) {
		t.Error("two runs differ")
	}
	if err := c.WriteFile(t.Context(), q, false); err == nil {
		t.Error("existing output overwritten without force")
	}
}

func TestValidate(t *testing.T) {
	bad := Tiny()
	bad.Heads = 7
	if bad.Validate() == nil {
		t.Error("heads not dividing n_embd accepted")
	}
	bad = Tiny()
	bad.Type = gguf.TypeQ4_0
	if bad.Validate() == nil {
		t.Error("quantized weights accepted")
	}
	if Bench().Params() < 480e6 || Bench().Params() > 490e6 {
		t.Errorf("bench model has %d params, want ~483M", Bench().Params())
	}
}
