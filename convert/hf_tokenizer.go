package convert

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/qconv/qconv/gguf"
)

// setKV sets key in h.kvs, replacing an earlier value in place (as
// gguf-py's writer does when a key is added twice).
func (h *hfCheckpoint) setKV(key string, v gguf.Value) {
	for i := range h.kvs {
		if h.kvs[i].Key == key {
			h.kvs[i].Value = v
			return
		}
	}
	h.kvs = append(h.kvs, gguf.KV{Key: key, Value: v})
}

// hfVocab is a converted vocabulary.
type hfVocab struct {
	tokens []string
	scores []float32
	types  []int32
}

// spStyle selects how added tokens enter a SentencePiece vocabulary.
type spStyle int

const (
	// spStyleLlama is convert_hf_to_gguf.py's _create_vocab_sentencepiece
	// (llama, qwen2, gemma*).
	spStyleLlama spStyle = iota
	// spStylePhi3 is Phi3MiniModel.set_vocab: added_tokens_decoder entries
	// and then tokenizer.json's added_tokens are taken as they are
	// (control when special, user-defined otherwise, no special-looking
	// guess, no "▁" rewriting).
	spStylePhi3
)

// spVocab writes the tokenizer.ggml keys of the SentencePiece vocabulary
// in tokenizer.model (model "llama", pre "default", tokens, scores, token
// types) and returns the number of tokens.
func (h *hfCheckpoint) spVocab(nVocab int64, style spStyle) (int64, error) {
	v, err := h.sentencePieceVocab(nVocab, style)
	if err != nil {
		return 0, err
	}
	h.setKV("tokenizer.ggml.model", gguf.String("llama"))
	h.setKV("tokenizer.ggml.pre", gguf.String("default"))
	h.setKV("tokenizer.ggml.tokens", gguf.Array(v.tokens))
	h.setKV("tokenizer.ggml.scores", gguf.Array(v.scores))
	h.setKV("tokenizer.ggml.token_type", gguf.Array(v.types))
	return int64(len(v.tokens)), nil
}

// bpeVocab writes the tokenizer.ggml keys of the byte-level BPE vocabulary
// in tokenizer.json (model "gpt2", pre, tokens, token types, merges) and
// returns the number of tokens. A pre-tokenizer qconv does not recognize
// gives pre "default" and a warning.
func (h *hfCheckpoint) bpeVocab(nVocab int64) (int64, error) {
	path := filepath.Join(h.dir, "tokenizer.json")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("no tokenizer.json: %w (qconv reads a byte-level BPE vocabulary from tokenizer.json; vocab.json and merges.txt alone are not read)", ErrUnsupportedArch)
	}
	v, err := parseBPETokenizer(h.dir, nVocab)
	if err != nil {
		return 0, err
	}
	if v.preNote != "" {
		h.warn("%s: %s", path, v.preNote)
	}
	h.setKV("tokenizer.ggml.model", gguf.String("gpt2"))
	h.setKV("tokenizer.ggml.pre", gguf.String(v.pre))
	h.setKV("tokenizer.ggml.tokens", gguf.Array(v.tokens))
	h.setKV("tokenizer.ggml.token_type", gguf.Array(v.types))
	if len(v.merges) > 0 {
		h.setKV("tokenizer.ggml.merges", gguf.Array(v.merges))
	}
	return int64(len(v.tokens)), nil
}

// sentencePieceVocab builds the vocabulary the way convert_hf_to_gguf.py
// does from tokenizer.model: vocabSize entries (unfilled ones are
// "[PADi]", score -10000, unused), the model's pieces with their scores
// and types, then added_tokens.json (user-defined, score -1000; ids out of
// range skipped) and tokenizer_config.json's added_tokens_decoder (score
// -1000). With spStyleLlama, a decoder entry is control when special or
// when its text looks special, else user-defined with "▁" written as a
// space, and an id out of range is skipped with a warning; with
// spStylePhi3 it is control when special, else user-defined, as stored,
// tokenizer.json's added_tokens follow the same rule, and an id out of
// range is an error (the script fails on it).
func (h *hfCheckpoint) sentencePieceVocab(vocabSize int64, style spStyle) (*hfVocab, error) {
	path := filepath.Join(h.dir, "tokenizer.model")
	sp, err := readSentencePiece(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no tokenizer.model: %w (and no tokenizer.json: qconv needs a SentencePiece tokenizer.model or a BPE tokenizer.json)", ErrUnsupportedArch)
		}
		return nil, err
	}
	if vocabSize <= 0 {
		vocabSize = int64(len(sp.Pieces))
	}
	if int64(len(sp.Pieces)) > vocabSize {
		return nil, fmt.Errorf("%w: tokenizer.model has %d pieces, more than vocab_size %d", ErrConfigMismatch, len(sp.Pieces), vocabSize)
	}
	v := &hfVocab{tokens: make([]string, vocabSize), scores: make([]float32, vocabSize), types: make([]int32, vocabSize)}
	for i := range v.tokens {
		v.tokens[i] = "[PAD" + strconv.Itoa(i) + "]"
		v.scores[i] = -10000
		v.types[i] = tokUnused
	}
	for i, p := range sp.Pieces {
		v.tokens[i], v.scores[i], v.types[i] = p.Piece, p.Score, llamaTokenType(p.Type)
	}
	added, err := readHFJSONFile(filepath.Join(h.dir, "added_tokens.json"))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(added))
	for k := range added {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		id, ok := jsonInt(added[k])
		if !ok || id < 0 || id >= vocabSize {
			continue // the script skips ids out of range
		}
		v.tokens[id], v.scores[id], v.types[id] = k, -1000, tokUserDefined
	}
	tc, err := readHFJSONFile(filepath.Join(h.dir, "tokenizer_config.json"))
	if err != nil {
		return nil, err
	}
	// set applies one added token.
	set := func(from string, id int64, content string, special bool) error {
		if id < 0 || id >= vocabSize {
			if style == spStylePhi3 {
				return fmt.Errorf("%w: %s: added token %d is outside the vocabulary of %d", ErrConfigMismatch, from, id, vocabSize)
			}
			h.warn("%s: added token %d (%q) is outside the vocabulary of %d; skipped, as convert_hf_to_gguf.py skips it", from, id, content, vocabSize)
			return nil
		}
		switch {
		case special:
			v.types[id] = tokControl
		case style == spStyleLlama && looksSpecial(content):
			v.types[id] = tokControl
		case style == spStyleLlama:
			content = strings.ReplaceAll(content, "\u2581", " ")
			v.types[id] = tokUserDefined
		default:
			v.types[id] = tokUserDefined
		}
		v.tokens[id], v.scores[id] = content, -1000
		return nil
	}
	if dec, ok := tc["added_tokens_decoder"].(map[string]any); ok {
		ids := make([]int64, 0, len(dec))
		for k := range dec {
			id, err := strconv.ParseInt(k, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("tokenizer_config.json: added_tokens_decoder key %q is not a token id", k)
			}
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			e, _ := dec[strconv.FormatInt(id, 10)].(map[string]any)
			content, ok := e["content"].(string)
			if !ok {
				return nil, fmt.Errorf("tokenizer_config.json: added token %d has no content", id)
			}
			special, _ := e["special"].(bool)
			if err := set("tokenizer_config.json", id, content, special); err != nil {
				return nil, err
			}
		}
	}
	if style == spStylePhi3 {
		tj, err := readHFJSONFile(filepath.Join(h.dir, "tokenizer.json"))
		if err != nil {
			return nil, err
		}
		list, _ := tj["added_tokens"].([]any)
		for i, a := range list {
			e, _ := a.(map[string]any)
			id, okID := jsonInt(e["id"])
			content, okC := e["content"].(string)
			if !okID || !okC {
				return nil, fmt.Errorf("tokenizer.json: added token %d has no integer id or no content", i)
			}
			special, _ := e["special"].(bool)
			if err := set("tokenizer.json", id, content, special); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// looksSpecial is convert_hf_to_gguf.py's guess that an added token not
// marked special is still a control token.
func looksSpecial(s string) bool {
	switch s {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return (strings.HasPrefix(s, "<|") && strings.HasSuffix(s, "|>")) ||
		(strings.HasPrefix(s, "<｜") && strings.HasSuffix(s, "｜>")) ||
		(strings.HasPrefix(s, "<unused") && strings.HasSuffix(s, ">"))
}

// specialTokenKeys are gguf-py's key names for the special token kinds,
// in the order its SpecialVocab visits them.
var specialTokenKeys = []struct{ typ, key string }{
	{"bos", "tokenizer.ggml.bos_token_id"},
	{"eos", "tokenizer.ggml.eos_token_id"},
	{"unk", "tokenizer.ggml.unknown_token_id"},
	{"sep", "tokenizer.ggml.seperator_token_id"}, // sic: the GGUF key is spelled this way
	{"pad", "tokenizer.ggml.padding_token_id"},
	{"cls", "tokenizer.ggml.cls_token_id"},
	{"mask", "tokenizer.ggml.mask_token_id"},
}

// specialVocab writes what gguf-py's SpecialVocab finds: special token ids
// (tokenizer_config.json's token texts looked up among tokenizer.json's
// added tokens, then config.json's <kind>_token_id), the add_<kind>_token
// flags of tokenizer_config.json, and the chat template. Ids at or past
// nVocab are skipped, as the script does. tokenizer.json's post-processor
// template is not read.
func (h *hfCheckpoint) specialVocab(nVocab int64, kinds []struct{ typ, key string }) error {
	ids := map[string]int64{}
	var order []string
	setID := func(typ string, v any) {
		id, ok := jsonInt(v)
		if !ok || id < 0 || id >= nVocab {
			return
		}
		if _, dup := ids[typ]; dup {
			return
		}
		ids[typ] = id
		order = append(order, typ)
	}
	tc, err := readHFJSONFile(filepath.Join(h.dir, "tokenizer_config.json"))
	if err != nil {
		return err
	}
	tj, err := readHFJSONFile(filepath.Join(h.dir, "tokenizer.json"))
	if err != nil {
		return err
	}
	var added []any
	if tj != nil {
		added, _ = tj["added_tokens"].([]any)
	}
	type addFlag struct {
		typ string
		v   bool
	}
	var adds []addFlag
	if tc != nil {
		for _, k := range kinds {
			if b, ok := tc["add_"+k.typ+"_token"].(bool); ok {
				adds = append(adds, addFlag{k.typ, b})
			}
			var content string
			switch e := tc[k.typ+"_token"].(type) {
			case string:
				content = e
			case map[string]any:
				c, ok := e["content"].(string)
				if !ok {
					continue
				}
				content = c
			default:
				continue
			}
			for _, a := range added {
				if am, ok := a.(map[string]any); ok && am["content"] == content {
					setID(k.typ, am["id"])
					break
				}
			}
		}
	}
	for _, k := range kinds {
		setID(k.typ, h.config[k.typ+"_token_id"])
	}
	for _, typ := range order {
		for _, k := range kinds {
			if k.typ == typ {
				h.setKV(k.key, gguf.Uint32(uint32(ids[typ])))
			}
		}
	}
	for _, a := range adds {
		h.setKV("tokenizer.ggml.add_"+a.typ+"_token", gguf.Bool(a.v))
	}
	if tc != nil {
		return h.chatTemplate(tc)
	}
	return nil
}

// chatTemplate writes tokenizer.chat_template from tokenizer_config.json,
// or from chat_template.jinja / chat_template.json beside it. A list of
// named templates gives tokenizer.chat_template (the one named "default"),
// tokenizer.chat_template.NAME for the others and tokenizer.chat_templates
// listing their names.
func (h *hfCheckpoint) chatTemplate(tc map[string]any) error {
	ct, ok := tc["chat_template"]
	if !ok {
		if b, err := os.ReadFile(filepath.Join(h.dir, "chat_template.jinja")); err == nil {
			ct = string(b)
		} else if m, err := readHFJSONFile(filepath.Join(h.dir, "chat_template.json")); err != nil {
			return err
		} else if m != nil {
			ct = m["chat_template"]
		}
	}
	switch t := ct.(type) {
	case string:
		h.setKV("tokenizer.chat_template", gguf.String(t))
	case []any:
		var names []string
		def, hasDef := "", false
		for _, e := range t {
			m, _ := e.(map[string]any)
			name, _ := m["name"].(string)
			tmpl, ok := m["template"].(string)
			name = strings.Map(func(r rune) rune {
				if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
					return r
				}
				return '_'
			}, name)
			if name == "" || !ok {
				continue
			}
			if name == "default" {
				def, hasDef = tmpl, true
				continue
			}
			names = append(names, name)
			h.setKV("tokenizer.chat_template."+name, gguf.String(tmpl))
		}
		if len(names) > 0 {
			sort.Strings(names)
			h.setKV("tokenizer.chat_templates", gguf.Array(names))
		}
		if hasDef {
			h.setKV("tokenizer.chat_template", gguf.String(def))
		}
	}
	return nil
}

// jsonBool is a helper for optional booleans.
func jsonBool(m map[string]any, key string) (bool, bool) {
	b, ok := m[key].(bool)
	return b, ok
}
