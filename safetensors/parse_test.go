package safetensors

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

// raw assembles a safetensors image from a header and a data area.
func raw(header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

// withLen is raw with a forged header length.
func withLen(n uint64, rest string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
}

func TestParseMalformed(t *testing.T) {
	f32 := func(name string, b, e int) string {
		return `"` + name + `":{"dtype":"F32","shape":[` + strconv.Itoa((e-b)/4) + `],"data_offsets":[` +
			strconv.Itoa(b) + `,` + strconv.Itoa(e) + `]}`
	}
	obj := func(entries ...string) string { return "{" + strings.Join(entries, ",") + "}" }
	zeros := func(n int) []byte { return make([]byte, n) }

	tests := []struct {
		name   string
		file   []byte
		tensor string   // tensor the error must name, if any
		want   []string // substrings of the error
	}{
		{"empty file", nil, "", []string{"0 bytes, too short"}},
		{"short file", []byte("abc"), "", []string{"too short"}},
		{"oversized header", withLen(MaxHeaderSize+1, "{}"), "", []string{"header length 100000001 exceeds the limit"}},
		{"huge header length", withLen(math.MaxUint64, "{}"), "", []string{"exceeds the limit"}},
		{"header beyond file", withLen(1000, `{"a":1}`), "", []string{"header length 1000 exceeds the 7 bytes"}},
		{"header one past file", withLen(3, "{}"), "", []string{"header length 3 exceeds the 2 bytes"}},
		{"empty header", raw("", nil), "", []string{"does not start with '{'"}},
		{"leading space", raw(" {}", nil), "", []string{"does not start with '{'"}},
		{"array header", raw("[1,2]", nil), "", []string{"does not start with '{'"}},
		{"bad JSON", raw(`{"a":`, nil), "a", []string{"not valid JSON: unexpected EOF"}},
		{"bad JSON missing comma", raw(`{"a":{"dtype":"F32" "shape":[]}}`, nil), "a", []string{"not valid JSON"}},
		{"truncated object", raw(`{`, nil), "", []string{"not valid JSON"}},
		{"invalid UTF-8", raw("{\"\xff\":1}", nil), "", []string{"not valid UTF-8"}},
		{"trailing garbage", raw(`{}x`, nil), "", []string{`"x" after its JSON object`}},
		{"second object", raw(`{} {}`, nil), "", []string{"after its JSON object"}},
		{"NUL padding", raw("{}\x00\x00", nil), "", []string{"after its JSON object"}},
		{"newline padding", raw("{}\n", nil), "", []string{"after its JSON object"}},
		{"entry not object", raw(`{"a":1}`, nil), "a", []string{"entry must be a JSON object, got number 1"}},
		{"entry array", raw(`{"a":[]}`, nil), "a", []string{"entry must be a JSON object, got an array"}},
		{"empty name", raw(`{"":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, zeros(4)), "", []string{"tensor name is empty"}},
		{"unknown dtype", raw(`{"a":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}`, zeros(4)), "a", []string{`unknown dtype "F31"`}},
		{"lowercase dtype", raw(`{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}`, zeros(4)), "a", []string{`unknown dtype "f32"`}},
		{"dtype not string", raw(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, zeros(4)), "a", []string{"dtype must be a string, got number 4"}},
		{"negative dim", raw(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, zeros(4)), "a", []string{"shape value -1 is negative"}},
		{"fractional dim", raw(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, zeros(4)), "a", []string{"shape value 1.5 is not an integer"}},
		{"exponent dim", raw(`{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}`, zeros(4)), "a", []string{"shape value 1e0 is not an integer"}},
		{"dim too large", raw(`{"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]}}`, zeros(4)), "a", []string{"shape value 9223372036854775808 is too large"}},
		{"nested shape", raw(`{"a":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}}`, zeros(4)), "a", []string{"shape must hold non-negative integers, got an array"}},
		{"shape string", raw(`{"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}}`, zeros(4)), "a", []string{`shape must be a JSON array, got string "1"`}},
		{"shape null", raw(`{"a":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`, zeros(4)), "a", []string{"shape must be a JSON array, got null"}},
		{"element overflow", raw(`{"a":{"dtype":"U8","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}}`, zeros(4)), "a", []string{"too many elements"}},
		{"byte size overflow", raw(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}`, zeros(8)), "a", []string{"overflows"}},
		{"sub-byte misaligned", raw(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, zeros(2)), "a", []string{"12 bits) do not fill whole bytes"}},
		{"size mismatch", raw(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,15]}}`, zeros(15)), "a", []string{"data_offsets [0,15] span 15 bytes, but F32 x shape [2,2] needs 16"}},
		{"begin after end", raw(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, zeros(8)), "a", []string{"data_offsets [8,0]: begin is after end"}},
		{"negative offset", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, zeros(4)), "a", []string{"data_offsets value -4 is negative"}},
		{"one offset", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`, zeros(4)), "a", []string{"data_offsets must have 2 values [begin,end], got 1"}},
		{"three offsets", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, zeros(8)), "a", []string{"got 3"}},
		{"missing dtype", raw(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, zeros(4)), "a", []string{`missing field "dtype"`}},
		{"missing shape", raw(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, zeros(4)), "a", []string{`missing field "shape"`}},
		{"missing offsets", raw(`{"a":{"dtype":"F32","shape":[1]}}`, zeros(4)), "a", []string{`missing field "data_offsets"`}},
		{"repeated field", raw(`{"a":{"dtype":"F32","dtype":"I8","shape":[1],"data_offsets":[0,4]}}`, zeros(4)), "a", []string{`field "dtype" appears twice`}},
		{"unknown field", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}`, zeros(4)), "a", []string{`unknown field "extra"`}},
		{"case-folded field", raw(`{"a":{"DTYPE":"F32","shape":[1],"data_offsets":[0,4]}}`, zeros(4)), "a", []string{`unknown field "DTYPE"`}},
		{"duplicate names", raw(obj(f32("a", 0, 4), f32("a", 4, 8)), zeros(8)), "a", []string{"duplicate tensor name"}},
		{"duplicate names via escape", raw(obj(f32("a", 0, 4), f32(`\u0061`, 4, 8)), zeros(8)), "a", []string{"duplicate tensor name"}},
		{"identical duplicates", raw(obj(f32("a", 0, 4), f32("a", 0, 4)), zeros(4)), "a", []string{"duplicate tensor name"}},
		{"overlap", raw(obj(f32("a", 0, 8), f32("b", 4, 12)), zeros(12)), "b", []string{`data_offsets [4,12] overlap tensor "a" [0,8]`}},
		{"same range", raw(obj(f32("a", 0, 8), f32("b", 0, 8)), zeros(8)), "b", []string{`overlap tensor "a"`}},
		{"gap", raw(obj(f32("a", 0, 4), f32("b", 8, 12)), zeros(12)), "b", []string{`gap of 4 bytes after "a" (offset 4)`}},
		{"not from zero", raw(obj(f32("a", 4, 8)), zeros(8)), "a", []string{"gap of 4 bytes after the start of the data area"}},
		{"trailing bytes", raw(obj(f32("a", 0, 4)), zeros(6)), "", []string{"2 trailing bytes", "cover 4 of the 6 bytes"}},
		{"data but no tensors", raw(`{}`, zeros(1)), "", []string{"1 trailing bytes"}},
		{"past end", raw(obj(f32("a", 0, 8)), zeros(4)), "a", []string{"data_offsets [0,8] extend past the end of the data area (4 bytes)"}},
		{"metadata number", raw(`{"__metadata__":{"n":1}}`, nil), "", []string{`__metadata__ value of "n" must be a string, got number 1`}},
		{"metadata null value", raw(`{"__metadata__":{"n":null}}`, nil), "", []string{`value of "n" must be a string, got null`}},
		{"metadata nested", raw(`{"__metadata__":{"n":{"x":"y"}}}`, nil), "", []string{`value of "n" must be a string, got an object`}},
		{"metadata array", raw(`{"__metadata__":["a"]}`, nil), "", []string{"__metadata__ must be an object of strings, got an array"}},
		{"metadata string", raw(`{"__metadata__":"a"}`, nil), "", []string{"__metadata__ must be an object of strings"}},
		{"metadata twice", raw(`{"__metadata__":{},"__metadata__":{}}`, nil), "", []string{"__metadata__ appears twice"}},
		{"metadata duplicate key", raw(`{"__metadata__":{"k":"a","k":"b"}}`, nil), "", []string{`__metadata__ key "k" appears twice`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.file, "test.safetensors")
			if err == nil {
				t.Fatalf("Parse succeeded with %d tensors; want an error", len(f.Tensors()))
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not match ErrInvalid", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "test.safetensors: ") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			if tc.tensor != "" && !strings.Contains(msg, `tensor "`+tc.tensor+`": `) {
				t.Errorf("error %q does not name tensor %q", msg, tc.tensor)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			var e *Error
			if !errors.As(err, &e) || e.Tensor != tc.tensor {
				t.Errorf("error %#v: want *Error with Tensor %q", err, tc.tensor)
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		f := mustParse(t, raw(`{}`, nil))
		if len(f.Tensors()) != 0 || f.Metadata() != nil || f.HeaderSize() != 2 || f.DataOffset() != 10 {
			t.Errorf("got %d tensors, metadata %v, header %d, data offset %d",
				len(f.Tensors()), f.Metadata(), f.HeaderSize(), f.DataOffset())
		}
	})
	t.Run("null metadata", func(t *testing.T) {
		f := mustParse(t, raw(`{"__metadata__":null}`, nil))
		if f.Metadata() != nil {
			t.Errorf("metadata %v, want nil", f.Metadata())
		}
	})
	t.Run("empty metadata and space padding", func(t *testing.T) {
		f := mustParse(t, raw(`{"__metadata__":{}}     `, nil))
		if m := f.Metadata(); m == nil || len(m) != 0 {
			t.Errorf("metadata %#v, want empty map", m)
		}
	})
	t.Run("header order kept, offsets in any order", func(t *testing.T) {
		hdr := `{"c":{"dtype":"I8","shape":[2],"data_offsets":[6,8]},` +
			`"__metadata__":{"k":"v","\u00e9":"\ud83d\ude00"},` +
			`"a":{"dtype":"U16","shape":[1,2],"data_offsets":[2,6]},` +
			`"b":{"shape":[],"data_offsets":[0,2],"dtype":"BF16"}}`
		data := []byte{0x80, 0x3f, 1, 0, 2, 0, 0xff, 7}
		f := mustParse(t, raw(hdr, data))
		checkTensors(t, f, []Tensor{
			{Name: "c", DType: I8, Shape: []int64{2}, Offset: 6, Size: 2},
			{Name: "a", DType: U16, Shape: []int64{1, 2}, Offset: 2, Size: 4},
			{Name: "b", DType: BF16, Shape: []int64{}, Offset: 0, Size: 2},
		})
		if m := f.Metadata(); len(m) != 2 || m["k"] != "v" || m["é"] != "😀" {
			t.Errorf("metadata %q", m)
		}
		if b, _ := f.Data("c"); string(b) != "\xff\x07" || cap(b) != 2 {
			t.Errorf("Data(c) = %q (cap %d)", b, cap(b))
		}
		var v [1]float32
		b, _ := f.Data("b")
		if err := ToFloat32(v[:], b, BF16); err != nil || v[0] != 1 {
			t.Errorf("scalar b = %v, %v", v[0], err)
		}
		if _, err := f.Data("nope"); err == nil || !strings.Contains(err.Error(), `no tensor "nope"`) {
			t.Errorf("Data(nope) error %v", err)
		}
	})
	t.Run("zero-size tensors share offsets", func(t *testing.T) {
		hdr := `{"z1":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]},` +
			`"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},` +
			`"z2":{"dtype":"F64","shape":[3,0],"data_offsets":[4,4]},` +
			`"z0":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`
		f := mustParse(t, raw(hdr, make([]byte, 4)))
		for _, n := range []string{"z0", "z1", "z2"} {
			tt, _ := f.Tensor(n)
			if b, err := f.Data(n); err != nil || len(b) != 0 || tt.Elements() != 0 {
				t.Errorf("%s: %d bytes, %d elements, %v", n, len(b), tt.Elements(), err)
			}
		}
	})
	t.Run("only zero-size tensors", func(t *testing.T) {
		mustParse(t, raw(`{"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`, nil))
	})
	t.Run("sub-byte dtypes", func(t *testing.T) {
		hdr := `{"f4":{"dtype":"F4","shape":[2,3],"data_offsets":[0,3]},` +
			`"f6":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[3,6]},` +
			`"e8":{"dtype":"F8_E8M0","shape":[1],"data_offsets":[6,7]}}`
		f := mustParse(t, raw(hdr, make([]byte, 7)))
		if tt, _ := f.Tensor("f4"); tt.Size != 3 || tt.Elements() != 6 {
			t.Errorf("f4: %+v", tt)
		}
	})
	t.Run("NaN and Inf are data", func(t *testing.T) {
		data := binary.LittleEndian.AppendUint32(nil, 0x7fc00000)
		data = binary.LittleEndian.AppendUint32(data, 0xff800000)
		f := mustParse(t, raw(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data))
		b, _ := f.Data("x")
		v := make([]float32, 2)
		if err := ToFloat32(v, b, F32); err != nil || !math.IsNaN(float64(v[0])) || !math.IsInf(float64(v[1]), -1) {
			t.Errorf("got %v, %v", v, err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		f := mustParse(t, raw(`{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}))
		f.Close()
		f.Close()
		if _, err := f.Data("x"); err == nil {
			t.Error("Data after Close succeeded")
		}
	})
}

func mustParse(t *testing.T, data []byte) *File {
	t.Helper()
	f, err := Parse(data, "test.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func checkTensors(t *testing.T, f *File, want []Tensor) {
	t.Helper()
	got := f.Tensors()
	if len(got) != len(want) {
		t.Fatalf("%d tensors, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.DType != w.DType || shapeString(g.Shape) != shapeString(w.Shape) ||
			g.Offset != w.Offset || g.Size != w.Size {
			t.Errorf("tensor %d = %+v, want %+v", i, g, w)
		}
	}
}
