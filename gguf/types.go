package gguf

import (
	"fmt"
	"strings"
)

// Type is a ggml tensor type id as stored in a GGUF tensor info.
type Type uint32

// The ggml type ids. Ids 4, 5, 31-33 and 36-38 belonged to types that
// ggml has removed; readers reject them by name (see RemovedTypeName).
const (
	TypeF32     Type = 0
	TypeF16     Type = 1
	TypeQ4_0    Type = 2
	TypeQ4_1    Type = 3
	TypeQ5_0    Type = 6
	TypeQ5_1    Type = 7
	TypeQ8_0    Type = 8
	TypeQ8_1    Type = 9
	TypeQ2_K    Type = 10
	TypeQ3_K    Type = 11
	TypeQ4_K    Type = 12
	TypeQ5_K    Type = 13
	TypeQ6_K    Type = 14
	TypeQ8_K    Type = 15
	TypeIQ2_XXS Type = 16
	TypeIQ2_XS  Type = 17
	TypeIQ3_XXS Type = 18
	TypeIQ1_S   Type = 19
	TypeIQ4_NL  Type = 20
	TypeIQ3_S   Type = 21
	TypeIQ2_S   Type = 22
	TypeIQ4_XS  Type = 23
	TypeI8      Type = 24
	TypeI16     Type = 25
	TypeI32     Type = 26
	TypeI64     Type = 27
	TypeF64     Type = 28
	TypeIQ1_M   Type = 29
	TypeBF16    Type = 30
	TypeTQ1_0   Type = 34
	TypeTQ2_0   Type = 35
	TypeMXFP4   Type = 39
	TypeNVFP4   Type = 40
	TypeQ1_0    Type = 41
	TypeQ2_0    Type = 42

	// TypeCount is one past the largest ggml type id this table knows.
	TypeCount Type = 43
)

// TypeInfo describes the storage of one ggml type: a tensor row of ne0
// elements takes ne0/BlockSize blocks of BlockBytes bytes each.
type TypeInfo struct {
	Name       string // ggml's name, e.g. "q4_K"
	BlockSize  int    // elements per block
	BlockBytes int    // bytes per block
	Quantized  bool
}

var typeTable = [TypeCount]TypeInfo{
	TypeF32:     {"f32", 1, 4, false},
	TypeF16:     {"f16", 1, 2, false},
	TypeQ4_0:    {"q4_0", 32, 18, true},
	TypeQ4_1:    {"q4_1", 32, 20, true},
	TypeQ5_0:    {"q5_0", 32, 22, true},
	TypeQ5_1:    {"q5_1", 32, 24, true},
	TypeQ8_0:    {"q8_0", 32, 34, true},
	TypeQ8_1:    {"q8_1", 32, 36, true},
	TypeQ2_K:    {"q2_K", 256, 84, true},
	TypeQ3_K:    {"q3_K", 256, 110, true},
	TypeQ4_K:    {"q4_K", 256, 144, true},
	TypeQ5_K:    {"q5_K", 256, 176, true},
	TypeQ6_K:    {"q6_K", 256, 210, true},
	TypeQ8_K:    {"q8_K", 256, 292, true},
	TypeIQ2_XXS: {"iq2_xxs", 256, 66, true},
	TypeIQ2_XS:  {"iq2_xs", 256, 74, true},
	TypeIQ3_XXS: {"iq3_xxs", 256, 98, true},
	TypeIQ1_S:   {"iq1_s", 256, 50, true},
	TypeIQ4_NL:  {"iq4_nl", 32, 18, true},
	TypeIQ3_S:   {"iq3_s", 256, 110, true},
	TypeIQ2_S:   {"iq2_s", 256, 82, true},
	TypeIQ4_XS:  {"iq4_xs", 256, 136, true},
	TypeI8:      {"i8", 1, 1, false},
	TypeI16:     {"i16", 1, 2, false},
	TypeI32:     {"i32", 1, 4, false},
	TypeI64:     {"i64", 1, 8, false},
	TypeF64:     {"f64", 1, 8, false},
	TypeIQ1_M:   {"iq1_m", 256, 56, true},
	TypeBF16:    {"bf16", 1, 2, false},
	TypeTQ1_0:   {"tq1_0", 256, 54, true},
	TypeTQ2_0:   {"tq2_0", 256, 66, true},
	TypeMXFP4:   {"mxfp4", 32, 17, true},
	TypeNVFP4:   {"nvfp4", 64, 36, true},
	TypeQ1_0:    {"q1_0", 128, 18, true},
	TypeQ2_0:    {"q2_0", 64, 18, true},
}

var removedTypes = map[Type]string{
	4:  "q4_2",
	5:  "q4_3",
	31: "q4_0_4_4",
	32: "q4_0_4_8",
	33: "q4_0_8_8",
	36: "iq4_nl_4_4",
	37: "iq4_nl_4_8",
	38: "iq4_nl_8_8",
}

// Info returns the storage description of t and whether t is a type
// this table knows. Removed and unknown ids report false.
func (t Type) Info() (TypeInfo, bool) {
	if t >= TypeCount {
		return TypeInfo{}, false
	}
	ti := typeTable[t]
	return ti, ti.BlockSize != 0
}

// Valid reports whether t is a known, current ggml type.
func (t Type) Valid() bool { _, ok := t.Info(); return ok }

// BlockSize is the number of elements per block (0 for an unknown type).
func (t Type) BlockSize() int { ti, _ := t.Info(); return ti.BlockSize }

// BlockBytes is the number of bytes per block (0 for an unknown type).
func (t Type) BlockBytes() int { ti, _ := t.Info(); return ti.BlockBytes }

// String returns ggml's name for t, "removed:<name>" for a removed id,
// "<base>_bm<rows>" for a qconv block-major id and "type(<id>)" for an
// unknown one.
func (t Type) String() string {
	if ti, ok := t.Info(); ok {
		return ti.Name
	}
	if b, r, ok := t.Tiled(); ok {
		return tiledName(b, r)
	}
	if n, ok := removedTypes[t]; ok {
		return "removed:" + n
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// RemovedTypeName returns the former name of a removed ggml type id.
func RemovedTypeName(t Type) (string, bool) {
	n, ok := removedTypes[t]
	return n, ok
}

// RowBytes returns the byte size of a row of ne0 elements of type t, and
// an error when t is unknown or ne0 is not a multiple of the block size.
func (t Type) RowBytes(ne0 int64) (int64, error) {
	ti, ok := t.Info()
	if !ok {
		return 0, fmt.Errorf("unknown ggml type %s", t)
	}
	if ne0 < 0 || ne0%int64(ti.BlockSize) != 0 {
		return 0, fmt.Errorf("row of %d elements is not a multiple of %s's block size %d", ne0, ti.Name, ti.BlockSize)
	}
	return ne0 / int64(ti.BlockSize) * int64(ti.BlockBytes), nil
}

// ParseType looks a ggml type up by name, case-insensitively ("Q4_K",
// "q4_k" and "q4_K" are the same type).
func ParseType(name string) (Type, bool) {
	for id, ti := range typeTable {
		if ti.BlockSize != 0 && strings.EqualFold(ti.Name, name) {
			return Type(id), true
		}
	}
	return 0, false
}

// Types returns every known type id in increasing order.
func Types() []Type {
	out := make([]Type, 0, len(typeTable))
	for id, ti := range typeTable {
		if ti.BlockSize != 0 {
			out = append(out, Type(id))
		}
	}
	return out
}
