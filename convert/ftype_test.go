package convert

import (
	"strconv"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
)

// The llama.cpp ftype table (llama.h ids, llama-quantize names,
// llama_ftype_get_default_type), written out independently of ftype.go.
var wantFileTypes = []struct {
	name string
	id   int
	def  gguf.Type
}{
	{"F32", 0, gguf.TypeF32},
	{"F16", 1, gguf.TypeF16},
	{"Q4_0", 2, gguf.TypeQ4_0},
	{"Q4_1", 3, gguf.TypeQ4_1},
	{"Q8_0", 7, gguf.TypeQ8_0},
	{"Q5_0", 8, gguf.TypeQ5_0},
	{"Q5_1", 9, gguf.TypeQ5_1},
	{"Q2_K", 10, gguf.TypeQ2_K},
	{"Q3_K_S", 11, gguf.TypeQ3_K},
	{"Q3_K_M", 12, gguf.TypeQ3_K},
	{"Q3_K_L", 13, gguf.TypeQ3_K},
	{"Q4_K_S", 14, gguf.TypeQ4_K},
	{"Q4_K_M", 15, gguf.TypeQ4_K},
	{"Q5_K_S", 16, gguf.TypeQ5_K},
	{"Q5_K_M", 17, gguf.TypeQ5_K},
	{"Q6_K", 18, gguf.TypeQ6_K},
	{"IQ2_XXS", 19, gguf.TypeIQ2_XXS},
	{"IQ2_XS", 20, gguf.TypeIQ2_XS},
	{"Q2_K_S", 21, gguf.TypeQ2_K},
	{"IQ3_XS", 22, gguf.TypeIQ3_S},
	{"IQ3_XXS", 23, gguf.TypeIQ3_XXS},
	{"IQ1_S", 24, gguf.TypeIQ1_S},
	{"IQ4_NL", 25, gguf.TypeIQ4_NL},
	{"IQ3_S", 26, gguf.TypeIQ3_S},
	{"IQ3_M", 27, gguf.TypeIQ3_S},
	{"IQ2_S", 28, gguf.TypeIQ2_XS},
	{"IQ2_M", 29, gguf.TypeIQ2_S},
	{"IQ4_XS", 30, gguf.TypeIQ4_XS},
	{"IQ1_M", 31, gguf.TypeIQ1_M},
	{"BF16", 32, gguf.TypeBF16},
	{"TQ1_0", 36, gguf.TypeTQ1_0},
	{"TQ2_0", 37, gguf.TypeTQ2_0},
	{"MXFP4_MOE", 38, gguf.TypeMXFP4},
	{"NVFP4", 39, gguf.TypeNVFP4},
	{"Q1_0", 40, gguf.TypeQ1_0},
	{"Q2_0", 41, gguf.TypeQ2_0},
}

func TestParseFileTypeEveryName(t *testing.T) {
	for _, w := range wantFileTypes {
		for _, s := range []string{w.name, strings.ToLower(w.name), mixedCase(w.name)} {
			ft, err := ParseFileType(s)
			if err != nil {
				t.Errorf("ParseFileType(%q): %v", s, err)
				continue
			}
			if int(ft) != w.id {
				t.Errorf("ParseFileType(%q) = %d, want %d", s, int(ft), w.id)
			}
		}
		ft := FileType(w.id)
		if ft.String() != w.name {
			t.Errorf("FileType(%d).String() = %q, want %q", w.id, ft.String(), w.name)
		}
		if ft.DefaultType() != w.def {
			t.Errorf("%s.DefaultType() = %s, want %s", w.name, ft.DefaultType(), w.def)
		}
		if got, err := ParseFileType(" " + strconv.Itoa(w.id)); err != nil || int(got) != w.id {
			t.Errorf("ParseFileType(%d) = %v, %v", w.id, got, err)
		}
	}
	if n := len(FileTypes()); n != len(wantFileTypes) {
		t.Errorf("FileTypes() has %d entries, want %d", n, len(wantFileTypes))
	}
	prev := FileType(-1)
	for _, ft := range FileTypes() {
		if ft <= prev {
			t.Errorf("FileTypes() not increasing at %v", ft)
		}
		prev = ft
	}
}

func mixedCase(s string) string {
	b := []byte(strings.ToLower(s))
	for i := 0; i < len(b); i += 2 {
		if 'a' <= b[i] && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

func TestParseFileTypeAliasesAndErrors(t *testing.T) {
	for s, want := range map[string]FileType{
		"Q3_K": FileTypeQ3_K_M, "q4_k": FileTypeQ4_K_M, "Q5_k": FileTypeQ5_K_M, "q4_k_m": FileTypeQ4_K_M,
		"15": FileTypeQ4_K_M, "mxfp4_moe": FileTypeMXFP4MoE,
	} {
		if got, err := ParseFileType(s); err != nil || got != want {
			t.Errorf("ParseFileType(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "q4", "4", "33", "Q4_0_4_4", "q8_1", "COPY", "iq1", "15x", "-1"} {
		if ft, err := ParseFileType(s); err == nil {
			t.Errorf("ParseFileType(%q) = %v, want error", s, ft)
		}
	}
	if FileType(4).Valid() || FileType(33).Valid() || FileType(4).DefaultType() != gguf.TypeCount {
		t.Error("removed ftype ids 4 and 33 must be invalid")
	}
	if FileType(99).String() != "ftype(99)" {
		t.Errorf("FileType(99).String() = %q", FileType(99).String())
	}
}

func TestFileTypeIsQuantized(t *testing.T) {
	for _, w := range wantFileTypes {
		want := w.def != gguf.TypeF32 && w.def != gguf.TypeF16 && w.def != gguf.TypeBF16
		if FileType(w.id).IsQuantized() != want {
			t.Errorf("%s.IsQuantized() = %v", w.name, !want)
		}
	}
}

func TestParseTarget(t *testing.T) {
	cases := []struct {
		in   string
		want Target
	}{
		{"q4_k_m", Target{FileType: FileTypeQ4_K_M}},
		// Names that are both a file type and a ggml type: the file type wins.
		{"q8_0", Target{FileType: FileTypeQ8_0}},
		{"q4_0", Target{FileType: FileTypeQ4_0}},
		{"q6_K", Target{FileType: FileTypeQ6_K}},
		{"q2_K", Target{FileType: FileTypeQ2_K}},
		{"q4_K", Target{FileType: FileTypeQ4_K_M}},
		{"iq2_s", Target{FileType: FileTypeIQ2_S}},
		{"iq4_nl", Target{FileType: FileTypeIQ4_NL}},
		{"f16", Target{FileType: FileTypeF16}},
		{"BF16", Target{FileType: FileTypeBF16}},
		{"12", Target{FileType: FileTypeQ3_K_M}},
		// Only a ggml type: pure, with the file type that has it as default.
		{"mxfp4", Target{FileType: FileTypeMXFP4MoE, Pure: true}},
		{"copy", Target{FileType: FileTypeF32, Copy: true}},
	}
	for _, c := range cases {
		got, err := ParseTarget(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, s := range []string{"q8_1", "q8_K", "i32", "f64", "nonsense", ""} {
		if got, err := ParseTarget(s); err == nil {
			t.Errorf("ParseTarget(%q) = %+v, want error", s, got)
		}
	}
}
