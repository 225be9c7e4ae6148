package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxIndexSize is the largest sharded-checkpoint index accepted, in bytes.
const MaxIndexSize = 100_000_000

// Index is a parsed sharded-checkpoint index (model.safetensors.index.json,
// a Hugging Face transformers convention): which shard file holds each
// tensor.
type Index struct {
	// WeightMap maps each tensor name to the plain file name of its shard,
	// which lies in the index's directory.
	WeightMap map[string]string
	// Names lists the tensor names in index order.
	Names []string
	// Metadata holds the index's "metadata" object (such as "total_size")
	// as raw JSON values; nil when absent or null.
	Metadata map[string]json.RawMessage
}

// Shards returns the distinct shard file names, sorted.
func (ix *Index) Shards() []string {
	var out []string
	for _, s := range ix.WeightMap {
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ParseIndex parses and validates index JSON. name is used in error
// messages. The top level must be an object with a "weight_map" object of
// tensor name -> shard file name, and optionally a "metadata" object (or
// null); other top-level keys are ignored. Duplicate keys at any of these
// levels, an empty weight_map, and shard names that are not plain file
// names (empty, ".", "..", absolute, containing a path separator or NUL)
// are rejected. All errors match ErrInvalid.
func ParseIndex(data []byte, name string) (*Index, error) {
	fail := func(tensor, format string, args ...any) error {
		return &Error{Path: name, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) > MaxIndexSize {
		return nil, fail("", "index is %d bytes, more than the limit of %d", len(data), MaxIndexSize)
	}
	if !utf8.Valid(data) {
		return nil, fail("", "index is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	token := func() (json.Token, error) {
		tok, err := dec.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, &Error{Path: name, Msg: "index is not valid JSON", Err: err}
		}
		return tok, nil
	}
	// object walks an object whose '{' has been read, calling val for each
	// key after rejecting duplicates.
	object := func(what string, val func(key string) error) error {
		seen := map[string]bool{}
		for dec.More() {
			tok, err := token()
			if err != nil {
				return err
			}
			k, _ := tok.(string)
			if seen[k] {
				return fail("", "%s key %q appears twice", what, truncate(k, 64))
			}
			seen[k] = true
			if err := val(k); err != nil {
				return err
			}
		}
		_, err := token() // '}'
		return err
	}

	tok, err := token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, fail("", "index must be a JSON object, got %s", describe(tok))
	}
	ix := &Index{}
	sawMap := false
	err = object("top-level", func(key string) error {
		switch key {
		case "weight_map":
			sawMap = true
			tok, err := token()
			if err != nil {
				return err
			}
			if tok != json.Delim('{') {
				return fail("", "weight_map must be an object, got %s", describe(tok))
			}
			ix.WeightMap = map[string]string{}
			return object("weight_map", func(tensor string) error {
				tok, err := token()
				if err != nil {
					return err
				}
				shard, ok := tok.(string)
				if !ok {
					return fail(tensor, "shard file name must be a string, got %s", describe(tok))
				}
				if tensor == "" {
					return fail("", "weight_map has an empty tensor name")
				}
				if err := checkShardName(shard); err != nil {
					return fail(tensor, "shard file name %q: %v", truncate(shard, 64), err)
				}
				ix.WeightMap[tensor] = shard
				ix.Names = append(ix.Names, tensor)
				return nil
			})
		case "metadata":
			tok, err := token()
			if err != nil {
				return err
			}
			if tok == nil {
				return nil
			}
			if tok != json.Delim('{') {
				return fail("", "metadata must be an object, got %s", describe(tok))
			}
			ix.Metadata = map[string]json.RawMessage{}
			return object("metadata", func(k string) error {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return &Error{Path: name, Msg: "index is not valid JSON", Err: err}
				}
				ix.Metadata[k] = raw
				return nil
			})
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return &Error{Path: name, Msg: "index is not valid JSON", Err: err}
			}
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fail("", "index has data after its JSON object")
	}
	if !sawMap {
		return nil, fail("", "not a sharded-checkpoint index: no weight_map object")
	}
	if len(ix.WeightMap) == 0 {
		return nil, fail("", "weight_map is empty")
	}
	return ix, nil
}

// checkShardName accepts only a plain file name, so that an index can
// never point outside its own directory.
func checkShardName(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case s == "." || s == "..":
		return errors.New("not a file name")
	case strings.ContainsAny(s, `/\`):
		return errors.New("contains a path separator (shards must be plain file names in the index's directory)")
	case strings.IndexByte(s, 0) >= 0:
		return errors.New("contains a NUL byte")
	case filepath.IsAbs(s) || filepath.VolumeName(s) != "" || !filepath.IsLocal(s):
		return errors.New("not a plain local file name")
	}
	return nil
}
