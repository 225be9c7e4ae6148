package quantize

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// scalarOnly runs f with the SIMD conversion kernels switched off.
func scalarOnly(f func()) {
	saved := simdConv
	simdConv = false
	defer func() { simdConv = saved }()
	f()
}

func needSIMDConv(t *testing.T) {
	t.Helper()
	if !simdConv {
		t.Skip("no SIMD conversion kernels on this build or CPU")
	}
}

// float32Chunks calls f with chunks of 1<<16 consecutive float32 bit
// patterns: with QCONV_EXHAUSTIVE=1 all of them, otherwise every chunk of
// the exponents where fp16 and bf16 rounding changes character (zero and
// subnormal, fp16 subnormals and the fp16 overflow edge, the bf16 overflow edge,
// infinities and NaNs, both signs) and every 61st chunk elsewhere.
func float32Chunks(t *testing.T, f func(src []float32)) {
	const chunk = 1 << 16
	src := make([]float32, chunk)
	all := os.Getenv("QCONV_EXHAUSTIVE") == "1"
	for c := uint64(0); c < 1<<32/chunk; c++ {
		base := uint32(c * chunk)
		e := base >> 23 & 0xff
		if !all && !(e <= 1 || e >= 0x65 && e <= 0x71 || e >= 0x8d && e <= 0x8f || e >= 0xfe) && c%61 != 0 {
			continue
		}
		for i := range src {
			src[i] = math.Float32frombits(base + uint32(i))
		}
		f(src)
	}
}

// TestF16SIMDExhaustive checks the VCVTPS2PH kernel against fp32ToFP16 on
// float32s (see float32Chunks; NaN payloads, infinities, subnormals, ties, -0).
func TestF16SIMDExhaustive(t *testing.T) {
	needSIMDConv(t)
	got := make([]byte, 2<<16)
	want := make([]byte, 2<<16)
	float32Chunks(t, func(src []float32) {
		quantizeRowF16(got, src, nil)
		scalarOnly(func() { quantizeRowF16(want, src, nil) })
		if !bytes.Equal(got, want) {
			for i := range src {
				if g, w := binary.LittleEndian.Uint16(got[2*i:]), binary.LittleEndian.Uint16(want[2*i:]); g != w {
					t.Fatalf("f16(%#08x): SIMD %#04x, scalar %#04x", math.Float32bits(src[i]), g, w)
				}
			}
		}
	})
}

// TestBF16SIMDExhaustive checks the bf16 narrowing kernel against
// fp32ToBF16 on float32s (see float32Chunks).
func TestBF16SIMDExhaustive(t *testing.T) {
	needSIMDConv(t)
	got := make([]byte, 2<<16)
	want := make([]byte, 2<<16)
	float32Chunks(t, func(src []float32) {
		quantizeRowBF16(got, src, nil)
		scalarOnly(func() { quantizeRowBF16(want, src, nil) })
		if !bytes.Equal(got, want) {
			for i := range src {
				if g, w := binary.LittleEndian.Uint16(got[2*i:]), binary.LittleEndian.Uint16(want[2*i:]); g != w {
					t.Fatalf("bf16(%#08x): SIMD %#04x, scalar %#04x", math.Float32bits(src[i]), g, w)
				}
			}
		}
	})
}

// TestBF16DequantSIMD widens every bfloat16 pattern both ways.
func TestBF16DequantSIMD(t *testing.T) {
	needSIMDConv(t)
	src := make([]byte, 2<<16)
	for h := range 1 << 16 {
		binary.LittleEndian.PutUint16(src[2*h:], uint16(h))
	}
	got := make([]float32, 1<<16)
	want := make([]float32, 1<<16)
	dequantizeRowBF16(got, src)
	scalarOnly(func() { dequantizeRowBF16(want, src) })
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("bf16 %#04x: SIMD %#08x, scalar %#08x", i, math.Float32bits(got[i]), math.Float32bits(want[i]))
		}
	}
}

// TestQ8_0DequantSIMD runs every fp16 scale (NaNs, infinities, subnormals,
// -0) against random codes including -128 and 127.
func TestQ8_0DequantSIMD(t *testing.T) {
	needSIMDConv(t)
	r := rand.New(rand.NewPCG(8, 0))
	const nb = 1 << 16
	src := make([]byte, nb*34)
	for i := range nb {
		b := src[i*34 : i*34+34]
		binary.LittleEndian.PutUint16(b, uint16(i))
		for j := 2; j < 34; j++ {
			b[j] = byte(r.Uint32())
		}
		b[2+i%32] = 0x80
		b[2+(i+7)%32] = 0x7f
		b[2+(i+13)%32] = 0
	}
	got := make([]float32, nb*qk)
	want := make([]float32, nb*qk)
	dequantizeRowQ8_0(got, src)
	scalarOnly(func() { dequantizeRowQ8_0(want, src) })
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("q8_0 element %d: SIMD %#08x, scalar %#08x", i, math.Float32bits(got[i]), math.Float32bits(want[i]))
		}
	}
}

// TestConvSIMDRowLengths covers the scalar tails after the vector loops and
// checks nothing is written past the row.
func TestConvSIMDRowLengths(t *testing.T) {
	needSIMDConv(t)
	r := rand.New(rand.NewPCG(16, 0))
	for n := 0; n <= 100; n++ {
		src := make([]float32, n)
		for i := range src {
			src[i] = math.Float32frombits(r.Uint32())
		}
		for _, q := range []func([]byte, []float32, []float32){quantizeRowF16, quantizeRowBF16} {
			got := make([]byte, 2*n+8)
			want := make([]byte, 2*n+8)
			q(got[:2*n], src, nil)
			scalarOnly(func() { q(want[:2*n], src, nil) })
			if !bytes.Equal(got, want) {
				t.Fatalf("n=%d: SIMD row differs from scalar", n)
			}
		}
		b := make([]byte, 2*n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		got := make([]float32, n+4)
		want := make([]float32, n+4)
		dequantizeRowBF16(got[:n], b)
		scalarOnly(func() { dequantizeRowBF16(want[:n], b) })
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("bf16 dequant n=%d: element %d differs", n, i)
			}
		}
	}
}
