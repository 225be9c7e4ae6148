package convert

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/atomicfile"
	"github.com/qconv/qconv/internal/sharedfiles"
	"github.com/qconv/qconv/internal/synth"
	"github.com/qconv/qconv/quantize"
	"github.com/qconv/qconv/safetensors"
)

// tinyModel writes the demo model once per test into dir.
func tinyModel(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "tiny-f16.gguf")
	if err := synth.Tiny().WriteFile(t.Context(), p, false); err != nil {
		t.Fatal(err)
	}
	return p
}

func plan(t *testing.T, in, to string, mod func(*Options)) *Plan {
	t.Helper()
	src, err := OpenSource(in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	tgt, err := ParseTarget(to)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Target: tgt}
	if mod != nil {
		mod(&o)
	}
	p, err := NewPlan(src, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConvertDeterministicAcrossJobs(t *testing.T) {
	dir := t.TempDir()
	in := tinyModel(t, dir)
	for _, to := range []string{"q8_0", "q4_0", "q5_1", "q4_k_m", "q6_k"} {
		t.Run(to, func(t *testing.T) {
			var first []byte
			for _, j := range []int{1, 2, 7} {
				out := filepath.Join(dir, to+".gguf")
				p := plan(t, in, to, nil)
				rep, err := p.Write(t.Context(), out, RunOptions{Jobs: j, Force: true, SHA256: true, MaxMemory: 3 << 20})
				if err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(b)) != rep.OutputBytes {
					t.Errorf("report says %d bytes, file has %d", rep.OutputBytes, len(b))
				}
				if first == nil {
					first = b
					checkOutput(t, out, in)
				} else if !bytes.Equal(first, b) {
					t.Fatalf("-j %d output differs from -j 1", j)
				}
			}
		})
	}
}

// checkOutput parses out and compares every tensor with the source.
func checkOutput(t *testing.T, out, in string) {
	t.Helper()
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	defer f.Close()
	src, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if v, _ := f.Uint32("general.quantization_version"); v != 2 {
		t.Errorf("general.quantization_version = %d", v)
	}
	if len(f.Tensors()) != len(src.Tensors()) {
		t.Fatalf("%d tensors, source has %d", len(f.Tensors()), len(src.Tensors()))
	}
	for i, ti := range f.Tensors() {
		j := src.TensorIndex(ti.Name)
		if j < 0 {
			t.Fatalf("tensor %s not in source", ti.Name)
		}
		sti := src.Tensors()[j]
		n := int(ti.NElements())
		got, want := make([]float32, n), make([]float32, n)
		if err := quantize.Dequantize(ti.Type, got, f.TensorData(i)); err != nil {
			t.Fatal(err)
		}
		if err := quantize.Dequantize(sti.Type, want, src.TensorData(j)); err != nil {
			t.Fatal(err)
		}
		var se, ss float64
		for k := range got {
			d := float64(got[k] - want[k])
			se += d * d
			ss += float64(want[k]) * float64(want[k])
		}
		if rel := math.Sqrt(se / ss); rel > 0.12 {
			t.Errorf("%s (%s): relative RMSE %.3f", ti.Name, ti.Type, rel)
		}
	}
}

func TestConvertQ4KMTypes(t *testing.T) {
	dir := t.TempDir()
	p := plan(t, tinyModel(t, dir), "Q4_K_M", nil)
	got := map[string]gguf.Type{}
	for _, pt := range p.Tensors {
		got[pt.Src.Name] = pt.Out.Type
	}
	// The tiny model has 4 layers: llama's use_more_bits gives attn_v and
	// ffn_down Q6_K where i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2, and
	// with n = 4 (n/8 = 0, 7n/8 = 3) that is layers 2 and 3.
	want := map[string]gguf.Type{
		"token_embd.weight":        gguf.TypeQ4_K,
		"output.weight":            gguf.TypeQ6_K,
		"output_norm.weight":       gguf.TypeF32,
		"blk.0.attn_v.weight":      gguf.TypeQ4_K,
		"blk.1.attn_v.weight":      gguf.TypeQ4_K,
		"blk.2.attn_v.weight":      gguf.TypeQ6_K,
		"blk.3.attn_v.weight":      gguf.TypeQ6_K,
		"blk.1.ffn_down.weight":    gguf.TypeQ4_K,
		"blk.0.ffn_down.weight":    gguf.TypeQ4_K,
		"blk.3.ffn_down.weight":    gguf.TypeQ6_K,
		"blk.1.attn_q.weight":      gguf.TypeQ4_K,
		"blk.1.ffn_up.weight":      gguf.TypeQ4_K,
		"blk.1.attn_norm.weight":   gguf.TypeF32,
		"blk.2.attn_output.weight": gguf.TypeQ4_K,
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %s, want %s", name, got[name], w)
		}
	}
	// llama-quantize's order: tensors outside blk.N first, then by block.
	var lead []string
	for _, pt := range p.Tensors {
		if strings.HasPrefix(pt.Src.Name, "blk.") {
			break
		}
		lead = append(lead, pt.Src.Name)
	}
	if len(lead) != 3 {
		t.Errorf("tensors before the blocks: %v", lead)
	}
	if last := p.Tensors[len(p.Tensors)-1].Src.Name; !strings.HasPrefix(last, "blk.3.") {
		t.Errorf("last tensor %s, want one of block 3", last)
	}
}

func TestConvertInterrupted(t *testing.T) {
	dir := t.TempDir()
	in := tinyModel(t, dir)
	out := filepath.Join(dir, "out.gguf")
	ctx, cancel := context.WithCancel(t.Context())
	p := plan(t, in, "q4_k", nil)
	_, err := p.Write(ctx, out, RunOptions{Jobs: 2, Progress: func(pr Progress) {
		if pr.TensorsDone >= 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	assertOnly(t, dir, "tiny-f16.gguf")
}

func TestConvertRefusals(t *testing.T) {
	dir := t.TempDir()
	in := tinyModel(t, dir)
	p := plan(t, in, "q8_0", nil)
	if _, err := p.Write(t.Context(), in, RunOptions{Force: true}); !errors.Is(err, atomicfile.ErrSameAsInput) {
		t.Errorf("output = input: %v", err)
	}
	out := filepath.Join(dir, "out.gguf")
	os.WriteFile(out, []byte("keep"), 0o644)
	if _, err := p.Write(t.Context(), out, RunOptions{}); !errors.Is(err, atomicfile.ErrExists) {
		t.Errorf("existing output: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep" {
		t.Error("existing output changed")
	}
	assertOnly(t, dir, "out.gguf", "tiny-f16.gguf")
}

func TestConvertNonFinite(t *testing.T) {
	dir := t.TempDir()
	in := tinyModel(t, dir)
	// Poison one value of blk.1.ffn_up.weight (F16 0x7e00 = NaN).
	f, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	ti, _ := f.Tensor("blk.1.ffn_up.weight")
	f.Close()
	row := int64(5)
	fh, _ := os.OpenFile(in, os.O_RDWR, 0)
	fh.WriteAt([]byte{0x00, 0x7e}, ti.FileOffset+(row*ti.Dims[0]+3)*2)
	fh.Close()

	p := plan(t, in, "q8_0", nil)
	out := filepath.Join(dir, "out.gguf")
	_, err = p.Write(t.Context(), out, RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "blk.1.ffn_up.weight") || !strings.Contains(err.Error(), "row 5") {
		t.Fatalf("err = %v, want one naming the tensor and row 5", err)
	}
	assertOnly(t, dir, "tiny-f16.gguf")
	p = plan(t, in, "q8_0", func(o *Options) { o.AllowNonFinite = true })
	if _, err := p.Write(t.Context(), out, RunOptions{}); err != nil {
		t.Fatalf("with AllowNonFinite: %v", err)
	}
}

// TestConvertDiskFull converts into a tmpfs too small for the output.
func TestConvertDiskFull(t *testing.T) {
	dir := t.TempDir()
	in := tinyModel(t, dir)
	mnt := filepath.Join(dir, "small")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	p := plan(t, in, "q8_0", nil)
	_, err := p.Write(t.Context(), filepath.Join(mnt, "out.gguf"), RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("err = %v, want a no-space error", err)
	}
	assertOnly(t, mnt)
}

// assertOnly fails unless dir holds exactly names (no temporary files).
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	es, _ := os.ReadDir(dir)
	var got []string
	for _, e := range es {
		if e.Name() != "small" {
			got = append(got, e.Name())
		}
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

func TestFirstNonFinite(t *testing.T) {
	v := make([]float32, 11)
	if firstNonFinite(v) != -1 {
		t.Fatal("zeros reported non-finite")
	}
	v[3] = math.MaxFloat32
	v[4] = float32(math.SmallestNonzeroFloat32)
	if firstNonFinite(v) != -1 {
		t.Fatal("finite extremes reported non-finite")
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		for _, at := range []int{0, 5, 10} {
			w := append([]float32(nil), v...)
			w[at] = bad
			if got := firstNonFinite(w); got != at {
				t.Errorf("%v at %d: got %d", bad, at, got)
			}
		}
	}
}

// TestConvertSafetensorsSharded converts the sharded BF16 checkpoint to F32
// and checks every value is the BF16 value widened exactly, and that the
// tensors keep their names and shapes (reversed into ggml order).
func TestConvertSafetensorsSharded(t *testing.T) {
	in := sharedfiles.Path(t, "fixtures", "hf-stories260k-bf16-sharded")
	out := filepath.Join(t.TempDir(), "out.gguf")
	// The index (not the directory, which OpenHF converts as a llama
	// checkpoint) keeps the stored names.
	p := plan(t, filepath.Join(in, "model.safetensors.index.json"), "f32", nil)
	if _, err := p.Write(t.Context(), out, RunOptions{Jobs: 3}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ck, err := safetensors.OpenCheckpoint(in)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if len(f.Tensors()) != len(ck.Tensors()) {
		t.Fatalf("%d tensors, checkpoint has %d", len(f.Tensors()), len(ck.Tensors()))
	}
	for i, ti := range f.Tensors() {
		st, ok := ck.Tensor(ti.Name)
		if !ok {
			t.Fatalf("%s not in the checkpoint", ti.Name)
		}
		raw, _ := ck.Data(ti.Name)
		got := f.TensorData(i)
		if len(ti.Dims) == 1 {
			// llama-quantize's rules keep 1-D tensors (norms) as stored.
			if ti.Type != gguf.TypeBF16 || !bytes.Equal(got, raw) {
				t.Fatalf("%s: 1-D tensor became %s or changed", ti.Name, ti.Type)
			}
			continue
		}
		if ti.Type != gguf.TypeF32 || len(ti.Dims) != len(st.Shape) || ti.Dims[0] != st.Shape[len(st.Shape)-1] {
			t.Fatalf("%s: %s %v, source %s %v", ti.Name, ti.Type, ti.Dims, st.DType, st.Shape)
		}
		for k := 0; k < len(raw)/2; k++ {
			want := uint32(raw[2*k]) | uint32(raw[2*k+1])<<8
			if g := binary.LittleEndian.Uint32(got[4*k:]); g != want<<16 {
				t.Fatalf("%s[%d] = %#08x, want %#08x", ti.Name, k, g, want<<16)
			}
		}
	}
}

// TestConvertCopyKeepsTensors rewrites a real GGUF with COPY: every tensor's
// bytes are unchanged, metadata carried over.
func TestConvertCopyKeepsTensors(t *testing.T) {
	in := sharedfiles.Path(t, "fixtures", "gguf-stories260k", "tinyllamas-stories-260k-f32.gguf")
	out := filepath.Join(t.TempDir(), "out.gguf")
	p := plan(t, in, "COPY", nil)
	if _, err := p.Write(t.Context(), out, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	a, _ := gguf.Open(in)
	defer a.Close()
	b, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i, ti := range a.Tensors() {
		d, ok := b.TensorDataByName(ti.Name)
		if !ok || !bytes.Equal(d, a.TensorData(i)) {
			t.Fatalf("%s changed", ti.Name)
		}
	}
	for _, kv := range a.KVs() {
		v, ok := b.KV(kv.Key)
		if !ok || !v.Equal(kv.Value) {
			t.Errorf("metadata %s not carried over", kv.Key)
		}
	}
}

// writeDat writes a legacy llama-imatrix file with one entry per name,
// each of n values (ncall 1), and returns the vectors.
func writeDat(t *testing.T, path string, names []string, n int) map[string][]float32 {
	t.Helper()
	le := binary.LittleEndian
	var b []byte
	b = le.AppendUint32(b, uint32(len(names)))
	vecs := map[string][]float32{}
	for k, name := range names {
		b = le.AppendUint32(b, uint32(len(name)))
		b = append(b, name...)
		b = le.AppendUint32(b, 1) // ncall
		b = le.AppendUint32(b, uint32(n))
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(1 + (i*7+k)%13) // positive, uneven weights
			b = le.AppendUint32(b, math.Float32bits(v[i]))
		}
		vecs[name] = v
	}
	b = le.AppendUint32(b, 10) // chunks
	b = le.AppendUint32(b, 4)
	b = append(b, "wiki"...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return vecs
}

func TestConvertWithImatrix(t *testing.T) {
	dir := t.TempDir()
	in := tinyModel(t, dir)
	imPath := filepath.Join(dir, "imatrix.dat")
	vecs := writeDat(t, imPath, []string{"blk.1.ffn_up.weight", "blk.2.attn_v.weight"}, 256)
	im, err := quantize.ReadImatrix(imPath)
	if err != nil {
		t.Fatal(err)
	}
	p := plan(t, in, "q4_k_m", func(o *Options) { o.Imatrix = im })
	out := filepath.Join(dir, "out.gguf")
	if _, err := p.Write(t.Context(), out, RunOptions{Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, _ := gguf.Open(in)
	defer src.Close()
	if n, _ := f.Uint32("quantize.imatrix.entries_count"); n != 2 {
		t.Errorf("quantize.imatrix.entries_count = %d", n)
	}
	if ds, _ := f.String("quantize.imatrix.dataset"); ds != "wiki" {
		t.Errorf("quantize.imatrix.dataset = %q", ds)
	}
	// Each tensor's bytes equal quantizing its source rows with (for the
	// two listed tensors) or without the importance vector.
	for _, name := range []string{"blk.1.ffn_up.weight", "blk.2.attn_v.weight", "blk.1.ffn_gate.weight"} {
		ti, _ := f.Tensor(name)
		sti, _ := src.Tensor(name)
		data, _ := f.TensorDataByName(name)
		sdata, _ := src.TensorDataByName(name)
		vals := make([]float32, sti.NElements())
		quantize.Dequantize(sti.Type, vals, sdata)
		with := make([]byte, len(data))
		if err := quantize.Quantize(ti.Type, with, vals, int(ti.Dims[0]), vecs[name]); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(with, data) {
			t.Errorf("%s (%s): bytes differ from quantizing with its importance vector (%v)", name, ti.Type, vecs[name] != nil)
		}
	}
}
