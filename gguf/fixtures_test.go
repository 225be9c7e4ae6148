package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/qconv/qconv/internal/sharedfiles"
)

// The facts checked here are those stated in ../shared/fixtures/README.md.

func openFixture(t *testing.T, elem ...string) *File {
	t.Helper()
	f, err := Open(sharedfiles.Path(t, append([]string{"fixtures"}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func wantKV[T comparable](t *testing.T, get func(string) (T, bool), key string, want T) {
	t.Helper()
	got, ok := get(key)
	if !ok || got != want {
		t.Errorf("%s = %v (present and typed: %v), want %v", key, got, ok, want)
	}
}

func wantTensor(t *testing.T, f *File, name string, typ Type, dims ...int64) {
	t.Helper()
	ti, ok := f.Tensor(name)
	if !ok {
		t.Errorf("tensor %s missing", name)
		return
	}
	if ti.Type != typ || !slices.Equal(ti.Dims, dims) {
		t.Errorf("tensor %s: %s %v, want %s %v", name, ti.Type, ti.Dims, typ, dims)
	}
}

// checkTensorData checks each tensor's view: in the file, right size,
// aligned, and the data section start.
func checkTensorData(t *testing.T, f *File) {
	t.Helper()
	if f.DataOffset()%f.Alignment() != 0 {
		t.Errorf("data offset %d not aligned to %d", f.DataOffset(), f.Alignment())
	}
	for i, ti := range f.Tensors() {
		d := f.TensorData(i)
		if int64(len(d)) != ti.Size {
			t.Errorf("%s: data of %d bytes, size %d", ti.Name, len(d), ti.Size)
		}
		if ti.FileOffset != f.DataOffset()+ti.Offset || ti.Offset%f.Alignment() != 0 {
			t.Errorf("%s: offset %d / file offset %d", ti.Name, ti.Offset, ti.FileOffset)
		}
		rb, err := ti.Type.RowBytes(ti.Dims[0])
		if err != nil || rb*(ti.NElements()/ti.Dims[0]) != ti.Size {
			t.Errorf("%s: size %d does not match %s %v (%v)", ti.Name, ti.Size, ti.Type, ti.Dims, err)
		}
	}
}

func countTypes(f *File) map[Type]int {
	m := map[Type]int{}
	for _, ti := range f.Tensors() {
		m[ti.Type]++
	}
	return m
}

func TestStories260kF32(t *testing.T) {
	f := openFixture(t, "gguf-stories260k", "tinyllamas-stories-260k-f32.gguf")
	if f.Version() != 1 || f.Alignment() != 32 {
		t.Errorf("version %d alignment %d, want 1 and 32", f.Version(), f.Alignment())
	}
	if n := len(f.Tensors()); n != 48 {
		t.Errorf("%d tensors, want 48", n)
	}
	if m := countTypes(f); m[TypeF32] != 48 {
		t.Errorf("types %v, want 48 f32", m)
	}
	wantKV(t, f.String, "general.architecture", "llama")
	wantKV(t, f.Uint, "llama.embedding_length", 64)
	wantKV(t, f.Uint, "llama.block_count", 5)
	wantKV(t, f.Uint, "llama.attention.head_count", 8)
	wantKV(t, f.Uint, "llama.attention.head_count_kv", 4)
	wantKV(t, f.Uint, "llama.feed_forward_length", 172)
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	scores, _ := f.Float32s("tokenizer.ggml.scores")
	types, _ := f.Int32s("tokenizer.ggml.token_type")
	if len(toks) != 512 || len(scores) != 512 || len(types) != 512 {
		t.Errorf("vocab arrays of %d/%d/%d, want 512", len(toks), len(scores), len(types))
	}
	wantTensor(t, f, "token_embd.weight", TypeF32, 64, 512)
	wantTensor(t, f, "blk.0.attn_q.weight", TypeF32, 64, 64)
	wantTensor(t, f, "blk.0.attn_k.weight", TypeF32, 64, 32) // 4 KV heads of 8
	for i := range 5 {
		wantTensor(t, f, fmt.Sprintf("blk.%d.ffn_down.weight", i), TypeF32, 172, 64)
		wantTensor(t, f, fmt.Sprintf("blk.%d.ffn_gate.weight", i), TypeF32, 64, 172)
	}
	checkTensorData(t, f)
	// The data is a real trained model: finite, not all zero.
	d := f.TensorData(0)
	nonzero := 0
	for i := 0; i+4 <= len(d); i += 4 {
		v := math.Float32frombits(binary.LittleEndian.Uint32(d[i:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite weight at byte %d", i)
		}
		if v != 0 {
			nonzero++
		}
	}
	if nonzero < len(d)/8 {
		t.Errorf("only %d nonzero weights in token_embd", nonzero)
	}
}

// The 2023 Q8_0 file stores ffn_down (ne0 = 172) as flat Q8_0 blocks; ggml
// rejects it today and so do we, naming the tensor.
func TestStories260kQ8_0Rejected(t *testing.T) {
	_, err := Open(sharedfiles.Path(t, "fixtures", "gguf-stories260k", "tinyllamas-stories-260k-q8_0.gguf"))
	wantErr(t, err, "tinyllamas-stories-260k-q8_0.gguf", `tensor "blk.0.ffn_down.weight"`,
		"ne0=172", "not a multiple of q8_0's block size 32", "offset ")
}

func TestLlamaTinyRandom(t *testing.T) {
	f := openFixture(t, "gguf-llama-tiny-random", "llama-2-tiny-random.gguf")
	if f.Version() != 3 || f.Alignment() != 32 || len(f.KVs()) != 18 || len(f.Tensors()) != 12 {
		t.Errorf("v%d align %d, %d KVs, %d tensors; want v3, 32, 18, 12",
			f.Version(), f.Alignment(), len(f.KVs()), len(f.Tensors()))
	}
	wantKV(t, f.Uint32, "general.file_type", 1)
	wantKV(t, f.Uint, "llama.embedding_length", 8)
	wantKV(t, f.Uint, "llama.block_count", 1)
	wantKV(t, f.Uint, "llama.attention.head_count", 2)
	if m := countTypes(f); m[TypeF16] != 9 || m[TypeF32] != 3 {
		t.Errorf("types %v, want 9 f16 and 3 f32", m)
	}
	wantTensor(t, f, "token_embd.weight", TypeF16, 8, 32000)
	wantTensor(t, f, "output.weight", TypeF16, 8, 32000)
	wantTensor(t, f, "blk.0.attn_q.weight", TypeF16, 8, 8)
	wantTensor(t, f, "blk.0.ffn_gate.weight", TypeF16, 8, 32)
	wantTensor(t, f, "blk.0.ffn_down.weight", TypeF16, 32, 8)
	for _, k := range []string{"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"} {
		if v, ok := f.KV(k); !ok || v.Type() != ValueArray || v.Len() != 32000 {
			t.Errorf("%s: %v", k, v)
		}
	}
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	if len(toks) > 2 && (toks[1] != "<s>" || toks[2] != "</s>") {
		t.Errorf("tokens[1:3] = %q", toks[1:3])
	}
	checkTensorData(t, f)
	// The key order is the file's.
	if k := f.KVs()[0].Key; k != "general.architecture" {
		t.Errorf("first key %q", k)
	}
}

func TestVocabFiles(t *testing.T) {
	cases := []struct {
		file    string
		version uint32
		model   string
		tokens  int
		merges  int // -1: absent
		pre     string
		check   func(t *testing.T, f *File)
	}{
		{"ggml-vocab-llama-spm.gguf", 3, "llama", 32000, -1, "default", func(t *testing.T, f *File) {
			wantKV(t, f.Bool, "tokenizer.ggml.add_bos_token", true)
			wantKV(t, f.Bool, "tokenizer.ggml.add_eos_token", false)
			if s, _ := f.Float32s("tokenizer.ggml.scores"); len(s) != 32000 {
				t.Errorf("%d scores", len(s))
			}
		}},
		{"ggml-vocab-gpt-2.gguf", 3, "gpt2", 50257, 50000, "gpt-2", nil},
		{"ggml-vocab-bert-bge.gguf", 3, "bert", 30522, -1, "bert-bge", func(t *testing.T, f *File) {
			wantKV(t, f.Bool, "bert.attention.causal", false)
			for _, k := range []string{"cls", "seperator", "mask", "padding"} {
				if _, ok := f.Uint("tokenizer.ggml." + k + "_token_id"); !ok {
					t.Errorf("%s_token_id missing", k)
				}
			}
		}},
		{"ggml-vocab-falcon.v2.gguf", 2, "gpt2", 65024, 64784, "", func(t *testing.T, f *File) {
			if s, _ := f.Float32s("tokenizer.ggml.scores"); len(s) != 65024 {
				t.Errorf("%d scores", len(s))
			}
		}},
		{"ggml-vocab-llama.v1.gguf", 1, "llama", 32000, -1, "", func(t *testing.T, f *File) {
			if n := len(f.KVs()); n != 12 {
				t.Errorf("%d KVs, want 12", n)
			}
			if _, ok := f.KV("general.name"); ok {
				t.Error("general.name present")
			}
			if s, _ := f.Float32s("tokenizer.ggml.scores"); len(s) != 32000 {
				t.Errorf("%d scores", len(s))
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			f := openFixture(t, "gguf-vocab", c.file)
			if f.Version() != c.version {
				t.Errorf("version %d, want %d", f.Version(), c.version)
			}
			if len(f.Tensors()) != 0 {
				t.Errorf("%d tensors", len(f.Tensors()))
			}
			// These files end right after the KVs, before the aligned data section.
			if f.DataOffset() <= f.Size() {
				t.Errorf("data offset %d, file size %d: expected the unpadded end", f.DataOffset(), f.Size())
			}
			wantKV(t, f.String, "tokenizer.ggml.model", c.model)
			toks, _ := f.Strings("tokenizer.ggml.tokens")
			if len(toks) != c.tokens {
				t.Errorf("%d tokens, want %d", len(toks), c.tokens)
			}
			merges, ok := f.Strings("tokenizer.ggml.merges")
			if c.merges < 0 && ok || c.merges >= 0 && len(merges) != c.merges {
				t.Errorf("%d merges (present %v), want %d", len(merges), ok, c.merges)
			}
			pre, ok := f.String("tokenizer.ggml.pre")
			if c.pre == "" && ok || pre != c.pre {
				t.Errorf("pre %q (present %v), want %q", pre, ok, c.pre)
			}
			if c.check != nil {
				c.check(t, f)
			}
		})
	}
}

func TestEndian(t *testing.T) {
	f := openFixture(t, "gguf-endian", "test-le-v3.gguf")
	if f.Version() != 3 || f.Alignment() != 64 || len(f.KVs()) != 6 {
		t.Errorf("v%d align %d %d KVs", f.Version(), f.Alignment(), len(f.KVs()))
	}
	wantKV(t, f.Uint32, "general.alignment", 64)
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	if !slices.Equal(toks, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("tokens %q", toks)
	}
	var sizes []int64
	for i, ti := range f.Tensors() {
		if ti.Type != TypeF32 || ti.Offset%64 != 0 {
			t.Errorf("%s: %s at %d", ti.Name, ti.Type, ti.Offset)
		}
		sizes = append(sizes, ti.NElements())
		want := float32(100 + i)
		if got := math.Float32frombits(binary.LittleEndian.Uint32(f.TensorData(i))); got != want {
			t.Errorf("%s[0] = %v, want %v", ti.Name, got, want)
		}
	}
	if !slices.Equal(sizes, []int64{32, 64, 96}) {
		t.Errorf("element counts %v", sizes)
	}
	checkTensorData(t, f)

	_, err := Open(sharedfiles.Path(t, "fixtures", "gguf-endian", "test-be-v3.gguf"))
	wantErr(t, err, "test-be-v3.gguf", "offset 4", "big-endian")
	if !errors.Is(err, ErrBigEndian) {
		t.Errorf("%v does not match ErrBigEndian", err)
	}
}

func TestInvalidFixtures(t *testing.T) {
	cases := []struct {
		file  string
		kind  error
		parts []string
	}{
		{"ollama-truncated-test.gguf", nil, []string{"offset 4", "truncated", "version"}},
		{"prerelease-FUGG-magic-example.gguf", ErrNotGGUF, []string{"offset 0", `"FUGG"`, "pre-release"}},
		{"TinyLLama-v0.ggmlv3.q4_0.bin", ErrNotGGUF, []string{"offset 0", "legacy GGJT"}},
		{"unknown-value-type-13-test_writer.gguf", nil, []string{"offset 204", `key "dict1"`, "unknown value type 13"}},
		{"safetensors_abuse_attempt_1.safetensors", ErrNotGGUF, []string{"bad magic", "not a GGUF file"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			_, err := Open(sharedfiles.Path(t, "fixtures", "invalid", c.file))
			wantErr(t, err, append([]string{c.file}, c.parts...)...)
			if c.kind != nil && !errors.Is(err, c.kind) {
				t.Errorf("%v does not match %v", err, c.kind)
			}
			if errors.Is(err, ErrBigEndian) {
				t.Errorf("%v matches ErrBigEndian", err)
			}
		})
	}
}

func TestOpenMissing(t *testing.T) {
	_, err := Open(t.TempDir() + "/nope.gguf")
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("Open of a missing file: %v", err)
	}
}
