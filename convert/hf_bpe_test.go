package convert

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/sharedfiles"
)

// TestBPEGPT2Vocab reads the GPT-2 tokenizer.json of hf-gpt2-tiny (the
// stock openai-community/gpt2 tokenizer: 50257 tokens, 50000 merges) and
// checks it against llama.cpp's own GPT-2 vocabulary GGUF, element by
// element.
func TestBPEGPT2Vocab(t *testing.T) {
	dir := sharedfiles.Path(t, "fixtures", "hf-gpt2-tiny")
	ref, err := gguf.Open(sharedfiles.Path(t, "fixtures", "gguf-vocab", "ggml-vocab-gpt-2.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	wantTokens, ok1 := ref.Strings("tokenizer.ggml.tokens")
	wantTypes, ok2 := ref.Int32s("tokenizer.ggml.token_type")
	wantMerges, ok3 := ref.Strings("tokenizer.ggml.merges")
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("reference GGUF lacks tokens/token_type/merges (%v %v %v)", ok1, ok2, ok3)
	}
	if m, _ := ref.String("tokenizer.ggml.model"); m != "gpt2" {
		t.Fatalf("reference model = %q", m)
	}
	if len(wantTokens) != 50257 || len(wantMerges) != 50000 {
		t.Fatalf("reference has %d tokens and %d merges, expected GPT-2's 50257 and 50000", len(wantTokens), len(wantMerges))
	}
	wantPre, _ := ref.String("tokenizer.ggml.pre")

	v, err := parseBPETokenizer(dir, 50257) // config.json's vocab_size
	if err != nil {
		t.Fatal(err)
	}
	if v.pre != wantPre || v.pre != "gpt-2" || v.preNote != "" {
		t.Errorf("pre = %q (note %q), reference %q", v.pre, v.preNote, wantPre)
	}
	compare := func(what string, got, want []string) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: %d entries, reference %d", what, len(got), len(want))
		}
		bad := 0
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				if bad++; bad <= 5 {
					t.Errorf("%s[%d] = %q, reference %q", what, i, got[i], want[i])
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d differ", what, bad, len(want))
		}
	}
	compare("tokens", v.tokens, wantTokens)
	compare("merges", v.merges, wantMerges)
	types := make([]string, len(v.types))
	for i, x := range v.types {
		types[i] = fmt.Sprint(x)
	}
	want := make([]string, len(wantTypes))
	for i, x := range wantTypes {
		want[i] = fmt.Sprint(x)
	}
	compare("token_type", types, want)
	if v.types[50256] != tokControl || v.tokens[50256] != "<|endoftext|>" {
		t.Errorf("token 50256 = %q type %d, want <|endoftext|> control", v.tokens[50256], v.types[50256])
	}

	// merges.txt gives the same merges when tokenizer.json has none.
	fromTxt, err := readMergesTxt(filepath.Join(dir, "merges.txt"))
	if err != nil {
		t.Fatal(err)
	}
	compare("merges.txt", fromTxt, wantMerges)
}

// TestBPEPreName checks the pre-tokenizer table on the layouts it knows
// and on unknown ones.
func TestBPEPreName(t *testing.T) {
	split := func(re string) string {
		b, _ := json.Marshal(re)
		return `{"type":"Split","pattern":{"Regex":` + string(b) + `},"behavior":"Isolated","invert":false}`
	}
	seq := func(steps ...string) string {
		s := `{"type":"Sequence","pretokenizers":[`
		for i, x := range steps {
			if i > 0 {
				s += ","
			}
			s += x
		}
		return s + "]}"
	}
	const bl = `{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}`
	const blRe = `{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}`
	for _, c := range []struct{ name, json, want string }{
		{"gpt-2 byte-level", blRe, "gpt-2"},
		{"gpt-2 byte-level default use_regex", `{"type":"ByteLevel"}`, "gpt-2"},
		{"gpt-2 split", seq(split(bpeRegexGPT2), bl), "gpt-2"},
		{"llama 3", seq(split(bpeRegexLlama3), bl), "llama-bpe"},
		{"qwen2", seq(split(bpeRegexQwen2), bl), "qwen2"},
		{"split plus byte-level regex", seq(split(bpeRegexLlama3), blRe), ""},
		{"unknown regex", seq(split(`\s+`), bl), ""},
		{"unknown step", seq(`{"type":"Digits","individual_digits":true}`, blRe), ""},
		{"byte-level without regex", bl, ""},
		{"none", `null`, ""},
	} {
		got, err := bpePreName(json.RawMessage(c.json))
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

// writeJSON writes v as JSON to dir/name.
func writeJSON(t *testing.T, dir, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHFLlamaBPE converts a llama checkpoint whose only vocabulary is a
// Llama-3-style tokenizer.json: a gap in the ids, special and non-special
// added tokens, and merges stored as pairs.
func TestHFLlamaBPE(t *testing.T) {
	dir := hfDir(t, "hf-stories260k", nil, "tokenizer.model")
	vocab := map[string]int{}
	for i := range 509 { // ids 0..508; 509 is a gap
		vocab[fmt.Sprintf("t%d", i)] = i
	}
	writeJSON(t, dir, "tokenizer.json", map[string]any{
		"added_tokens": []any{
			map[string]any{"id": 510, "content": "<|begin_of_text|>", "special": true, "normalized": false},
			map[string]any{"id": 511, "content": "my\u2581word", "special": false, "normalized": false},
		},
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": bpeRegexLlama3}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}},
		"decoder": map[string]any{"type": "ByteLevel"},
		"model": map[string]any{"type": "BPE", "vocab": vocab,
			"merges": []any{[]string{"t1", "t2"}, []string{"a b", "c"}}},
	})
	s, err := OpenHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	str := func(key string) string {
		v, ok := s.KV(key)
		if !ok {
			t.Fatalf("no %s", key)
		}
		x, _ := v.AsString()
		return x
	}
	if m, p := str("tokenizer.ggml.model"), str("tokenizer.ggml.pre"); m != "gpt2" || p != "llama-bpe" {
		t.Errorf("model %q pre %q, want gpt2 llama-bpe", m, p)
	}
	if _, ok := s.KV("tokenizer.ggml.scores"); ok {
		t.Error("a BPE vocabulary has no scores")
	}
	get := func(key string) gguf.Value {
		v, ok := s.KV(key)
		if !ok {
			t.Fatalf("no %s", key)
		}
		return v
	}
	tokens, _ := get("tokenizer.ggml.tokens").Interface().([]string)
	types, _ := get("tokenizer.ggml.token_type").Interface().([]int32)
	merges, _ := get("tokenizer.ggml.merges").Interface().([]string)
	if len(tokens) != 512 || len(types) != 512 {
		t.Fatalf("%d tokens, %d types, want 512", len(tokens), len(types))
	}
	for _, c := range []struct {
		id  int
		tok string
		typ int32
	}{{0, "t0", tokNormal}, {508, "t508", tokNormal}, {509, "[PAD509]", tokUnused},
		{510, "<|begin_of_text|>", tokControl}, {511, "my word", tokUserDefined}} {
		if tokens[c.id] != c.tok || types[c.id] != c.typ {
			t.Errorf("token %d = %q type %d, want %q type %d", c.id, tokens[c.id], types[c.id], c.tok, c.typ)
		}
	}
	if want := []string{"t1 t2", "a\u0120b c"}; !slices.Equal(merges, want) {
		t.Errorf("merges %q, want %q", merges, want)
	}

	// A SentencePiece-style tokenizer.json (byte fallback, Sequence
	// decoder) is not GPT-2 BPE: refused.
	writeJSON(t, dir, "tokenizer.json", map[string]any{
		"decoder": map[string]any{"type": "Sequence"},
		"model":   map[string]any{"type": "BPE", "byte_fallback": true, "vocab": vocab, "merges": []any{}},
	})
	if _, err := OpenHF(dir); !errors.Is(err, ErrUnsupportedArch) {
		t.Errorf("SentencePiece-style tokenizer.json: %v", err)
	}
}
