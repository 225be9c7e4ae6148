package quantize

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bestIndexIQ4Bisect is ggml's best_index_int8 written as it is in C.
func bestIndexIQ4Bisect(x float32) uint8 {
	v := &iq4nlValues
	if x <= float32(v[0]) {
		return 0
	}
	if x >= float32(v[15]) {
		return 15
	}
	ml, mu := 0, 15
	for mu-ml > 1 {
		mav := (ml + mu) / 2
		if x < float32(v[mav]) {
			mu = mav
		} else {
			ml = mav
		}
	}
	if x-float32(v[mu-1]) < float32(v[mu])-x {
		return uint8(mu - 1)
	}
	return uint8(mu)
}

// TestBestIndexIQ4 checks the table lookup against the bisection on every
// table value, every midpoint, their float32 neighbours, integers and
// half-integers across the range, special values and random values.
func TestBestIndexIQ4(t *testing.T) {
	check := func(x float32) {
		if got, want := bestIndexIQ4(x), bestIndexIQ4Bisect(x); got != want {
			t.Fatalf("bestIndexIQ4(%v = %#08x) = %d, bisection gives %d", x, math.Float32bits(x), got, want)
		}
	}
	near := func(x float32) {
		check(x)
		check(math.Nextafter32(x, float32(math.Inf(1))))
		check(math.Nextafter32(x, float32(math.Inf(-1))))
	}
	for i := -140; i <= 140; i++ {
		near(float32(i))
		near(float32(i) + 0.5)
	}
	for k := 0; k < 15; k++ {
		near(float32(iq4nlValues[k]+iq4nlValues[k+1]) / 2)
	}
	for _, x := range []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), 1e-45, -1e-45, 1e30, -1e30} {
		check(x)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 1_000_000; i++ {
		check(float32(r.Float64()*260 - 130))
	}
	// The midpoint rule: ties go to the upper value, as in ggml.
	// -4.5 is halfway between -10 (index 7) and 1 (index 8).
	if got := bestIndexIQ4(-4.5); got != 8 {
		t.Errorf("tie at -4.5 gave %d, want 8", got)
	}
}

// TestIQ4Degenerate pins ggml's output for all-zero blocks: IQ4_NL's search
// path writes d = 0 and index 8 everywhere (0x88 bytes); IQ4_XS writes the
// fp16 of -0/32 = -0 (0x8000), scale code 32 and 0x88 bytes.
func TestIQ4Degenerate(t *testing.T) {
	x := make([]float32, 256)
	nl := make([]byte, 8*iq4nlBytes)
	quantizeRowIQ4NL(nl, x, nil)
	for b := 0; b < 8; b++ {
		blk := nl[b*iq4nlBytes : (b+1)*iq4nlBytes]
		if blk[0] != 0 || blk[1] != 0 {
			t.Fatalf("iq4_nl d = %x", blk[:2])
		}
		for _, q := range blk[2:] {
			if q != 0x88 {
				t.Fatalf("iq4_nl block %d: %x", b, blk)
			}
		}
	}
	xs := make([]byte, iq4xsBytes)
	quantizeRowIQ4XS(xs, x, nil)
	want := []byte{0x00, 0x80, 0xaa, 0xaa, 0x00, 0x00, 0x00, 0x00}
	for i, w := range want {
		if xs[i] != w {
			t.Fatalf("iq4_xs header %x, want %x", xs[:8], want)
		}
	}
	for _, q := range xs[8:] {
		if q != 0x88 {
			t.Fatalf("iq4_xs qs %x", xs[8:])
		}
	}
}
