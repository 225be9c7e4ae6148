package convert

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"unicode/utf8"
)

// SentencePiece piece types, as sentencepiece_model.proto numbers them.
const (
	spNormal      = 1
	spUnknown     = 2
	spControl     = 3
	spUserDefined = 4
	spUnused      = 5
	spByte        = 6
)

// llama token types (tokenizer.ggml.token_type), as llama.cpp numbers them.
const (
	tokNormal      = 1
	tokUnknown     = 2
	tokControl     = 3
	tokUserDefined = 4
	tokUnused      = 5
	tokByte        = 6
)

// spPiece is one vocabulary entry of a SentencePiece model.
type spPiece struct {
	Piece string
	Score float32
	Type  int32 // spNormal, ...; NORMAL when the field is absent
}

// spModel is the part of a SentencePiece ModelProto that a GGUF needs.
type spModel struct {
	Pieces    []spPiece
	ModelType int32 // trainer_spec.model_type: 1 unigram, 2 BPE, 3 word, 4 char
}

// errProto reports malformed protobuf bytes.
var errProto = errors.New("malformed protobuf")

// readSentencePiece reads a tokenizer.model file.
func readSentencePiece(path string) (*spModel, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := parseSentencePiece(b)
	if err != nil {
		return nil, fmt.Errorf("%s: SentencePiece model: %w", path, err)
	}
	return m, nil
}

// parseSentencePiece decodes a serialized ModelProto: field 1 holds the
// pieces (each with piece = 1, score = 2, type = 3), field 2 the trainer
// spec (model_type = 3). Every other field is skipped by its wire type.
func parseSentencePiece(b []byte) (*spModel, error) {
	m := &spModel{ModelType: 1}
	err := walkProto(b, func(field int, wire int, v uint64, sub []byte) error {
		switch {
		case field == 1 && wire == 2:
			p := spPiece{Type: spNormal}
			err := walkProto(sub, func(field int, wire int, v uint64, sub []byte) error {
				switch {
				case field == 1 && wire == 2:
					if !utf8.Valid(sub) {
						return fmt.Errorf("piece %d is not UTF-8: %w", len(m.Pieces), errProto)
					}
					p.Piece = string(sub)
				case field == 2 && wire == 5:
					p.Score = math.Float32frombits(uint32(v))
				case field == 3 && wire == 0:
					p.Type = int32(v)
				}
				return nil
			})
			if err != nil {
				return err
			}
			m.Pieces = append(m.Pieces, p)
		case field == 2 && wire == 2:
			return walkProto(sub, func(field int, wire int, v uint64, _ []byte) error {
				if field == 3 && wire == 0 {
					m.ModelType = int32(v)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(m.Pieces) == 0 {
		return nil, fmt.Errorf("no pieces: %w", errProto)
	}
	return m, nil
}

// walkProto calls fn for each field of a protobuf message: varints and
// fixed-width values in v, length-delimited bytes in sub.
func walkProto(b []byte, fn func(field, wire int, v uint64, sub []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("bad field key: %w", errProto)
		}
		b = b[n:]
		field, wire := int(key>>3), int(key&7)
		var v uint64
		var sub []byte
		switch wire {
		case 0:
			v, n = binary.Uvarint(b)
			if n <= 0 {
				return fmt.Errorf("field %d: bad varint: %w", field, errProto)
			}
			b = b[n:]
		case 1:
			if len(b) < 8 {
				return fmt.Errorf("field %d: truncated: %w", field, errProto)
			}
			v, b = binary.LittleEndian.Uint64(b), b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return fmt.Errorf("field %d: bad length: %w", field, errProto)
			}
			sub, b = b[n:n+int(l)], b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return fmt.Errorf("field %d: truncated: %w", field, errProto)
			}
			v, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		default:
			return fmt.Errorf("field %d: wire type %d: %w", field, wire, errProto)
		}
		if err := fn(field, wire, v, sub); err != nil {
			return err
		}
	}
	return nil
}

// llamaTokenType is the token type convert_hf_to_gguf.py records for a
// piece: unknown, control, unused and byte pieces keep their kind; normal
// and user-defined pieces are both NORMAL (the script asks the
// SentencePiece processor only about the first four kinds).
func llamaTokenType(spType int32) int32 {
	switch spType {
	case spUnknown:
		return tokUnknown
	case spControl:
		return tokControl
	case spUnused:
		return tokUnused
	case spByte:
		return tokByte
	}
	return tokNormal
}
