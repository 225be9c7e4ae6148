package safetensors

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/x448/float16"
)

// conv converts one little-endian element.
func conv(t *testing.T, dt DType, src []byte) float32 {
	t.Helper()
	var dst [1]float32
	if err := ToFloat32(dst[:], src, dt); err != nil {
		t.Fatalf("%v %x: %v", dt, src, err)
	}
	return dst[0]
}

type bitCase struct {
	in   uint64
	want float32
	bits uint32 // checked instead of want when non-zero (NaNs, exact bit patterns)
}

func checkCases(t *testing.T, dt DType, cases []bitCase) {
	t.Helper()
	for _, c := range cases {
		src := binary.LittleEndian.AppendUint64(nil, c.in)[:dt.Size()]
		got := conv(t, dt, src)
		switch {
		case c.bits != 0:
			if math.Float32bits(got) != c.bits {
				t.Errorf("%v %#x = %#08x (%v), want bits %#08x", dt, c.in, math.Float32bits(got), got, c.bits)
			}
		case math.Float32bits(got) != math.Float32bits(c.want):
			t.Errorf("%v %#x = %v (%#08x), want %v", dt, c.in, got, math.Float32bits(got), c.want)
		}
	}
}

func TestF16AllValues(t *testing.T) {
	src := make([]byte, 2*65536)
	for i := range 65536 {
		binary.LittleEndian.PutUint16(src[2*i:], uint16(i))
	}
	dst := make([]float32, 65536)
	if err := ToFloat32(dst, src, F16); err != nil {
		t.Fatal(err)
	}
	for i, got := range dst {
		want := float16.Frombits(uint16(i)).Float32()
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("F16 %#04x = %#08x, x448/float16 says %#08x", i, math.Float32bits(got), math.Float32bits(want))
		}
		// Round trip: every F16 value is exactly representable.
		if back := float16.Fromfloat32(got).Bits(); back != uint16(i) && !math.IsNaN(float64(got)) {
			t.Fatalf("F16 %#04x -> %v -> %#04x", i, got, back)
		}
	}
}

func TestF16Known(t *testing.T) {
	checkCases(t, F16, []bitCase{
		{in: 0x3c00, want: 1},
		{in: 0xc000, want: -2},
		{in: 0x0000, bits: 0}, {in: 0x8000, bits: 0x80000000},
		{in: 0x0001, want: 0x1p-24},               // smallest subnormal
		{in: 0x03ff, want: 0x3ffp-24},             // largest subnormal
		{in: 0x0400, want: 0x1p-14},               // smallest normal
		{in: 0x7bff, want: 65504},                 // max
		{in: 0x7c00, want: float32(math.Inf(1))},  // +inf
		{in: 0xfc00, want: float32(math.Inf(-1))}, // -inf
		{in: 0x7e00, bits: 0x7fc00000},            // quiet NaN
		{in: 0x7c01, bits: 0x7fc02000},            // signalling NaN: payload kept, made quiet
		{in: 0x3555, want: 0x1.554p-2},            // ~1/3
	})
}

func TestBF16Known(t *testing.T) {
	checkCases(t, BF16, []bitCase{
		{in: 0x3f80, want: 1},
		{in: 0xbf80, want: -1},
		{in: 0x8000, bits: 0x80000000},
		{in: 0x0001, bits: 0x00010000},                       // subnormal
		{in: 0x7f7f, want: math.Float32frombits(0x7f7f0000)}, // max
		{in: 0x7f80, want: float32(math.Inf(1))},
		{in: 0xff80, want: float32(math.Inf(-1))},
		{in: 0x7fc1, bits: 0x7fc10000}, // NaN payload kept
	})
}

func TestF8E4M3(t *testing.T) {
	checkCases(t, F8E4M3, []bitCase{
		{in: 0x38, want: 1},
		{in: 0xb8, want: -1},
		{in: 0x00, bits: 0}, {in: 0x80, bits: 0x80000000},
		{in: 0x01, want: 0x1p-9},     // smallest subnormal
		{in: 0x07, want: 0x7p-9},     // largest subnormal
		{in: 0x08, want: 0x1p-6},     // smallest normal
		{in: 0x7e, want: 448},        // max
		{in: 0xfe, want: -448},       // min
		{in: 0x78, want: 256},        // exponent 15 is finite
		{in: 0x7f, bits: 0x7fc00000}, // NaN
		{in: 0xff, bits: 0xffc00000}, // NaN
	})
	nans := 0
	for b := range 256 {
		v := conv(t, F8E4M3, []byte{byte(b)})
		if math.IsNaN(float64(v)) {
			nans++
		}
		if math.IsInf(float64(v), 0) {
			t.Errorf("E4M3 %#02x is infinite", b)
		}
	}
	if nans != 2 {
		t.Errorf("%d NaNs, want 2", nans)
	}
}

func TestF8E5M2(t *testing.T) {
	checkCases(t, F8E5M2, []bitCase{
		{in: 0x3c, want: 1},
		{in: 0x01, want: 0x1p-16},
		{in: 0x03, want: 0x3p-16},
		{in: 0x04, want: 0x1p-14},
		{in: 0x7b, want: 57344},
		{in: 0xfb, want: -57344},
		{in: 0x7c, want: float32(math.Inf(1))},
		{in: 0xfc, want: float32(math.Inf(-1))},
		{in: 0x80, bits: 0x80000000},
	})
	for _, b := range []byte{0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff} {
		if v := conv(t, F8E5M2, []byte{b}); !math.IsNaN(float64(v)) {
			t.Errorf("E5M2 %#02x = %v, want NaN", b, v)
		}
	}
}

func TestF8E8M0(t *testing.T) {
	checkCases(t, F8E8M0, []bitCase{
		{in: 0x7f, want: 1},
		{in: 0x80, want: 2},
		{in: 0x7e, want: 0.5},
		{in: 0x00, bits: 0x00400000}, // 2^-127, a float32 subnormal
		{in: 0x01, bits: 0x00800000}, // 2^-126
		{in: 0xfe, want: 0x1p127},
		{in: 0xff, bits: 0x7fc00000}, // NaN
	})
}

func TestF8FNUZ(t *testing.T) {
	checkCases(t, F8E4M3FNUZ, []bitCase{
		{in: 0x40, want: 1},
		{in: 0xc0, want: -1},
		{in: 0x00, bits: 0},
		{in: 0x01, want: 0x1p-10},
		{in: 0x7f, want: 240},
		{in: 0xff, want: -240},
		{in: 0x80, bits: 0xffc00000}, // the only NaN
	})
	checkCases(t, F8E5M2FNUZ, []bitCase{
		{in: 0x40, want: 1},
		{in: 0x01, want: 0x1p-17},
		{in: 0x7f, want: 57344},
		{in: 0xfc, want: -32768},
		{in: 0x80, bits: 0xffc00000},
	})
	for _, dt := range []DType{F8E4M3FNUZ, F8E5M2FNUZ} {
		for b := range 256 {
			v := conv(t, dt, []byte{byte(b)})
			if math.IsInf(float64(v), 0) || (math.IsNaN(float64(v)) != (b == 0x80)) {
				t.Errorf("%v %#02x = %v", dt, b, v)
			}
		}
	}
}

func TestF64AndF32(t *testing.T) {
	checkCases(t, F64, []bitCase{
		{in: math.Float64bits(1), want: 1},
		{in: math.Float64bits(math.Copysign(0, -1)), bits: 0x80000000},
		{in: math.Float64bits(1 + 0x1p-24), want: 1},           // tie -> even
		{in: math.Float64bits(1 + 0x3p-24), want: 1 + 0x1p-22}, // tie -> even (up)
		{in: math.Float64bits(1 + 0x1p-24 + 0x1p-40), want: 1 + 0x1p-23},
		{in: math.Float64bits(0x1p-150), want: 0}, // tie -> even (zero)
		{in: math.Float64bits(0x1.8p-149), want: 0x1p-148},
		{in: math.Float64bits(math.MaxFloat32), want: math.MaxFloat32},
		{in: math.Float64bits(1e39), want: float32(math.Inf(1))},
		{in: math.Float64bits(math.Inf(-1)), want: float32(math.Inf(-1))},
		{in: math.Float64bits(0.1), want: float32(0.1)},
	})
	if v := conv(t, F64, binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.NaN()))); !math.IsNaN(float64(v)) {
		t.Errorf("F64 NaN -> %v", v)
	}
	checkCases(t, F32, []bitCase{
		{in: 0x3f800000, want: 1},
		{in: 0x00000001, bits: 0x00000001},
		{in: 0x7fa00001, bits: 0x7fa00001}, // signalling NaN kept
		{in: 0xff800000, want: float32(math.Inf(-1))},
	})
}

func TestIntegers(t *testing.T) {
	checkCases(t, Bool, []bitCase{{in: 0, want: 0}, {in: 1, want: 1}, {in: 2, want: 1}})
	checkCases(t, U8, []bitCase{{in: 255, want: 255}})
	checkCases(t, I8, []bitCase{{in: 0x80, want: -128}, {in: 0x7f, want: 127}})
	checkCases(t, U16, []bitCase{{in: 0xffff, want: 65535}})
	checkCases(t, I16, []bitCase{{in: 0x8000, want: -32768}})
	checkCases(t, U32, []bitCase{{in: 0xffffffff, want: 4294967296}, {in: 1<<24 + 1, want: 1 << 24}})
	checkCases(t, I32, []bitCase{{in: 0x80000000, want: -2147483648}})
	checkCases(t, U64, []bitCase{{in: math.MaxUint64, want: 0x1p64}})
	checkCases(t, I64, []bitCase{{in: 1 << 63, want: -0x1p63}, {in: 1<<24 + 3, want: 1<<24 + 4}})
}

func TestToFloat32Errors(t *testing.T) {
	for _, dt := range []DType{C64, F4, F6E2M3, F6E3M2, 0, numDTypes} {
		if err := ToFloat32(make([]float32, 1), make([]byte, 8), dt); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%v: %v, want ErrUnsupported", dt, err)
		}
	}
	if err := ToFloat32(make([]float32, 1), make([]byte, 3), F16); err == nil {
		t.Error("odd byte count accepted")
	}
	if err := ToFloat32(make([]float32, 1), make([]byte, 4), F16); err == nil {
		t.Error("short destination accepted")
	}
	if err := ToFloat32(nil, nil, F32); err != nil {
		t.Errorf("empty: %v", err)
	}
}

func TestDType(t *testing.T) {
	want := map[string]int{
		"BOOL": 8, "U8": 8, "I8": 8, "U16": 16, "I16": 16, "U32": 32, "I32": 32, "U64": 64, "I64": 64,
		"F16": 16, "BF16": 16, "F32": 32, "F64": 64, "C64": 64, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8,
		"F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F6_E2M3": 6, "F6_E3M2": 6, "F4": 4,
	}
	if len(DTypes()) != len(want) {
		t.Errorf("%d dtypes, want %d", len(DTypes()), len(want))
	}
	for _, d := range DTypes() {
		bits, ok := want[d.String()]
		if !ok || d.Bits() != bits {
			t.Errorf("%v: %d bits, want %d (known %v)", d, d.Bits(), bits, ok)
		}
		if p, ok := ParseDType(d.String()); !ok || p != d {
			t.Errorf("ParseDType(%q) = %v, %v", d.String(), p, ok)
		}
		if bits%8 == 0 && d.Size() != bits/8 || bits%8 != 0 && d.Size() != 0 {
			t.Errorf("%v: Size %d", d, d.Size())
		}
	}
	for _, s := range []string{"", "f32", "F8_E4M3FN", "FP4", "BOOL "} {
		if _, ok := ParseDType(s); ok {
			t.Errorf("ParseDType(%q) accepted", s)
		}
	}
	if DType(0).Valid() || DType(0).String() != "DType(0)" {
		t.Errorf("zero dtype: %v", DType(0))
	}
	for _, c := range []struct {
		d    DType
		n    int64
		want int64
		ok   bool
	}{
		{F4, 2, 1, true}, {F4, 3, 0, false}, {F6E2M3, 4, 3, true}, {F6E3M2, 2, 0, false},
		{F64, math.MaxInt64 / 8, math.MaxInt64 / 8 * 8, true}, {F64, math.MaxInt64/8 + 1, 0, false},
		{F4, math.MaxInt64 / 4 &^ 1, math.MaxInt64 / 4 &^ 1 / 2, true}, {F4, math.MaxInt64/4 + 1, 0, false},
		{U8, -1, 0, false}, {0, 1, 0, false}, {F32, 0, 0, true},
	} {
		got, err := c.d.ByteSize(c.n)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%v.ByteSize(%d) = %d, %v", c.d, c.n, got, err)
		}
	}
}
