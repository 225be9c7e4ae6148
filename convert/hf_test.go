package convert

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/sharedfiles"
	"github.com/qconv/qconv/safetensors"
)

// writeGGUF converts in to target into a temporary GGUF and opens it.
func writeGGUF(t *testing.T, in, to string, mod func(*Options)) *gguf.File {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.gguf")
	p := plan(t, in, to, mod)
	if _, err := p.Write(t.Context(), out, RunOptions{Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestHFStories260kF32 converts the Hugging Face layout of stories260K to
// F32 and checks the result against the GGUF the weights came from: every
// tensor identical (name, shape, type, bytes: this proves the name map and
// the Q/K permutation), and every metadata key equal except the ones
// listed below with the reason they legitimately differ.
func TestHFStories260kF32(t *testing.T) {
	in := sharedfiles.Path(t, "fixtures", "hf-stories260k")
	orig, err := gguf.Open(sharedfiles.Path(t, "fixtures", "gguf-stories260k", "tinyllamas-stories-260k-f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	got := writeGGUF(t, in, "f32", nil)

	if len(got.Tensors()) != len(orig.Tensors()) {
		t.Errorf("%d tensors, the original has %d", len(got.Tensors()), len(orig.Tensors()))
	}
	for i, want := range orig.Tensors() {
		gi := got.TensorIndex(want.Name)
		if gi < 0 {
			t.Errorf("tensor %s missing", want.Name)
			continue
		}
		g := got.Tensors()[gi]
		if g.Type != want.Type || !slices.Equal(g.Dims, want.Dims) {
			t.Errorf("%s: %s %v, want %s %v", want.Name, g.Type, g.Dims, want.Type, want.Dims)
			continue
		}
		if !bytes.Equal(got.TensorData(gi), orig.TensorData(i)) {
			t.Errorf("%s: data differs from the original", want.Name)
		}
	}

	// Keys that differ, and why.
	onlyOrig := map[string]string{
		// Written by the 2023 llama2.c -> GGUF converter, not by convert_hf_to_gguf.py.
		"llama.tensor_data_layout": "llama2.c converter only",
		// The llama2.c converter set pad = 0; the HF checkpoint names no pad
		// token (config.json, tokenizer_config.json), so SpecialVocab writes none.
		"tokenizer.ggml.padding_token_id": "no pad token in the checkpoint",
	}
	onlyGot := map[string]string{
		"general.type":                 "gguf-py writes it for every model",
		"general.size_label":           "from the parameter count",
		"general.quantization_version": "convert_hf_to_gguf.py always writes 2",
		"general.file_type":            "ALL_F32 = 0",
		"llama.rope.freq_base":         "rope_theta from config.json",
		"llama.vocab_size":             "vocab_size from config.json",
		"tokenizer.ggml.pre":           "SentencePiece llama: default",
		"tokenizer.ggml.add_bos_token": "tokenizer_config.json add_bos_token",
		"tokenizer.ggml.add_eos_token": "tokenizer_config.json add_eos_token",
	}
	differ := map[string]string{
		"general.name": "the directory name (no model card), not the llama2.c converter's name",
	}
	var bad []string
	for _, kv := range orig.KVs() {
		v, ok := got.KV(kv.Key)
		switch {
		case !ok && onlyOrig[kv.Key] == "":
			bad = append(bad, "missing "+kv.Key)
		case ok && onlyOrig[kv.Key] != "":
			bad = append(bad, "unexpectedly present "+kv.Key)
		case ok && !v.Equal(kv.Value) && differ[kv.Key] == "":
			bad = append(bad, "differs "+kv.Key+": "+v.String()+" want "+kv.Value.String())
		case ok && v.Equal(kv.Value) && differ[kv.Key] != "":
			bad = append(bad, "unexpectedly equal "+kv.Key)
		}
	}
	for _, kv := range got.KVs() {
		if _, ok := orig.KV(kv.Key); !ok && onlyGot[kv.Key] == "" {
			bad = append(bad, "extra "+kv.Key+" = "+kv.Value.String())
		}
	}
	for k := range onlyGot {
		if _, ok := got.KV(k); !ok {
			bad = append(bad, "expected key missing "+k)
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
	// The added keys hold what the format rules give for this checkpoint.
	checks := map[string]gguf.Value{
		"general.architecture":         gguf.String("llama"),
		"general.type":                 gguf.String("model"),
		"general.name":                 gguf.String("hf-stories260k"),
		"general.size_label":           gguf.String("293K"), // 292,800 weights
		"general.file_type":            gguf.Uint32(0),
		"general.quantization_version": gguf.Uint32(2),
		"llama.rope.freq_base":         gguf.Float32(10000),
		"llama.vocab_size":             gguf.Uint32(512),
		"tokenizer.ggml.pre":           gguf.String("default"),
		"tokenizer.ggml.add_bos_token": gguf.Bool(true),
		"tokenizer.ggml.add_eos_token": gguf.Bool(false),
	}
	for k, want := range checks {
		if v, ok := got.KV(k); !ok || !v.Equal(want) {
			t.Errorf("%s = %v, want %v", k, v, want)
		}
	}
}

// TestHFStories260kBF16Sharded checks the sharded BF16 checkpoint: 2-D
// tensors keep BF16 under --to bf16 (a raw copy, rows permuted for Q/K),
// norms become F32 as convert_hf_to_gguf.py writes them, and the Q/K
// permutation gives the original rows rounded to BF16.
func TestHFStories260kBF16Sharded(t *testing.T) {
	in := sharedfiles.Path(t, "fixtures", "hf-stories260k-bf16-sharded")
	orig, err := OpenSource(sharedfiles.Path(t, "fixtures", "gguf-stories260k", "tinyllamas-stories-260k-f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	for _, to := range []string{"bf16", "f32"} {
		t.Run(to, func(t *testing.T) {
			got := writeGGUF(t, in, to, nil)
			for _, ot := range orig.Tensors {
				gi := got.TensorIndex(ot.Name)
				if gi < 0 {
					t.Fatalf("tensor %s missing", ot.Name)
				}
				ti := got.Tensors()[gi]
				wantType := gguf.TypeF32
				if to == "bf16" && len(ot.Dims) == 2 {
					wantType = gguf.TypeBF16
				}
				if ti.Type != wantType {
					t.Fatalf("%s: %s, want %s", ot.Name, ti.Type, wantType)
				}
				want := make([]float32, ot.Elements())
				if err := ot.ReadRows(0, ot.Rows(), want); err != nil {
					t.Fatal(err)
				}
				gt := &Tensor{Name: ti.Name, Dims: ti.Dims, Type: ti.Type, data: got.TensorData(gi), rowLen: ti.Dims[0]}
				have := make([]float32, gt.Elements())
				if err := gt.ReadRows(0, gt.Rows(), have); err != nil {
					t.Fatal(err)
				}
				for k := range want {
					if have[k] != bf16Round(want[k]) {
						t.Fatalf("%s[%d] = %v, want %v rounded to bf16", ot.Name, k, have[k], want[k])
					}
				}
			}
		})
	}
}

func bf16Round(f float32) float32 {
	u := math.Float32bits(f)
	u += 0x7fff + (u>>16)&1
	return math.Float32frombits(u &^ 0xffff)
}

// TestPermuteRows checks the row mapping against the definition
// reshape(heads, 2, rows/heads/2, cols).swapaxes(1, 2), written out for
// 2 heads of 6 rows: stored rows per head are [a0 a1 a2 b0 b1 b2] (the two
// rotate-half halves), output rows interleave them as [a0 b0 a1 b1 a2 b2].
func TestPermuteRows(t *testing.T) {
	data := make([]byte, 12*2*4) // 12 rows of 2 F32
	for r := 0; r < 12; r++ {
		for c := 0; c < 2; c++ {
			putF32(data[(r*2+c)*4:], float32(r*10+c))
		}
	}
	tt := &Tensor{Name: "q", Dims: []int64{2, 12}, Type: gguf.TypeF32, DType: "F32", data: data, stDT: safetensors.F32, rowLen: 2}
	if err := permuteRows(tt, 2); err != nil {
		t.Fatal(err)
	}
	want := []int64{0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11}
	if !slices.Equal(tt.rowMap, want) {
		t.Fatalf("rowMap %v, want %v", tt.rowMap, want)
	}
	got := make([]float32, 24)
	if err := tt.ReadRows(0, 12, got); err != nil {
		t.Fatal(err)
	}
	for r, src := range want {
		if got[r*2] != float32(src*10) || got[r*2+1] != float32(src*10+1) {
			t.Fatalf("row %d = %v, want stored row %d", r, got[r*2:r*2+2], src)
		}
	}
	// The raw copy follows the mapping too.
	raw := tt.rawRows(4, 3)
	for i, src := range want[4:7] {
		if !bytes.Equal(raw[i*8:(i+1)*8], data[src*8:(src+1)*8]) {
			t.Fatalf("raw row %d is not stored row %d", 4+i, src)
		}
	}
	// A bias is permuted element by element.
	bias := &Tensor{Name: "b", Dims: []int64{4}, Type: gguf.TypeF32, data: append([]byte(nil), data[:16]...), stDT: safetensors.F32, rowLen: 4}
	if err := permuteRows(bias, 1); err != nil {
		t.Fatal(err)
	}
	b := make([]float32, 4)
	bias.ReadRows(0, 1, b)
	if !slices.Equal(b, []float32{0, 10, 1, 11}) { // elements 0 1 10 11 -> 0 10 1 11
		t.Fatalf("bias %v", b)
	}
	if err := permuteRows(&Tensor{Name: "odd", Dims: []int64{2, 6}, rowLen: 2}, 4); !errors.Is(err, ErrConfigMismatch) {
		t.Errorf("6 rows over 4 heads: %v", err)
	}
}

// hfDir makes a copy of a fixture checkpoint in a temporary directory (its
// files linked) with config.json edited by edit.
func hfDir(t *testing.T, fixture string, edit func(cfg string) string, drop ...string) string {
	t.Helper()
	src := sharedfiles.Path(t, "fixtures", fixture)
	dir := filepath.Join(t.TempDir(), fixture)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if slices.Contains(drop, e.Name()) {
			continue
		}
		p := filepath.Join(src, e.Name())
		if e.Name() == "config.json" && edit != nil {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, e.Name()), []byte(edit(string(b))), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.Symlink(p, filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestHFErrors checks that checkpoints qconv cannot convert faithfully are
// refused with a clear error instead of giving a broken file.
func TestHFErrors(t *testing.T) {
	repl := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				t.Fatalf("config has no %q", old)
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	cases := []struct {
		name   string
		dir    func(t *testing.T) string
		is     error
		errHas []string
	}{
		{"minicpm3", func(t *testing.T) string { return sharedfiles.Path(t, "fixtures", "hf-minicpm3-synthetic") },
			ErrUnsupportedArch, []string{"MiniCPM3ForCausalLM", "LlamaForCausalLM", "MistralForCausalLM", "--raw"}},
		{"gpt2 n_embd", func(t *testing.T) string { return hfDir(t, "hf-gpt2-tiny", repl(`"n_embd": 2`, `"n_embd": 4`)) },
			ErrConfigMismatch, []string{"transformer.h.0.attn.c_attn.bias", "blk.0.attn_qkv.bias", "[6]", "[12]"}},
		{"hidden size", func(t *testing.T) string {
			return hfDir(t, "hf-stories260k", repl(`"hidden_size": 64`, `"hidden_size": 128`))
		},
			ErrConfigMismatch, []string{"model.embed_tokens.weight", "[512, 64]", "[512, 128]"}},
		{"missing layer", func(t *testing.T) string {
			return hfDir(t, "hf-stories260k", repl(`"num_hidden_layers": 5`, `"num_hidden_layers": 6`))
		}, ErrConfigMismatch, []string{"blk.5.attn_q.weight", "blk.5.ffn_down.weight"}},
		{"extra layer", func(t *testing.T) string {
			return hfDir(t, "hf-stories260k", repl(`"num_hidden_layers": 5`, `"num_hidden_layers": 4`))
		}, ErrConfigMismatch, []string{"model.layers.4.", "num_hidden_layers is 4"}},
		{"kv heads", func(t *testing.T) string {
			return hfDir(t, "hf-stories260k", repl(`"num_key_value_heads": 4`, `"num_key_value_heads": 8`))
		}, ErrConfigMismatch, []string{"k_proj", "[32, 64]", "[64, 64]"}},
		{"vocab size", func(t *testing.T) string {
			return hfDir(t, "hf-stories260k", repl(`"vocab_size": 512`, `"vocab_size": 500`))
		},
			ErrConfigMismatch, []string{"embed_tokens", "[500, 64]"}},
		{"no tokenizer", func(t *testing.T) string { return hfDir(t, "hf-stories260k", nil, "tokenizer.model") },
			ErrUnsupportedArch, []string{"tokenizer.model"}},
		{"unknown arch", func(t *testing.T) string {
			return hfDir(t, "hf-stories260k", repl(`"LlamaForCausalLM"`, `"FancyForCausalLM"`))
		}, ErrUnsupportedArch, []string{"FancyForCausalLM", "LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM, Phi3ForCausalLM, Qwen2ForCausalLM"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := c.dir(t) // the subtest's t: a missing fixture skips the case, not the parent
			s, err := OpenSource(dir)
			if err == nil {
				s.Close()
				t.Fatal("opened without error")
			}
			if !errors.Is(err, c.is) {
				t.Errorf("error %v is not %v", err, c.is)
			}
			for _, h := range c.errHas {
				if !strings.Contains(err.Error(), h) {
					t.Errorf("error %q lacks %q", err, h)
				}
			}
			// --raw still opens it, with the stored names.
			s, err = OpenSourceWith(dir, SourceOptions{Raw: true})
			if err != nil {
				t.Fatalf("raw: %v", err)
			}
			defer s.Close()
			if len(s.Tensors) == 0 || strings.HasPrefix(s.Tensors[0].Name, "blk.") {
				t.Errorf("raw source has tensors %v...", s.Tensors[0].Name)
			}
		})
	}
}

// protoPiece encodes one ModelProto.pieces entry.
func protoPiece(piece string, score float32, typ int) []byte {
	var m []byte
	m = append(m, 0x0a, byte(len(piece)))
	m = append(m, piece...)
	m = append(m, 0x15, 0, 0, 0, 0)
	putF32(m[len(m)-4:], score)
	if typ != 0 {
		m = append(m, 0x18, byte(typ))
	}
	return append([]byte{0x0a, byte(len(m))}, m...)
}

func TestParseSentencePiece(t *testing.T) {
	var b []byte
	for i, p := range []struct {
		s   string
		typ int
	}{{"<unk>", spUnknown}, {"<s>", spControl}, {"<0x0A>", spByte}, {"\u2581the", 0}, {"<x>", spUserDefined}, {"<u>", spUnused}} {
		b = append(b, protoPiece(p.s, -float32(i), p.typ)...)
	}
	b = append(b, 0x12, 0x02, 0x18, 0x02) // trainer_spec { model_type: BPE }
	b = append(b, 0x1a, 0x02, 0x18, 0x01) // normalizer_spec, skipped
	m, err := parseSentencePiece(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.ModelType != 2 || len(m.Pieces) != 6 || m.Pieces[3].Piece != "\u2581the" || m.Pieces[3].Score != -3 {
		t.Fatalf("%+v", m)
	}
	var types []int32
	for _, p := range m.Pieces {
		types = append(types, llamaTokenType(p.Type))
	}
	// A user-defined piece is NORMAL, as convert_hf_to_gguf.py records it.
	if want := []int32{tokUnknown, tokControl, tokByte, tokNormal, tokNormal, tokUnused}; !slices.Equal(types, want) {
		t.Errorf("token types %v, want %v", types, want)
	}
	for _, bad := range [][]byte{b[:5], b[:len(b)-3], {0x0b}, {0x0a, 0x7f}, {0x0a, 0x02, 0x0a, 0x01, 0xff}, nil} {
		if _, err := parseSentencePiece(bad); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
}

// TestHFSpecialVocab checks the tokenizer metadata rules on an edited
// checkpoint: added_tokens_decoder entries (control when special or when
// they look special, user-defined otherwise, score -1000), special ids
// from config.json (a list is ignored), and the chat template.
func TestHFSpecialVocab(t *testing.T) {
	dir := hfDir(t, "hf-stories260k", func(s string) string {
		return strings.Replace(s, `"eos_token_id": 2`, `"eos_token_id": [2, 3], "pad_token_id": 0, "unk_token_id": 600`, 1)
	}, "tokenizer_config.json")
	tc := `{"add_bos_token": false, "add_prefix_space": false, "chat_template": "{{ messages }}",
		"added_tokens_decoder": {"5": {"content": "<|im_end|>", "special": false}, "6": {"content": "my\u2581word", "special": false}, "7": {"content": "<ctl>", "special": true}}}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(tc), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	get := func(k string) gguf.Value { v, _ := s.KV(k); return v }
	toks, _ := get("tokenizer.ggml.tokens").Interface().([]string)
	types, _ := get("tokenizer.ggml.token_type").Interface().([]int32)
	scores, _ := get("tokenizer.ggml.scores").Interface().([]float32)
	if len(toks) != 512 || toks[5] != "<|im_end|>" || toks[6] != "my word" || toks[7] != "<ctl>" {
		t.Fatalf("tokens %q", toks[:8])
	}
	if !slices.Equal(types[5:8], []int32{tokControl, tokUserDefined, tokControl}) || scores[5] != -1000 || scores[7] != -1000 {
		t.Errorf("types %v scores %v", types[5:8], scores[5:8])
	}
	want := map[string]gguf.Value{
		"tokenizer.ggml.bos_token_id":     gguf.Uint32(1),
		"tokenizer.ggml.padding_token_id": gguf.Uint32(0),
		"tokenizer.ggml.add_bos_token":    gguf.Bool(false),
		"tokenizer.ggml.add_space_prefix": gguf.Bool(false),
		"tokenizer.chat_template":         gguf.String("{{ messages }}"),
	}
	for k, w := range want {
		if v, ok := s.KV(k); !ok || !v.Equal(w) {
			t.Errorf("%s = %v, want %v", k, v, w)
		}
	}
	for _, k := range []string{"tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_eos_token"} {
		if v, ok := s.KV(k); ok {
			t.Errorf("%s = %v, want absent (list / out of range / not in tokenizer_config.json)", k, v)
		}
	}
}

// TestHFRopeScaling checks the rope scaling metadata and llama3's
// rope_freqs tensor (for head_dim 8, theta 10000, original context 64:
// wavelengths 2π·10^i for i = 0..3 against the bounds 64/4 and 64/1).
func TestHFRopeScaling(t *testing.T) {
	with := func(rope string) string {
		return hfDir(t, "hf-stories260k", func(s string) string {
			return strings.Replace(s, `"rope_theta": 10000.0,`, `"rope_theta": 10000.0, "rope_scaling": `+rope+`,`, 1)
		})
	}
	s, err := OpenSource(with(`{"type": "linear", "factor": 4.0}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.KV("llama.rope.scaling.type"); !v.Equal(gguf.String("linear")) {
		t.Errorf("scaling type %v", v)
	}
	if v, _ := s.KV("llama.rope.scaling.factor"); !v.Equal(gguf.Float32(4)) {
		t.Errorf("scaling factor %v", v)
	}
	s.Close()

	s, err = OpenSource(with(`{"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 256, "beta_fast": 32}`))
	if err != nil {
		t.Fatal(err)
	}
	for k, w := range map[string]gguf.Value{"type": gguf.String("yarn"), "original_context_length": gguf.Uint32(256), "yarn_beta_fast": gguf.Float32(32)} {
		if v, _ := s.KV("llama.rope.scaling." + k); !v.Equal(w) {
			t.Errorf("%s = %v, want %v", k, v, w)
		}
	}
	s.Close()

	s, err = OpenSource(with(`{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}`))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rf := s.Tensors[0]
	if rf.Name != "rope_freqs.weight" || rf.Type != gguf.TypeF32 || !slices.Equal(rf.Dims, []int64{4}) {
		t.Fatalf("first tensor %s %s %v", rf.Name, rf.Type, rf.Dims)
	}
	got := make([]float32, 4)
	if err := rf.ReadRows(0, 1, got); err != nil {
		t.Fatal(err)
	}
	smooth := (64/(2*math.Pi*10) - 1) / 3
	want := []float64{1, 1 / ((1-smooth)/8 + smooth), 8, 8}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-5*want[i] {
			t.Errorf("rope_freqs %v, want %v", got, want)
			break
		}
	}
	if _, err := OpenSource(with(`{"rope_type": "longrope", "factor": 2.0}`)); !errors.Is(err, ErrUnsupportedArch) {
		t.Errorf("longrope: %v", err)
	}
}
