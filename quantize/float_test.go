package quantize

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/qconv/qconv/gguf"
)

func TestBF16KnownValues(t *testing.T) {
	cases := []struct {
		in   uint32 // f32 bits
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1.0 exact
		{0x80000000, 0x8000}, // -0
		{0x3f808000, 0x3f80}, // tie, kept bit even: stays
		{0x3f818000, 0x3f82}, // tie, kept bit odd: rounds up to even
		{0x3f808001, 0x3f81}, // just above the tie
		{0x3f807fff, 0x3f80}, // just below the tie
		{0xbf818000, 0xbf82}, // negative tie, magnitude rounds up
		{0x7f7fffff, 0x7f80}, // FLT_MAX rounds to +inf
		{0x7f800000, 0x7f80}, // +inf
		{0xff800000, 0xff80}, // -inf
		{0x7f800001, 0x7fc0}, // signalling NaN: forced quiet, payload top kept
		{0xff812345, 0xffc1}, // negative NaN keeps sign and top payload bits
		{0x7fc00000, 0x7fc0}, // quiet NaN
		{0x00018000, 0x0002}, // subnormal tie to even (not flushed)
		{0x00008000, 0x0000}, // subnormal tie to even zero
		{0x40490fdb, 0x4049}, // pi
	}
	for _, c := range cases {
		if got := fp32ToBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("fp32ToBF16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	// Widening is exact: the bits move up by 16.
	for _, h := range []uint16{0, 0x8000, 0x3f80, 0x4049, 0x0001, 0x7f80, 0xff80, 0x7fc0} {
		if got := math.Float32bits(bf16ToFP32(h)); got != uint32(h)<<16 {
			t.Errorf("bf16ToFP32(%#04x) = %#08x", h, got)
		}
	}
}

func TestFloatRows(t *testing.T) {
	src := []float32{1, -2, 0.1, 65504, 1e-8, float32(math.Inf(1)), 3.140625, float32(math.Copysign(0, -1))}
	f16 := []uint16{0x3c00, 0xc000, 0x2e66, 0x7bff, 0x0000, 0x7c00, 0x4248, 0x8000}
	bf16 := []uint16{0x3f80, 0xc000, 0x3dcd, 0x4780, 0x322c, 0x7f80, 0x4049, 0x8000}

	check := func(typ gguf.Type, want []uint16) {
		t.Helper()
		tr, ok := Lookup(typ)
		if !ok {
			t.Fatalf("%v not registered", typ)
		}
		dst := make([]byte, tr.RowBytes(len(src)))
		if err := Quantize(typ, dst, src, len(src), nil); err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if got := binary.LittleEndian.Uint16(dst[2*i:]); got != w {
				t.Errorf("%s: element %d (%g) = %#04x, want %#04x", tr.Name, i, src[i], got, w)
			}
		}
		back := make([]float32, len(src))
		if err := Dequantize(typ, back, dst); err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			var exp float32
			if typ == gguf.TypeF16 {
				exp = fp16ToFP32(w)
			} else {
				exp = bf16ToFP32(w)
			}
			if math.Float32bits(back[i]) != math.Float32bits(exp) {
				t.Errorf("%s: dequantized element %d = %g, want %g", tr.Name, i, back[i], exp)
			}
		}
	}
	check(gguf.TypeF16, f16)
	check(gguf.TypeBF16, bf16)

	// F32 is a bit-exact copy, NaN payloads included.
	in := []float32{1, math.Float32frombits(0x7f800123), float32(math.Copysign(0, -1)), 1e-45}
	dst := make([]byte, 16)
	if err := Quantize(gguf.TypeF32, dst, in, len(in), nil); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(in))
	if err := Dequantize(gguf.TypeF32, out, dst); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if math.Float32bits(in[i]) != math.Float32bits(out[i]) ||
			binary.LittleEndian.Uint32(dst[4*i:]) != math.Float32bits(in[i]) {
			t.Errorf("f32 element %d: %#08x came back as %#08x", i, math.Float32bits(in[i]), math.Float32bits(out[i]))
		}
	}
}
