package verify

import (
	"encoding/binary"

	"github.com/qconv/qconv/gguf"
)

type scaleKind uint8

const (
	scaleF16  scaleKind = iota // IEEE binary16
	scaleF32                   // IEEE binary32
	scaleE8M0                  // 8-bit exponent, 0xFF is NaN
)

// scaleField is the position of one floating-point scale inside a block.
type scaleField struct {
	off  int
	kind scaleKind
}

// scaleFields lists, per type, the scales stored in each block (ggml's
// block_* structs in ggml-common.h), the fields ggml_validate_row_data
// checks. Types without an entry (float types, whose values are checked
// directly, and types whose scale is packed with the quants) have no
// separate scale check. The table is read-only.
var scaleFields = map[gguf.Type][]scaleField{
	gguf.TypeQ4_0:    {{0, scaleF16}},                // d
	gguf.TypeQ4_1:    {{0, scaleF16}, {2, scaleF16}}, // d, m
	gguf.TypeQ5_0:    {{0, scaleF16}},                // d
	gguf.TypeQ5_1:    {{0, scaleF16}, {2, scaleF16}}, // d, m
	gguf.TypeQ8_0:    {{0, scaleF16}},                // d
	gguf.TypeQ8_1:    {{0, scaleF16}, {2, scaleF16}}, // d, s
	gguf.TypeQ2_K:    {{80, scaleF16}, {82, scaleF16}},
	gguf.TypeQ3_K:    {{108, scaleF16}},
	gguf.TypeQ4_K:    {{0, scaleF16}, {2, scaleF16}}, // d, dmin
	gguf.TypeQ5_K:    {{0, scaleF16}, {2, scaleF16}}, // d, dmin
	gguf.TypeQ6_K:    {{208, scaleF16}},
	gguf.TypeQ8_K:    {{0, scaleF32}},
	gguf.TypeIQ2_XXS: {{0, scaleF16}},
	gguf.TypeIQ2_XS:  {{0, scaleF16}},
	gguf.TypeIQ2_S:   {{0, scaleF16}},
	gguf.TypeIQ3_XXS: {{0, scaleF16}},
	gguf.TypeIQ3_S:   {{0, scaleF16}},
	gguf.TypeIQ1_S:   {{0, scaleF16}},
	gguf.TypeIQ4_NL:  {{0, scaleF16}},
	gguf.TypeIQ4_XS:  {{0, scaleF16}},
	gguf.TypeTQ1_0:   {{52, scaleF16}},
	gguf.TypeTQ2_0:   {{64, scaleF16}},
	gguf.TypeMXFP4:   {{0, scaleE8M0}},
}

// HasScaleCheck reports whether CheckScales knows where t's block scales
// are.
func HasScaleCheck(t gguf.Type) bool { return scaleFields[t] != nil }

// CheckScales counts the blocks of type t in data (whole blocks, back to
// back) with a NaN or infinite scale, and returns the index of the first
// such block (-1 when there is none). It returns 0, -1 for types without a
// scale check (HasScaleCheck false).
func CheckScales(t gguf.Type, data []byte) (bad int64, first int64) {
	fields := scaleFields[t]
	bb := t.BlockBytes()
	first = -1
	if fields == nil || bb == 0 {
		return 0, -1
	}
	for b := int64(0); int64(len(data)) >= (b+1)*int64(bb); b++ {
		blk := data[b*int64(bb) : (b+1)*int64(bb)]
		for _, f := range fields {
			if !finiteScale(blk[f.off:], f.kind) {
				if first < 0 {
					first = b
				}
				bad++
				break
			}
		}
	}
	return bad, first
}

func finiteScale(b []byte, k scaleKind) bool {
	switch k {
	case scaleF16:
		return binary.LittleEndian.Uint16(b)&0x7C00 != 0x7C00
	case scaleF32:
		return binary.LittleEndian.Uint32(b)&0x7F800000 != 0x7F800000
	default: // scaleE8M0
		return b[0] != 0xFF
	}
}
