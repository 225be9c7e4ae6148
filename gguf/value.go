package gguf

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// ValueType is the type id of a GGUF metadata value (the u32 stored before
// every value, and before the elements of an array).
type ValueType uint32

// The 13 GGUF metadata value types.
const (
	ValueUint8   ValueType = 0
	ValueInt8    ValueType = 1
	ValueUint16  ValueType = 2
	ValueInt16   ValueType = 3
	ValueUint32  ValueType = 4
	ValueInt32   ValueType = 5
	ValueFloat32 ValueType = 6
	ValueBool    ValueType = 7
	ValueString  ValueType = 8
	ValueArray   ValueType = 9
	ValueUint64  ValueType = 10
	ValueInt64   ValueType = 11
	ValueFloat64 ValueType = 12

	valueTypeCount ValueType = 13
)

var valueTypeNames = [valueTypeCount]string{
	"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
}

// fixedSize is the encoded size of a scalar of type t, 0 for string and
// array (whose size depends on the content).
var fixedSize = [valueTypeCount]int{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}

// Valid reports whether t is one of the 13 GGUF value types.
func (t ValueType) Valid() bool { return t < valueTypeCount }

// String returns a short name for t ("u32", "string", "array", ...).
func (t ValueType) String() string {
	if t.Valid() {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("value_type(%d)", uint32(t))
}

// Value is one GGUF metadata value: a scalar, a string or a typed array
// (possibly of arrays). It keeps the exact stored type, so a value read
// from a file is written back byte for byte, including the element type of
// an empty array. The zero Value is invalid; build values with the
// constructors (Uint32, String, Array, ArrayOf, ...).
//
// Arrays of scalars and strings are held as Go slices ([]uint32, []string,
// ...); arrays of arrays as []Value. Values are immutable: the accessors
// return the stored slices, which callers must not modify.
type Value struct {
	typ  ValueType
	elem ValueType // element type when typ == ValueArray
	x    any       // uint8 ... float64, bool, string, or a slice for arrays
}

// Scalar is the set of Go types that map one-to-one onto GGUF scalar and
// string value types.
type Scalar interface {
	uint8 | int8 | uint16 | int16 | uint32 | int32 | float32 | bool | string | uint64 | int64 | float64
}

// Uint8 returns a u8 value.
func Uint8(v uint8) Value { return Value{typ: ValueUint8, x: v} }

// Int8 returns an i8 value.
func Int8(v int8) Value { return Value{typ: ValueInt8, x: v} }

// Uint16 returns a u16 value.
func Uint16(v uint16) Value { return Value{typ: ValueUint16, x: v} }

// Int16 returns an i16 value.
func Int16(v int16) Value { return Value{typ: ValueInt16, x: v} }

// Uint32 returns a u32 value.
func Uint32(v uint32) Value { return Value{typ: ValueUint32, x: v} }

// Int32 returns an i32 value.
func Int32(v int32) Value { return Value{typ: ValueInt32, x: v} }

// Float32 returns an f32 value.
func Float32(v float32) Value { return Value{typ: ValueFloat32, x: v} }

// Bool returns a bool value.
func Bool(v bool) Value { return Value{typ: ValueBool, x: v} }

// String returns a string value.
func String(v string) Value { return Value{typ: ValueString, x: v} }

// Uint64 returns a u64 value.
func Uint64(v uint64) Value { return Value{typ: ValueUint64, x: v} }

// Int64 returns an i64 value.
func Int64(v int64) Value { return Value{typ: ValueInt64, x: v} }

// Float64 returns an f64 value.
func Float64(v float64) Value { return Value{typ: ValueFloat64, x: v} }

// scalarType returns the value type of Go type T.
func scalarType[T Scalar]() ValueType {
	var z T
	switch any(z).(type) {
	case uint8:
		return ValueUint8
	case int8:
		return ValueInt8
	case uint16:
		return ValueUint16
	case int16:
		return ValueInt16
	case uint32:
		return ValueUint32
	case int32:
		return ValueInt32
	case float32:
		return ValueFloat32
	case bool:
		return ValueBool
	case string:
		return ValueString
	case uint64:
		return ValueUint64
	case int64:
		return ValueInt64
	default: // float64
		return ValueFloat64
	}
}

// Array returns an array of scalars or strings; the element type follows
// from T, so an empty []uint32 gives an empty array of u32. The slice is
// copied.
func Array[T Scalar](elems []T) Value {
	s := slices.Clone(elems)
	if s == nil {
		s = []T{}
	}
	return Value{typ: ValueArray, elem: scalarType[T](), x: s}
}

// ArrayOf returns an array of element type elem holding elems, each of
// which must have type elem. It is the general constructor, needed for
// arrays of arrays (elem == ValueArray; the inner arrays may differ in
// element type and length).
func ArrayOf(elem ValueType, elems ...Value) (Value, error) {
	if !elem.Valid() {
		return Value{}, fmt.Errorf("gguf: invalid array element type %s", elem)
	}
	for i, e := range elems {
		if err := e.check(); err != nil {
			return Value{}, fmt.Errorf("gguf: array element %d: %w", i, err)
		}
		if e.typ != elem {
			return Value{}, fmt.Errorf("gguf: array element %d has type %s, want %s", i, e.typ, elem)
		}
	}
	if elem == ValueArray {
		return Value{typ: ValueArray, elem: ValueArray, x: append([]Value{}, elems...)}, nil
	}
	var x any
	switch elem {
	case ValueUint8:
		x = collect[uint8](elems)
	case ValueInt8:
		x = collect[int8](elems)
	case ValueUint16:
		x = collect[uint16](elems)
	case ValueInt16:
		x = collect[int16](elems)
	case ValueUint32:
		x = collect[uint32](elems)
	case ValueInt32:
		x = collect[int32](elems)
	case ValueFloat32:
		x = collect[float32](elems)
	case ValueBool:
		x = collect[bool](elems)
	case ValueString:
		x = collect[string](elems)
	case ValueUint64:
		x = collect[uint64](elems)
	case ValueInt64:
		x = collect[int64](elems)
	case ValueFloat64:
		x = collect[float64](elems)
	}
	return Value{typ: ValueArray, elem: elem, x: x}, nil
}

func collect[T Scalar](elems []Value) []T {
	out := make([]T, len(elems))
	for i, e := range elems {
		out[i] = e.x.(T)
	}
	return out
}

// check reports whether v was built by a constructor (or the reader): its
// Go representation matches its type.
func (v Value) check() error {
	if !v.typ.Valid() {
		return fmt.Errorf("invalid value type %s", v.typ)
	}
	ok := false
	switch x := v.x.(type) {
	case uint8:
		ok = v.typ == ValueUint8
	case int8:
		ok = v.typ == ValueInt8
	case uint16:
		ok = v.typ == ValueUint16
	case int16:
		ok = v.typ == ValueInt16
	case uint32:
		ok = v.typ == ValueUint32
	case int32:
		ok = v.typ == ValueInt32
	case float32:
		ok = v.typ == ValueFloat32
	case bool:
		ok = v.typ == ValueBool
	case string:
		ok = v.typ == ValueString
	case uint64:
		ok = v.typ == ValueUint64
	case int64:
		ok = v.typ == ValueInt64
	case float64:
		ok = v.typ == ValueFloat64
	case []Value:
		if v.typ == ValueArray && v.elem == ValueArray {
			for i, e := range x {
				if e.typ != ValueArray {
					return fmt.Errorf("nested array element %d has type %s", i, e.typ)
				}
				if err := e.check(); err != nil {
					return err
				}
			}
			ok = true
		}
	default:
		ok = v.typ == ValueArray && v.elem != ValueArray && v.elem.Valid() && sliceType(v.x) == v.elem
	}
	if !ok {
		return fmt.Errorf("malformed value of type %s (build values with the gguf constructors)", v.typ)
	}
	return nil
}

// sliceType returns the element value type of a scalar slice, or an
// invalid type.
func sliceType(x any) ValueType {
	switch x.(type) {
	case []uint8:
		return ValueUint8
	case []int8:
		return ValueInt8
	case []uint16:
		return ValueUint16
	case []int16:
		return ValueInt16
	case []uint32:
		return ValueUint32
	case []int32:
		return ValueInt32
	case []float32:
		return ValueFloat32
	case []bool:
		return ValueBool
	case []string:
		return ValueString
	case []uint64:
		return ValueUint64
	case []int64:
		return ValueInt64
	case []float64:
		return ValueFloat64
	}
	return valueTypeCount
}

// Type returns the value's type.
func (v Value) Type() ValueType { return v.typ }

// ElemType returns the element type of an array (meaningful only when
// Type() == ValueArray).
func (v Value) ElemType() ValueType { return v.elem }

// Len returns the number of elements of an array, the byte length of a
// string, and 1 for other scalars.
func (v Value) Len() int {
	switch x := v.x.(type) {
	case string:
		return len(x)
	case []Value:
		return len(x)
	}
	if v.typ != ValueArray {
		return 1
	}
	switch x := v.x.(type) {
	case []uint8:
		return len(x)
	case []int8:
		return len(x)
	case []uint16:
		return len(x)
	case []int16:
		return len(x)
	case []uint32:
		return len(x)
	case []int32:
		return len(x)
	case []float32:
		return len(x)
	case []bool:
		return len(x)
	case []string:
		return len(x)
	case []uint64:
		return len(x)
	case []int64:
		return len(x)
	case []float64:
		return len(x)
	}
	return 0
}

// Interface returns the Go value as stored: uint8 ... float64, bool or
// string for scalars; []uint8 ... []string for arrays of scalars; []Value
// for arrays of arrays. Callers must not modify returned slices.
func (v Value) Interface() any { return v.x }

// Index returns element i of an array as a Value. It panics when v is not
// an array or i is out of range, like a slice index.
func (v Value) Index(i int) Value {
	switch x := v.x.(type) {
	case []Value:
		return x[i]
	case []uint8:
		return Uint8(x[i])
	case []int8:
		return Int8(x[i])
	case []uint16:
		return Uint16(x[i])
	case []int16:
		return Int16(x[i])
	case []uint32:
		return Uint32(x[i])
	case []int32:
		return Int32(x[i])
	case []float32:
		return Float32(x[i])
	case []bool:
		return Bool(x[i])
	case []string:
		return String(x[i])
	case []uint64:
		return Uint64(x[i])
	case []int64:
		return Int64(x[i])
	case []float64:
		return Float64(x[i])
	}
	panic("gguf: Index of non-array value of type " + v.typ.String())
}

// AsString returns the string held by a string value.
func (v Value) AsString() (string, bool) { s, ok := v.x.(string); return s, ok }

// AsBool returns the value of a bool value.
func (v Value) AsBool() (bool, bool) { b, ok := v.x.(bool); return b, ok }

// AsUint returns the value of any integer value that is nonnegative, as
// uint64.
func (v Value) AsUint() (uint64, bool) {
	switch x := v.x.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	}
	if i, ok := v.asSigned(); ok && i >= 0 {
		return uint64(i), true
	}
	return 0, false
}

// AsInt returns the value of any integer value that fits in int64.
func (v Value) AsInt() (int64, bool) {
	if i, ok := v.asSigned(); ok {
		return i, true
	}
	if u, ok := v.AsUint(); ok && u <= math.MaxInt64 {
		return int64(u), true
	}
	return 0, false
}

func (v Value) asSigned() (int64, bool) {
	switch x := v.x.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// AsFloat returns the value of an f32 or f64 value as float64.
func (v Value) AsFloat() (float64, bool) {
	switch x := v.x.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// Equal reports whether v and w have the same type and the same content
// (floats compared bit for bit, so NaNs with equal bits are equal).
func (v Value) Equal(w Value) bool {
	if v.typ != w.typ || (v.typ == ValueArray && v.elem != w.elem) {
		return false
	}
	switch x := v.x.(type) {
	case float32:
		y, ok := w.x.(float32)
		return ok && math.Float32bits(x) == math.Float32bits(y)
	case float64:
		y, ok := w.x.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case []Value:
		y, ok := w.x.([]Value)
		return ok && slices.EqualFunc(x, y, Value.Equal)
	case []float32:
		y, ok := w.x.([]float32)
		return ok && slices.EqualFunc(x, y, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) })
	case []float64:
		y, ok := w.x.([]float64)
		return ok && slices.EqualFunc(x, y, func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) })
	case []uint8:
		return equalSlice(x, w.x)
	case []int8:
		return equalSlice(x, w.x)
	case []uint16:
		return equalSlice(x, w.x)
	case []int16:
		return equalSlice(x, w.x)
	case []uint32:
		return equalSlice(x, w.x)
	case []int32:
		return equalSlice(x, w.x)
	case []bool:
		return equalSlice(x, w.x)
	case []string:
		return equalSlice(x, w.x)
	case []uint64:
		return equalSlice(x, w.x)
	case []int64:
		return equalSlice(x, w.x)
	}
	return v.x == w.x
}

func equalSlice[T comparable](x []T, y any) bool {
	ys, ok := y.([]T)
	return ok && slices.Equal(x, ys)
}

// JSON returns v as a value that encoding/json marshals faithfully, for
// `qconv inspect --json`: integers as int64/uint64 (exact), floats as
// json.Number in their shortest round-trip form for their precision (so
// an f32 1e-5 prints as 1e-05, not 9.999999747378752e-06), non-finite
// floats as the strings "NaN", "+Inf" and "-Inf", and arrays as []any.
func (v Value) JSON() any {
	switch x := v.x.(type) {
	case uint8, uint16, uint32, uint64:
		u, _ := v.AsUint()
		return u
	case int8, int16, int32, int64:
		i, _ := v.asSigned()
		return i
	case float32:
		return jsonFloat(float64(x), 32)
	case float64:
		return jsonFloat(x, 64)
	case bool, string:
		return x
	}
	if v.typ != ValueArray {
		return nil
	}
	n := v.Len()
	out := make([]any, n)
	for i := range n {
		out[i] = v.Index(i).JSON()
	}
	return out
}

func jsonFloat(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, bits))
}

// String formats v for humans: scalars as their value (strings quoted),
// arrays as "[u32 x 3]: [1 2 3]", truncated after a few elements.
func (v Value) String() string {
	switch x := v.x.(type) {
	case string:
		return strconv.Quote(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case nil:
		return "<invalid>"
	}
	if v.typ != ValueArray {
		return fmt.Sprint(v.x)
	}
	n := v.Len()
	s := fmt.Sprintf("[%s x %d]", v.elem, n)
	if n == 0 {
		return s
	}
	s += ": ["
	const maxShown = 8
	for i := range min(n, maxShown) {
		if i > 0 {
			s += " "
		}
		s += v.Index(i).String()
	}
	if n > maxShown {
		s += " ..."
	}
	return s + "]"
}

// KV is one metadata key/value pair.
type KV struct {
	Key   string
	Value Value
}
