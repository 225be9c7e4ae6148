package quantize

import (
	"math"
	"testing"
)

// TestHalfRoundTrip checks every binary16 value widens and narrows back to
// itself (NaNs stay NaN) and that ties round to even.
func TestHalfRoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := fp16ToFP32(uint16(h))
		back := fp32ToFP16(f)
		if f != f {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, back)
		}
	}
	cases := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3c00},
		{1 + 1.0/2048, 0x3c00},             // tie between 1 and 1+2^-10: even (1)
		{1 + 3.0/2048, 0x3c02},             // tie: rounds up to even
		{65504, 0x7bff},                    // max half
		{65520, 0x7c00},                    // rounds to +inf
		{float32(math.Ldexp(1, -24)), 1},   // smallest subnormal
		{float32(math.Ldexp(1, -25)), 0},   // tie to even: zero
		{float32(math.Ldexp(1.5, -25)), 1}, // above the tie
		{-2, 0xc000},
	}
	for _, c := range cases {
		if got := fp32ToFP16(c.f); got != c.want {
			t.Errorf("fp32ToFP16(%g) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
}
