package kernels

import (
	"encoding/binary"
	"math"

	"github.com/qconv/qconv/gguf"
)

// Block decoders. Each quantized weight block is read into small integers
// plus float scales; the integer dot kernels use that form directly, and
// the float path turns it into values with the same float32 operations,
// in the same order, as ggml's dequantizers (so on amd64 the float path
// sees bit-identical weights; tests check this against ggml's output).

// dec32 decodes one 32-element block: value i = d·q[i] + m.
type dec32 func(q *[32]int8, b []byte) (d, m float32)

// decK decodes one 256-element super-block: value i =
// (d·sc[i/16])·q[i] − dmin·mn[i/16]; mins are absent unless hasMin.
type decK func(q *[256]int8, sc, mn *[16]int32, b []byte) (d, dmin float32, hasMin bool)

// iq4nlValues is the non-linear 4-bit code book of IQ4_NL and IQ4_XS.
var iq4nlValues = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

func decQ4_0(q *[32]int8, b []byte) (float32, float32) {
	b = b[:18]
	for j, v := range b[2:18] {
		q[j] = int8(v&15) - 8
		q[j+16] = int8(v>>4) - 8
	}
	return fp16(b), 0
}

func decQ4_1(q *[32]int8, b []byte) (float32, float32) {
	b = b[:20]
	for j, v := range b[4:20] {
		q[j] = int8(v & 15)
		q[j+16] = int8(v >> 4)
	}
	return fp16(b), fp16(b[2:])
}

// q5 merges 16 bytes of low nibbles with the fifth bits in qh.
func q5(q *[32]int8, qs []byte, qh uint32, off int8) {
	for j, v := range qs[:16] {
		q[j] = int8(v&15|uint8(qh>>j&1)<<4) - off
		q[j+16] = int8(v>>4|uint8(qh>>(j+16)&1)<<4) - off
	}
}

func decQ5_0(q *[32]int8, b []byte) (float32, float32) {
	b = b[:22]
	q5(q, b[6:22], binary.LittleEndian.Uint32(b[2:]), 16)
	return fp16(b), 0
}

func decQ5_1(q *[32]int8, b []byte) (float32, float32) {
	b = b[:24]
	q5(q, b[8:24], binary.LittleEndian.Uint32(b[4:]), 0)
	return fp16(b), fp16(b[2:])
}

func decQ8_0(q *[32]int8, b []byte) (float32, float32) {
	b = b[:34]
	for i, v := range b[2:34] {
		q[i] = int8(v)
	}
	return fp16(b), 0
}

func decIQ4_NL(q *[32]int8, b []byte) (float32, float32) {
	b = b[:18]
	for j, v := range b[2:18] {
		q[j] = iq4nlValues[v&15]
		q[j+16] = iq4nlValues[v>>4]
	}
	return fp16(b), 0
}

// The 2-bit planes of Q2_K, Q3_K and TQ2_0: in each 128-value half, byte
// l of 32 holds values l, l+32, l+64, l+96 at shifts 0, 2, 4, 6.
func crumbs(q *[256]int8, qs []byte, off int8) {
	for h := range 2 {
		src := qs[32*h : 32*h+32]
		for g := range 4 {
			dst := q[128*h+32*g : 128*h+32*g+32]
			for l, v := range src {
				dst[l] = int8(v>>(2*g)&3) - off
			}
		}
	}
}

func decQ2_K(q *[256]int8, sc, mn *[16]int32, b []byte) (float32, float32, bool) {
	b = b[:84]
	for j, v := range b[:16] {
		sc[j] = int32(v & 15)
		mn[j] = int32(v >> 4)
	}
	crumbs(q, b[16:80], 0)
	return fp16(b[80:]), fp16(b[82:]), true
}

func decQ3_K(q *[256]int8, sc, _ *[16]int32, b []byte) (float32, float32, bool) {
	b = b[:110]
	hm, s := b[0:32], b[96:108]
	for j := range 16 {
		lo := s[j%8]
		if j >= 8 {
			lo >>= 4
		}
		hi := s[8+j%4] >> (2 * (j / 4)) & 3
		sc[j] = int32(lo&15|hi<<4) - 32
	}
	crumbs(q, b[32:96], 0)
	for h := range 2 {
		for g := range 4 {
			bit := uint8(1) << (4*h + g)
			dst := q[128*h+32*g : 128*h+32*g+32]
			for l, m := range hm {
				if m&bit == 0 {
					dst[l] -= 4
				}
			}
		}
	}
	return fp16(b[108:]), 0, false
}

// scaleMinK4 unpacks the 12-byte scale block of Q4_K/Q5_K into per-16
// scales and mins (each 32-value sub-block's pair repeated twice).
func scaleMinK4(sc, mn *[16]int32, s []byte) {
	s = s[:12]
	for j := range 8 {
		var a, m uint8
		if j < 4 {
			a, m = s[j]&63, s[j+4]&63
		} else {
			a = s[j+4]&15 | s[j-4]>>6<<4
			m = s[j+4]>>4 | s[j]>>6<<4
		}
		sc[2*j], sc[2*j+1] = int32(a), int32(a)
		mn[2*j], mn[2*j+1] = int32(m), int32(m)
	}
}

func decQ4_K(q *[256]int8, sc, mn *[16]int32, b []byte) (float32, float32, bool) {
	b = b[:144]
	scaleMinK4(sc, mn, b[4:16])
	for c := range 4 {
		for l, v := range b[16+32*c : 48+32*c] {
			q[64*c+l] = int8(v & 15)
			q[64*c+32+l] = int8(v >> 4)
		}
	}
	return fp16(b), fp16(b[2:]), true
}

func decQ5_K(q *[256]int8, sc, mn *[16]int32, b []byte) (float32, float32, bool) {
	b = b[:176]
	scaleMinK4(sc, mn, b[4:16])
	qh := b[16:48]
	for c := range 4 {
		for l, v := range b[48+32*c : 80+32*c] {
			h := qh[l] >> (2 * c)
			q[64*c+l] = int8(v&15 | h&1<<4)
			q[64*c+32+l] = int8(v>>4 | h>>1&1<<4)
		}
	}
	return fp16(b), fp16(b[2:]), true
}

func decQ6_K(q *[256]int8, sc, _ *[16]int32, b []byte) (float32, float32, bool) {
	b = b[:210]
	for h := range 2 {
		ql, qh := b[64*h:64*h+64], b[128+32*h:160+32*h]
		dst := q[128*h : 128*h+128]
		for l, v := range qh {
			a, c := ql[l], ql[l+32]
			dst[l] = int8(a&15|v&3<<4) - 32
			dst[l+32] = int8(c&15|v>>2&3<<4) - 32
			dst[l+64] = int8(a>>4|v>>4&3<<4) - 32
			dst[l+96] = int8(c>>4|v>>6&3<<4) - 32
		}
	}
	for j, v := range b[192:208] {
		sc[j] = int32(int8(v))
	}
	return fp16(b[208:]), 0, false
}

func decIQ4_XS(q *[256]int8, sc, _ *[16]int32, b []byte) (float32, float32, bool) {
	b = b[:136]
	sh := binary.LittleEndian.Uint16(b[2:])
	for ib := range 8 {
		ls := int32(b[4+ib/2]>>(4*(ib%2))&15|uint8(sh>>(2*ib)&3)<<4) - 32
		sc[2*ib], sc[2*ib+1] = ls, ls
		for j, v := range b[8+16*ib : 24+16*ib] {
			q[32*ib+j] = iq4nlValues[v&15]
			q[32*ib+16+j] = iq4nlValues[v>>4]
		}
	}
	return fp16(b), 0, false
}

func ones(sc *[16]int32) {
	for j := range sc {
		sc[j] = 1
	}
}

// tq1Digits reads the base-3 digits of bytes that hold a trit string
// scaled to 0..255: multiplying by 3^n moves digit n to the top, and
// (v·3)>>8 reads it.
func tq1Digits(dst []int8, src []byte, n int) {
	pow3 := [5]uint8{1, 3, 9, 27, 81}
	for i := range n {
		out := dst[len(src)*i : len(src)*(i+1)]
		for m, v := range src {
			out[m] = int8(uint16(v*pow3[i])*3>>8) - 1
		}
	}
}

func decTQ1_0(q *[256]int8, sc, _ *[16]int32, b []byte) (float32, float32, bool) {
	b = b[:54]
	tq1Digits(q[0:160], b[0:32], 5)
	tq1Digits(q[160:240], b[32:48], 5)
	tq1Digits(q[240:256], b[48:52], 4)
	ones(sc)
	return fp16(b[52:]), 0, false
}

func decTQ2_0(q *[256]int8, sc, _ *[16]int32, b []byte) (float32, float32, bool) {
	b = b[:66]
	crumbs(q, b[0:64], 1)
	ones(sc)
	return fp16(b[64:]), 0, false
}

// dequant32 expands len(dst)/32 blocks with dec into dst.
func dequant32(dec dec32, bb int) func(dst []float32, src []byte) {
	return func(dst []float32, src []byte) {
		var q [32]int8
		for i := 0; i+32 <= len(dst); i += 32 {
			d, m := dec(&q, src[i/32*bb:])
			out := dst[i : i+32]
			for j, v := range q {
				out[j] = float32(v)*d + m
			}
		}
	}
}

// dequantK expands len(dst)/256 super-blocks with dec into dst.
func dequantK(dec decK, bb int) func(dst []float32, src []byte) {
	return func(dst []float32, src []byte) {
		var q [256]int8
		var sc, mn [16]int32
		for i := 0; i+256 <= len(dst); i += 256 {
			d, dmin, hasMin := dec(&q, &sc, &mn, src[i/256*bb:])
			out := dst[i : i+256]
			for j := range 16 {
				dl := d * float32(sc[j])
				var ml float32
				for l, v := range q[16*j : 16*j+16] {
					out[16*j+l] = dl * float32(v)
				}
				if hasMin {
					ml = dmin * float32(mn[j])
					for l := range 16 {
						out[16*j+l] -= ml
					}
				}
			}
		}
	}
}

func dequantF32(dst []float32, src []byte) {
	src = src[:4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func dequantF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = fp16(src[2*i:])
	}
}

func dequantBF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = bf16(src[2*i:])
	}
}

// typeInfo is what the generic tier knows about a weight type.
type typeInfo struct {
	act     actKind
	d32     dec32
	dK      decK
	ternary bool
	toFloat func(dst []float32, src []byte) // len(dst) a multiple of the block size
}

func typeInfos() map[gguf.Type]typeInfo {
	m := map[gguf.Type]typeInfo{
		gguf.TypeF32:  {toFloat: dequantF32},
		gguf.TypeF16:  {toFloat: dequantF16},
		gguf.TypeBF16: {toFloat: dequantBF16},
	}
	for t, d := range map[gguf.Type]dec32{
		gguf.TypeQ4_0: decQ4_0, gguf.TypeQ5_0: decQ5_0, gguf.TypeQ8_0: decQ8_0, gguf.TypeIQ4_NL: decIQ4_NL,
		gguf.TypeQ4_1: decQ4_1, gguf.TypeQ5_1: decQ5_1,
	} {
		act := actQ8_0
		if t == gguf.TypeQ4_1 || t == gguf.TypeQ5_1 {
			act = actQ8_1
		}
		m[t] = typeInfo{act: act, d32: d, toFloat: dequant32(d, t.BlockBytes())}
	}
	for t, d := range map[gguf.Type]decK{
		gguf.TypeQ2_K: decQ2_K, gguf.TypeQ3_K: decQ3_K, gguf.TypeQ4_K: decQ4_K, gguf.TypeQ5_K: decQ5_K,
		gguf.TypeQ6_K: decQ6_K, gguf.TypeIQ4_XS: decIQ4_XS, gguf.TypeTQ1_0: decTQ1_0, gguf.TypeTQ2_0: decTQ2_0,
	} {
		m[t] = typeInfo{act: actQ8_K, dK: d, ternary: t == gguf.TypeTQ1_0 || t == gguf.TypeTQ2_0,
			toFloat: dequantK(d, t.BlockBytes())}
	}
	return m
}
