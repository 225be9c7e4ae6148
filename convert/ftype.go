package convert

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/qconv/qconv/gguf"
)

// FileType is a llama.cpp file type (llama_ftype, LLAMA_FTYPE_MOSTLY_*), the
// value written to general.file_type. A file type names a mixture: a
// default ggml type plus the per-tensor rules in typeselect.go.
type FileType int

// The llama file types qconv can produce, with llama.cpp's ids. Ids 4-6
// and 33-35 belonged to file types llama.cpp has removed.
const (
	FileTypeF32      FileType = 0 // LLAMA_FTYPE_ALL_F32
	FileTypeF16      FileType = 1
	FileTypeQ4_0     FileType = 2
	FileTypeQ4_1     FileType = 3
	FileTypeQ8_0     FileType = 7
	FileTypeQ5_0     FileType = 8
	FileTypeQ5_1     FileType = 9
	FileTypeQ2_K     FileType = 10
	FileTypeQ3_K_S   FileType = 11
	FileTypeQ3_K_M   FileType = 12
	FileTypeQ3_K_L   FileType = 13
	FileTypeQ4_K_S   FileType = 14
	FileTypeQ4_K_M   FileType = 15
	FileTypeQ5_K_S   FileType = 16
	FileTypeQ5_K_M   FileType = 17
	FileTypeQ6_K     FileType = 18
	FileTypeIQ2_XXS  FileType = 19
	FileTypeIQ2_XS   FileType = 20
	FileTypeQ2_K_S   FileType = 21
	FileTypeIQ3_XS   FileType = 22
	FileTypeIQ3_XXS  FileType = 23
	FileTypeIQ1_S    FileType = 24
	FileTypeIQ4_NL   FileType = 25
	FileTypeIQ3_S    FileType = 26
	FileTypeIQ3_M    FileType = 27
	FileTypeIQ2_S    FileType = 28
	FileTypeIQ2_M    FileType = 29
	FileTypeIQ4_XS   FileType = 30
	FileTypeIQ1_M    FileType = 31
	FileTypeBF16     FileType = 32
	FileTypeTQ1_0    FileType = 36
	FileTypeTQ2_0    FileType = 37
	FileTypeMXFP4MoE FileType = 38 // MXFP4_MOE
	FileTypeNVFP4    FileType = 39
	FileTypeQ1_0     FileType = 40
	FileTypeQ2_0     FileType = 41
)

// ftypeInfo is one row of the file type table: llama-quantize's name for
// the file type and its default ggml type (llama_ftype_get_default_type).
type ftypeInfo struct {
	name string
	def  gguf.Type
}

var ftypeTable = map[FileType]ftypeInfo{
	FileTypeF32:      {"F32", gguf.TypeF32},
	FileTypeF16:      {"F16", gguf.TypeF16},
	FileTypeBF16:     {"BF16", gguf.TypeBF16},
	FileTypeQ4_0:     {"Q4_0", gguf.TypeQ4_0},
	FileTypeQ4_1:     {"Q4_1", gguf.TypeQ4_1},
	FileTypeQ5_0:     {"Q5_0", gguf.TypeQ5_0},
	FileTypeQ5_1:     {"Q5_1", gguf.TypeQ5_1},
	FileTypeQ8_0:     {"Q8_0", gguf.TypeQ8_0},
	FileTypeQ2_K:     {"Q2_K", gguf.TypeQ2_K},
	FileTypeQ2_K_S:   {"Q2_K_S", gguf.TypeQ2_K},
	FileTypeQ3_K_S:   {"Q3_K_S", gguf.TypeQ3_K},
	FileTypeQ3_K_M:   {"Q3_K_M", gguf.TypeQ3_K},
	FileTypeQ3_K_L:   {"Q3_K_L", gguf.TypeQ3_K},
	FileTypeQ4_K_S:   {"Q4_K_S", gguf.TypeQ4_K},
	FileTypeQ4_K_M:   {"Q4_K_M", gguf.TypeQ4_K},
	FileTypeQ5_K_S:   {"Q5_K_S", gguf.TypeQ5_K},
	FileTypeQ5_K_M:   {"Q5_K_M", gguf.TypeQ5_K},
	FileTypeQ6_K:     {"Q6_K", gguf.TypeQ6_K},
	FileTypeIQ2_XXS:  {"IQ2_XXS", gguf.TypeIQ2_XXS},
	FileTypeIQ2_XS:   {"IQ2_XS", gguf.TypeIQ2_XS},
	FileTypeIQ2_S:    {"IQ2_S", gguf.TypeIQ2_XS}, // sic: IQ2_S files are mostly iq2_xs
	FileTypeIQ2_M:    {"IQ2_M", gguf.TypeIQ2_S},
	FileTypeIQ3_XXS:  {"IQ3_XXS", gguf.TypeIQ3_XXS},
	FileTypeIQ3_XS:   {"IQ3_XS", gguf.TypeIQ3_S},
	FileTypeIQ3_S:    {"IQ3_S", gguf.TypeIQ3_S},
	FileTypeIQ3_M:    {"IQ3_M", gguf.TypeIQ3_S},
	FileTypeIQ1_S:    {"IQ1_S", gguf.TypeIQ1_S},
	FileTypeIQ1_M:    {"IQ1_M", gguf.TypeIQ1_M},
	FileTypeIQ4_NL:   {"IQ4_NL", gguf.TypeIQ4_NL},
	FileTypeIQ4_XS:   {"IQ4_XS", gguf.TypeIQ4_XS},
	FileTypeTQ1_0:    {"TQ1_0", gguf.TypeTQ1_0},
	FileTypeTQ2_0:    {"TQ2_0", gguf.TypeTQ2_0},
	FileTypeMXFP4MoE: {"MXFP4_MOE", gguf.TypeMXFP4},
	FileTypeNVFP4:    {"NVFP4", gguf.TypeNVFP4},
	FileTypeQ1_0:     {"Q1_0", gguf.TypeQ1_0},
	FileTypeQ2_0:     {"Q2_0", gguf.TypeQ2_0},
}

// ftypeAliases are the extra names llama-quantize accepts.
var ftypeAliases = map[string]FileType{
	"Q3_K": FileTypeQ3_K_M,
	"Q4_K": FileTypeQ4_K_M,
	"Q5_K": FileTypeQ5_K_M,
}

// String returns llama-quantize's name for f ("Q4_K_M"), or "ftype(N)"
// for an id qconv does not know.
func (f FileType) String() string {
	if fi, ok := ftypeTable[f]; ok {
		return fi.name
	}
	return fmt.Sprintf("ftype(%d)", int(f))
}

// Valid reports whether f is a file type qconv can produce.
func (f FileType) Valid() bool {
	_, ok := ftypeTable[f]
	return ok
}

// DefaultType returns the ggml type most tensors of f get (the type every
// quantizable tensor gets with --pure). It returns gguf.TypeCount for an
// unknown file type.
func (f FileType) DefaultType() gguf.Type {
	if fi, ok := ftypeTable[f]; ok {
		return fi.def
	}
	return gguf.TypeCount
}

// IsQuantized reports whether f's default type is a quantized type. The
// mixture rules, --tensor-type overrides and the shape fallback only apply
// to such file types (F32/F16/BF16 just convert every quantizable tensor).
func (f FileType) IsQuantized() bool {
	ti, ok := f.DefaultType().Info()
	return ok && ti.Quantized
}

// FileTypes returns every known file type in increasing id order.
func FileTypes() []FileType {
	out := make([]FileType, 0, len(ftypeTable))
	for id := FileType(0); id <= FileTypeQ2_0; id++ {
		if id.Valid() {
			out = append(out, id)
		}
	}
	return out
}

// ParseFileType parses a file type the way llama-quantize parses its TYPE
// argument: a name, case-insensitively ("q4_k_m", "Q4_K_M"), one of the
// aliases Q3_K, Q4_K, Q5_K (for Q3_K_M, Q4_K_M, Q5_K_M), or a decimal
// ftype id ("15"). Unlike llama-quantize (std::stoi), a number must be the
// whole string. "COPY" is not a file type; see ParseTarget.
func ParseFileType(s string) (FileType, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	if ft, ok := ftypeAliases[name]; ok {
		return ft, nil
	}
	for ft, fi := range ftypeTable {
		if fi.name == name {
			return ft, nil
		}
	}
	if n, err := strconv.Atoi(name); err == nil {
		if ft := FileType(n); ft.Valid() {
			return ft, nil
		}
		return 0, fmt.Errorf("unknown llama file type id %d", n)
	}
	return 0, fmt.Errorf("unknown llama file type %q", s)
}

// Target is what --to asks for.
type Target struct {
	// FileType is the mixture to apply and the value of general.file_type.
	FileType FileType
	// Pure is set when the name was a plain ggml type rather than a file
	// type: every quantizable tensor gets FileType.DefaultType(), as with
	// llama-quantize --pure (token_embd and output.weight included unless
	// given their own types).
	Pure bool
	// Copy is set for "COPY": nothing is quantized, tensors are copied in
	// their stored types (llama-quantize's COPY, which keeps the input's
	// general.file_type). FileType is then FileTypeF32, as in llama-quantize.
	Copy bool
}

// ParseTarget parses a --to argument: a file type (with its mixture) or a
// plain ggml type name (that type for every quantizable tensor).
//
// Rule for names that are both: the file type wins, exactly as
// llama-quantize reads its TYPE argument as an ftype. So "q8_0", "q4_0",
// "q6_K", "q2_K", "iq4_nl", ... select the file type of that name, whose
// mixture still gives output.weight its own type (q6_K for Q4_0, for
// example), "q4_K" is the alias for Q4_K_M, and "iq2_s" is the IQ2_S file
// type (default iq2_xs). Add --pure to get one type everywhere. Names that
// are only ggml types (mxfp4) give Pure with the file type whose default
// type it is; ggml types no file type produces (q8_1, q8_K, i8, ...) are
// rejected.
func ParseTarget(s string) (Target, error) {
	if strings.EqualFold(strings.TrimSpace(s), "COPY") {
		return Target{FileType: FileTypeF32, Copy: true}, nil
	}
	if ft, err := ParseFileType(s); err == nil {
		return Target{FileType: ft}, nil
	}
	t, ok := gguf.ParseType(strings.TrimSpace(s))
	if !ok {
		return Target{}, fmt.Errorf("%q is neither a llama file type nor a ggml type", s)
	}
	for _, ft := range FileTypes() {
		if ft.DefaultType() == t {
			return Target{FileType: ft, Pure: true}, nil
		}
	}
	return Target{}, fmt.Errorf("ggml type %s is not the default type of any llama file type", t)
}
