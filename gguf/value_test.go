package gguf

import (
	"encoding/json"
	"math"
	"testing"
)

func TestValueAccessors(t *testing.T) {
	if v := Uint16(7); v.Type() != ValueUint16 || v.Len() != 1 || v.Interface() != uint16(7) {
		t.Errorf("Uint16(7) = %#v", v)
	}
	if u, ok := Int32(-1).AsUint(); ok {
		t.Errorf("AsUint of -1 = %d", u)
	}
	if u, ok := Int64(5).AsUint(); !ok || u != 5 {
		t.Errorf("AsUint of i64 5 = %d %v", u, ok)
	}
	if _, ok := Uint64(math.MaxUint64).AsInt(); ok {
		t.Error("AsInt of MaxUint64 succeeded")
	}
	if i, ok := Uint8(9).AsInt(); !ok || i != 9 {
		t.Errorf("AsInt of u8 9 = %d %v", i, ok)
	}
	if f, ok := Float32(0.5).AsFloat(); !ok || f != 0.5 {
		t.Errorf("AsFloat = %v %v", f, ok)
	}
	if _, ok := String("x").AsFloat(); ok {
		t.Error("AsFloat of a string succeeded")
	}
	if s, ok := String("x").AsString(); !ok || s != "x" {
		t.Errorf("AsString = %q %v", s, ok)
	}
	a := Array([]string{"a", "b"})
	if a.Type() != ValueArray || a.ElemType() != ValueString || a.Len() != 2 || !a.Index(1).Equal(String("b")) {
		t.Errorf("array %v", a)
	}
	src := []uint32{1, 2}
	b := Array(src)
	src[0] = 99
	if b.Index(0).Interface() != uint32(1) {
		t.Error("Array does not copy its input")
	}
	if e := Array([]float64(nil)); e.Len() != 0 || e.ElemType() != ValueFloat64 {
		t.Errorf("empty array %v", e)
	}
	if Float32(float32(math.NaN())).Equal(Float64(math.NaN())) || Uint8(1).Equal(Int8(1)) {
		t.Error("Equal ignores types")
	}
	if Array([]uint8{}).Equal(Array([]int8{})) {
		t.Error("Equal ignores array element types")
	}
	if s := Array([]int32{1, 2, 3, 4, 5, 6, 7, 8, 9}).String(); s != "[i32 x 9]: [1 2 3 4 5 6 7 8 ...]" {
		t.Errorf("String = %q", s)
	}
	if s := (Value{}).String(); s != "<invalid>" {
		t.Errorf("zero Value String = %q", s)
	}
	if ValueType(13).Valid() || ValueType(13).String() != "value_type(13)" || ValueFloat64.String() != "f64" {
		t.Error("ValueType names")
	}
}

func TestValueJSON(t *testing.T) {
	nested, err := ArrayOf(ValueArray, Array([]float32{1e-5, float32(math.Inf(1))}), Array([]bool{true}))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		v    Value
		want string
	}{
		{Uint64(math.MaxUint64), "18446744073709551615"},
		{Int64(math.MinInt64), "-9223372036854775808"},
		{Int8(-3), "-3"},
		{Float32(1e-5), "1e-05"},
		{Float32(0.1), "0.1"},
		{Float64(0.1), "0.1"},
		{Float64(math.NaN()), `"NaN"`},
		{Float32(float32(math.Inf(-1))), `"-Inf"`},
		{Bool(true), "true"},
		{String("a\"b"), `"a\"b"`},
		{Array([]uint8{}), "[]"},
		{Array([]string{"x", "y"}), `["x","y"]`},
		{nested, `[[1e-05,"+Inf"],[true]]`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.v.JSON())
		if err != nil {
			t.Errorf("%v: %v", c.v, err)
			continue
		}
		if string(b) != c.want {
			t.Errorf("JSON of %v = %s, want %s", c.v, b, c.want)
		}
	}
}
