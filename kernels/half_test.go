package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"
)

func TestFP16(t *testing.T) {
	for h := range 1 << 16 {
		got, want := fp16ToFP32(uint16(h)), float16.Frombits(uint16(h)).Float32()
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("fp16ToFP32(%#04x) = %g, want %g", h, got, want)
		}
		if want == want && fp32ToFP16(want) != uint16(h) {
			t.Fatalf("fp32ToFP16(%g) = %#04x, want %#04x", want, fp32ToFP16(want), h)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(f float32) {
		if got, want := fp32ToFP16(f), float16.Fromfloat32(f).Bits(); got != want && f == f {
			t.Fatalf("fp32ToFP16(%g [%#08x]) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
	for range 1 << 20 {
		check(math.Float32frombits(rng.Uint32())) // every exponent
		// the binary16 range, including ties and subnormals
		check(math.Float32frombits(rng.Uint32N(0x47800000-0x33000000) + 0x33000000))
	}
	if got := fp32ToFP16(float32(math.NaN())); got != 0x7e00 {
		t.Errorf("NaN -> %#04x", got)
	}
}
