package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/quantize"
	"github.com/qconv/qconv/safetensors"
)

// synthTensor is one tensor of a synthetic checkpoint: its Hugging Face
// (row-major) shape and its values, element i of tensor k being
// synthValue(k, i) unless vals is set.
type synthTensor struct {
	name  string
	shape []int64
	vals  []float32
}

// synthValue is a value no two tensors or positions share, exact in F16
// and BF16 as small multiples of 1/64.
func synthValue(k, i int) float32 { return float32((k*37+i*5)%127-63) / 64 }

// synthCheckpoint is a checkpoint directory written by writeSynth.
type synthCheckpoint struct {
	dir    string
	values map[string][]float32 // the values as stored (after dtype rounding)
}

// writeSynth writes config.json and model.safetensors (tensors in the
// given dtype) into a new directory named name.
func writeSynth(t *testing.T, name string, config map[string]any, tensors []synthTensor, dt safetensors.DType) *synthCheckpoint {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, dir, "config.json", config)
	sc := &synthCheckpoint{dir: dir, values: map[string][]float32{}}
	var wts []safetensors.WriteTensor
	for k, st := range tensors {
		n := int64(1)
		for _, d := range st.shape {
			n *= d
		}
		v := st.vals
		if v == nil {
			v = make([]float32, n)
			for i := range v {
				v[i] = synthValue(k, i)
			}
		}
		if int64(len(v)) != n {
			t.Fatalf("%s: %d values for shape %v", st.name, len(v), st.shape)
		}
		data, stored := encodeSynth(t, v, dt)
		sc.values[st.name] = stored
		wts = append(wts, safetensors.WriteTensor{Name: st.name, DType: dt, Shape: st.shape, Data: data})
	}
	var b bytes.Buffer
	if err := safetensors.Write(&b, map[string]string{"format": "pt"}, wts); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return sc
}

// encodeSynth stores v as dt and returns the bytes and the values they
// hold.
func encodeSynth(t *testing.T, v []float32, dt safetensors.DType) ([]byte, []float32) {
	t.Helper()
	ty := map[safetensors.DType]gguf.Type{safetensors.F32: gguf.TypeF32, safetensors.F16: gguf.TypeF16, safetensors.BF16: gguf.TypeBF16}[dt]
	tr, ok := quantize.Lookup(ty)
	if !ok {
		t.Fatalf("no dtype %v", dt)
	}
	b := make([]byte, len(v)*dt.Size())
	tr.QuantizeRow(b, v, nil)
	back := make([]float32, len(v))
	tr.DequantizeRow(back, b)
	return b, back
}

// openSynth opens dir with OpenHF.
func openSynth(t *testing.T, dir string) *Source {
	t.Helper()
	s, err := OpenHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tensorMap indexes a source's tensors by name.
func tensorMap(s *Source) map[string]*Tensor {
	m := map[string]*Tensor{}
	for _, t := range s.Tensors {
		m[t.Name] = t
	}
	return m
}

// values decodes all of t.
func values(t *testing.T, x *Tensor) []float32 {
	t.Helper()
	v := make([]float32, x.Elements())
	if err := x.ReadRows(0, x.Rows(), v); err != nil {
		t.Fatal(err)
	}
	return v
}

// wantTensors checks that s has exactly the tensors of want (GGUF name to
// ggml dims), each of its type in types (default: F32 for 1-D, stored
// type otherwise).
func wantTensors(t *testing.T, s *Source, want map[string][]int64) {
	t.Helper()
	got := tensorMap(s)
	var bad []string
	for name, dims := range want {
		x, ok := got[name]
		switch {
		case !ok:
			bad = append(bad, "missing "+name)
		case !slices.Equal(x.Dims, dims):
			bad = append(bad, fmt.Sprintf("%s dims %v, want %v", name, x.Dims, dims))
		case len(dims) == 1 && x.Type != gguf.TypeF32:
			bad = append(bad, fmt.Sprintf("%s is %s, 1-D tensors are F32", name, x.Type))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			bad = append(bad, "unexpected "+name)
		}
	}
	if len(got) != len(s.Tensors) {
		bad = append(bad, "duplicate tensor names")
	}
	slices.Sort(bad)
	for _, b := range bad {
		t.Error(b)
	}
}

// wantKVs checks metadata values; a nil value means the key must be absent.
func wantKVs(t *testing.T, s *Source, want map[string]any) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, ok := s.KV(k)
		w := want[k]
		if w == nil {
			if ok {
				t.Errorf("%s = %v, want it absent", k, v)
			}
			continue
		}
		wv, isValue := w.(gguf.Value)
		if !isValue {
			t.Fatalf("bad expectation for %s", k)
		}
		if !ok || !v.Equal(wv) {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, wv)
		}
	}
}

// equalValues reports the first difference between two value lists.
func equalValues(got, want []float32) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			return fmt.Errorf("value %d = %v, want %v", i, got[i], want[i])
		}
	}
	return nil
}

// writeSPModel writes a SentencePiece tokenizer.model with the pieces
// <unk>, <s>, </s>, then "▁a", "▁b", ... up to n pieces in all.
func writeSPModel(t *testing.T, dir string, n int) {
	t.Helper()
	var b []byte
	b = append(b, protoPiece("<unk>", 0, spUnknown)...)
	b = append(b, protoPiece("<s>", 0, spControl)...)
	b = append(b, protoPiece("</s>", 0, spControl)...)
	for i := 3; i < n; i++ {
		b = append(b, protoPiece("\u2581"+string(rune('a'+i-3)), -float32(i), 0)...)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.model"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeBPETokenizer writes a byte-level BPE tokenizer.json with n tokens
// (t0, t1, ...; the last one an added special token "<|endoftext|>") and
// a pre-tokenizer splitting with regex (empty: a lone ByteLevel).
func writeBPETokenizer(t *testing.T, dir string, n int, regex string) {
	t.Helper()
	vocab := map[string]int{}
	for i := 0; i < n-1; i++ {
		vocab[fmt.Sprintf("t%d", i)] = i
	}
	pre := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	if regex != "" {
		pre = map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": regex}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
		}}
	}
	writeJSON(t, dir, "tokenizer.json", map[string]any{
		"added_tokens":  []any{map[string]any{"id": n - 1, "content": "<|endoftext|>", "special": true}},
		"pre_tokenizer": pre,
		"decoder":       map[string]any{"type": "ByteLevel"},
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": []any{"t1 t2"}},
	})
}

// wantOpenError checks that OpenHF refuses dir with an error matching is
// and containing every string of has.
func wantOpenError(t *testing.T, dir string, is error, has ...string) {
	t.Helper()
	s, err := OpenHF(dir)
	if err == nil {
		s.Close()
		t.Fatalf("%s opened without error", dir)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %q is not %v", err, is)
	}
	for _, h := range has {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("error %q lacks %q", err, h)
		}
	}
}

// jsonRoundTrip copies a config map (so a test can edit it).
func jsonRoundTrip(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// removeFile deletes dir/name.
func removeFile(dir, name string) error { return os.Remove(filepath.Join(dir, name)) }
