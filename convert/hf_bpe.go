package convert

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// bpeVocab is a byte-level BPE vocabulary from a Hugging Face
// tokenizer.json, in the form convert_hf_to_gguf.py writes it
// (tokenizer.ggml.model = "gpt2").
type bpeVocab struct {
	tokens []string // by id; ids no entry names are "[PADi]"
	types  []int32  // tokNormal, tokControl, tokUserDefined, tokUnused
	merges []string // "left right", in rank order
	// pre is the tokenizer.ggml.pre name recognized from the pre-tokenizer.
	pre string
	// preNote explains a pre of "default": the pre-tokenizer matched no
	// entry of bpePreTokenizers, so llama.cpp will split text with its
	// generic rules, which may differ from the model's.
	preNote string
}

// Pre-tokenizer regular expressions as they appear (JSON-decoded) in
// tokenizer.json files.
const (
	// bpeRegexGPT2 is the split rule of GPT-2. A ByteLevel pre-tokenizer
	// with use_regex applies it implicitly.
	bpeRegexGPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// bpeRegexLlama3 is Llama 3's rule (numbers cut into runs of up to
	// three digits).
	bpeRegexLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// bpeRegexQwen2 is Qwen 2's rule: Llama 3's with one digit per piece.
	bpeRegexQwen2 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// bpePreTokenizers maps the Split regexes of a pre-tokenizer (in order,
// joined by "\n") to llama.cpp's pre-tokenizer name. The entry with no
// regex stands for a lone ByteLevel pre-tokenizer with use_regex, whose
// built-in rule is GPT-2's.
//
// convert_hf_to_gguf.py instead runs the tokenizer on a probe text and
// looks the hash of the token ids up in its table. Matching on the regex
// cannot tell apart models that share a split rule but that llama.cpp
// names differently (some Llama-3-regex models are "smaug-bpe" or
// "tekken" there); those get the name of the first family listed here.
var bpePreTokenizers = map[string]string{
	"":             "gpt-2",
	bpeRegexGPT2:   "gpt-2",
	bpeRegexLlama3: "llama-bpe",
	bpeRegexQwen2:  "qwen2",
}

// hfTokenizerJSON is the part of tokenizer.json that the vocabulary needs.
type hfTokenizerJSON struct {
	AddedTokens []struct {
		ID      int64  `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Decoder      struct {
		Type string `json:"type"`
	} `json:"decoder"`
	Model struct {
		Type         string            `json:"type"`
		ByteFallback bool              `json:"byte_fallback"`
		Vocab        map[string]int64  `json:"vocab"`
		Merges       []json.RawMessage `json:"merges"`
	} `json:"model"`
}

// parseBPETokenizer reads dir/tokenizer.json as convert_hf_to_gguf.py's
// GPT-2-style vocabulary path does. vocabSize is config.json's vocab_size
// (0 when absent: the number of tokens is used). Ids no token names become
// "[PADi]" (unused); added tokens are control tokens when marked special
// or when they look special, user-defined otherwise (with "▁" written as a
// space); all other tokens are normal. Merges come from tokenizer.json or,
// when it has none, from merges.txt.
//
// Not reproduced: the script re-encodes added tokens that are not
// normalized through the tokenizer (decode(encode(token))), which needs
// the tokenizer's normalizer; qconv keeps their text as stored.
func parseBPETokenizer(dir string, vocabSize int64) (*bpeVocab, error) {
	path := filepath.Join(dir, "tokenizer.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tj hfTokenizerJSON
	if err := json.Unmarshal(b, &tj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if tj.Model.Type != "BPE" {
		return nil, fmt.Errorf("%s: model type %q: %w (qconv reads BPE tokenizer.json vocabularies only)", path, tj.Model.Type, ErrUnsupportedArch)
	}
	if tj.Model.ByteFallback && tj.Decoder.Type == "Sequence" {
		// The script converts such a tokenizer.json (a SentencePiece
		// vocabulary saved by transformers) with its llama-hf vocabulary
		// (tokenizer.ggml.model "llama"), not as GPT-2-style BPE.
		return nil, fmt.Errorf("%s: a SentencePiece-style tokenizer.json (byte fallback) without tokenizer.model: %w", path, ErrUnsupportedArch)
	}

	// The full vocabulary: the model's tokens, then the added tokens.
	byID := map[int64]string{}
	var maxID int64 = -1
	for tok, id := range tj.Model.Vocab {
		if prev, dup := byID[id]; dup && prev < tok {
			continue // keep one name per id, independent of map order
		}
		byID[id] = tok
		maxID = max(maxID, id)
	}
	type added struct{ special bool }
	addedByID := map[int64]added{}
	for _, a := range tj.AddedTokens {
		byID[a.ID] = a.Content
		addedByID[a.ID] = added{a.Special}
		maxID = max(maxID, a.ID)
	}
	if vocabSize <= 0 {
		vocabSize = int64(len(byID))
	}
	if maxID >= vocabSize {
		return nil, fmt.Errorf("%w: %s: token id %d is outside the vocabulary of %d", ErrConfigMismatch, path, maxID, vocabSize)
	}

	v := &bpeVocab{tokens: make([]string, vocabSize), types: make([]int32, vocabSize)}
	for i := range vocabSize {
		tok, ok := byID[i]
		switch a, isAdded := addedByID[i]; {
		case !ok:
			tok = "[PAD" + strconv.FormatInt(i, 10) + "]"
			v.types[i] = tokUnused
		case isAdded && (a.special || looksSpecial(tok)):
			v.types[i] = tokControl
		case isAdded:
			tok = strings.ReplaceAll(tok, "\u2581", " ")
			v.types[i] = tokUserDefined
		default:
			v.types[i] = tokNormal
		}
		v.tokens[i] = tok
	}

	v.merges, err = parseBPEMerges(tj.Model.Merges)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(v.merges) == 0 {
		v.merges, err = readMergesTxt(filepath.Join(dir, "merges.txt"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}

	v.pre, err = bpePreName(tj.PreTokenizer)
	if err != nil {
		return nil, fmt.Errorf("%s: pre_tokenizer: %w", path, err)
	}
	if v.pre == "" {
		v.pre = "default"
		v.preNote = "the pre-tokenizer of tokenizer.json matches no known split rule; tokenizer.ggml.pre is \"default\", so llama.cpp may split text differently from the model"
	}
	return v, nil
}

// parseBPEMerges reads tokenizer.json's model.merges: either "a b"
// strings, or [a, b] pairs, where a space inside a part is written as
// U+0120 (the byte-level alphabet's space) so the joined string stays
// unambiguous.
func parseBPEMerges(raw []json.RawMessage) ([]string, error) {
	out := make([]string, 0, len(raw))
	for i, r := range raw {
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			out = append(out, s)
			continue
		}
		var pair []string
		if err := json.Unmarshal(r, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("merge %d is neither a string nor a pair of strings", i)
		}
		out = append(out, strings.ReplaceAll(pair[0], " ", "\u0120")+" "+strings.ReplaceAll(pair[1], " ", "\u0120"))
	}
	return out, nil
}

// readMergesTxt reads a merges.txt: one "a b" merge per line, an optional
// "#version" first line, blank lines and lines without exactly two fields
// skipped.
func readMergesTxt(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 0; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 0 && strings.HasPrefix(line, "#") {
			continue
		}
		if parts := strings.Fields(line); len(parts) == 2 {
			out = append(out, parts[0]+" "+parts[1])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// bpePreName recognizes the pre-tokenizer of tokenizer.json from its Split
// regexes (and whether it relies on ByteLevel's built-in rule), without
// running it. It returns "" for a pre-tokenizer it does not know.
func bpePreName(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var splits []string
	byteLevelRegex := false
	var walk func(raw json.RawMessage) error
	walk = func(raw json.RawMessage) error {
		var p struct {
			Type          string            `json:"type"`
			Pretokenizers []json.RawMessage `json:"pretokenizers"`
			UseRegex      *bool             `json:"use_regex"`
			Pattern       struct {
				Regex  *string `json:"Regex"`
				String *string `json:"String"`
			} `json:"pattern"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		switch p.Type {
		case "Sequence":
			for _, q := range p.Pretokenizers {
				if err := walk(q); err != nil {
					return err
				}
			}
		case "Split":
			switch {
			case p.Pattern.Regex != nil:
				splits = append(splits, *p.Pattern.Regex)
			case p.Pattern.String != nil:
				splits = append(splits, "string:"+*p.Pattern.String)
			}
		case "ByteLevel":
			if p.UseRegex == nil || *p.UseRegex {
				byteLevelRegex = true
			}
		default:
			splits = append(splits, "type:"+p.Type) // unknown step: no match
		}
		return nil
	}
	if err := walk(raw); err != nil {
		return "", err
	}
	if byteLevelRegex {
		if len(splits) > 0 {
			return "", nil // two split rules stacked: not a known layout
		}
		return bpePreTokenizers[""], nil
	}
	if len(splits) == 0 {
		return "", nil
	}
	return bpePreTokenizers[strings.Join(splits, "\n")], nil
}
