package quantize

import (
	"math"

	"github.com/qconv/qconv/gguf"
)

// The ternary types TQ1_0 and TQ2_0 (BitNet b1.58 / TriLM weights): one fp16
// scale d = max|x| per 256 elements and one trit t ∈ {-1, 0, 1} per
// element, x = d·t. ggml ignores the importance matrix for both.
//
// TQ1_0 (54 bytes): qs[48] holds five trits per byte, qh[4] four, then d.
// TQ2_0 (66 bytes): qs[64] holds four 2-bit codes t+1 per byte, then d.

const tqQK = 256 // elements per ternary block

func init() {
	register(&Traits{
		Type: gguf.TypeTQ1_0, BlockSize: tqQK, BlockBytes: 54, Imatrix: ImatrixIgnored,
		QuantizeRow:   quantizeRowTQ1_0,
		DequantizeRow: dequantizeRowTQ1_0,
	})
	register(&Traits{
		Type: gguf.TypeTQ2_0, BlockSize: tqQK, BlockBytes: 66, Imatrix: ImatrixIgnored,
		QuantizeRow:   quantizeRowTQ2_0,
		DequantizeRow: dequantizeRowTQ2_0,
	})
}

// ternaryScale is max|x| over the block (MAX(amax, fabsf(v)) as the C macro
// evaluates it) and its guarded inverse.
func ternaryScale(x []float32) (d, id float32) {
	for _, v := range x[:tqQK] {
		if a := abs32(v); !(d > a) {
			d = a
		}
	}
	return d, inverse(d)
}

// The trit codes are ggml's "lroundf(x*id) + 1": 0, 1 or 2 for the trit
// -1, 0, 1. lroundf rounds halfway cases away from zero. For NaN or
// infinite products (a subnormal block maximum makes 1/d overflow) glibc's
// lroundf returns LONG_MIN, and LONG_MIN+1 truncated to int is 1, which is
// what tritSlow returns too. Products below 1.5 in magnitude (all of them
// unless a NaN upset the block maximum) take tritCodes' branch-free path:
// lroundf is ±1 from |p| ≥ 0.5 on, 0 below (TestTritFast checks every such
// float32 against the general formula).

// tritSlow is the trit code of products of magnitude 1.5 or more, NaN or
// infinite.
func tritSlow(p float32) int {
	if math.IsNaN(float64(p)) || math.IsInf(float64(p), 0) {
		return 1
	}
	return int(roundf(p)) + 1
}

// tritByte scales a base-3 number of five trits (0..242) to 0..255 with a
// ceiling division by 243, so that a trit is read back with a byte multiply
// and (q*3)>>8.
func tritByte(q uint8) uint8 { return uint8((uint16(q)*256 + 242) / 243) }

// tritCodes stores the trit code of v·id for every element of a block, as uint8
// (the packing below only uses the codes modulo 256), with trit's fast
// path inlined.
func tritCodes(c *[tqQK]uint8, x *[tqQK]float32, id float32) {
	for i, v := range x {
		p := v * id
		u := math.Float32bits(p)
		if a := math.Float32frombits(u &^ (1 << 31)); a < 1.5 {
			t := uint8(1)
			if a >= 0.5 {
				t = 2 - uint8(u>>31)*2
			}
			c[i] = t
		} else {
			c[i] = uint8(tritSlow(p))
		}
	}
}

// pack5 is five packTrits steps from 0: c0 ends up most significant.
func pack5(c0, c1, c2, c3, c4 uint8) uint8 {
	return (((c0*3+c1)*3+c2)*3+c3)*3 + c4
}

func quantizeRowTQ1_0(dst []byte, src []float32, _ []float32) {
	nb := len(src) / tqQK
	dst = dst[:nb*54]
	var c [tqQK]uint8
	for i := 0; i < nb; i++ {
		x := (*[tqQK]float32)(src[i*tqQK:])
		y := (*[54]byte)(dst[i*54:])
		d, id := ternaryScale(x[:])
		tritCodes(&c, x, id)
		// qs[0:32]: elements m + 32n, n = 0..4 (160 elements).
		for m := 0; m < 32; m++ {
			y[m] = tritByte(pack5(c[m], c[m+32], c[m+64], c[m+96], c[m+128]))
		}
		// qs[32:48]: elements 160 + m + 16n (80 elements).
		for m := 0; m < 16; m++ {
			y[32+m] = tritByte(pack5(c[160+m], c[176+m], c[192+m], c[208+m], c[224+m]))
		}
		// qh[0:4]: elements 240 + j + 4m, four trits shifted up by one
		// more trit so the first is the most significant of five.
		for j := 0; j < 4; j++ {
			y[48+j] = tritByte(pack5(c[240+j], c[244+j], c[248+j], c[252+j], 0))
		}
		putFP16(y[52:], d)
	}
}

// tq1Codes[b] holds the five trit codes (0..2) of trit byte b, the n-th
// (0 = most significant) at bits 2n: ggml reads it as (uint8(b·3ⁿ)·3)>>8.
// Read-only after package initialisation.
var tq1Codes = func() (t [256]uint16) {
	for b := range t {
		q := uint8(b)
		for n := range 5 {
			t[b] |= uint16(uint16(q)*3>>8) << (2 * n)
			q *= 3 // uint8 multiply: wraps modulo 256 as in ggml
		}
	}
	return t
}()

// ternaryValues is float32(c-1)·d for the codes c = 0..3, each product
// rounded as ggml's (c-1)*d is (code 3 only arises in TQ2_0 from
// arbitrary bytes).
func ternaryValues(d float32) [4]float32 {
	c := &tritFactors
	return [4]float32{c[0] * d, c[1] * d, c[2] * d, c[3] * d}
}

// tritFactors is c-1 for c = 0..3. A variable, not constants, so the
// compiler cannot turn -1·d into a negation or 1·d into d, which would
// differ from the multiply for NaN scales (sign and quiet bit).
var tritFactors = [4]float32{-1, 0, 1, 2}

func dequantizeRowTQ1_0(dst []float32, src []byte) {
	nb := len(dst) / tqQK
	src = src[:nb*54]
	if simdConv && nb > 0 {
		dequantTQ1_0AVX2(&dst[0], &src[0], nb, &fp16Table[0])
		return
	}
	for i := 0; i < nb; i++ {
		b := (*[54]byte)(src[i*54:])
		y := (*[tqQK]float32)(dst[i*tqQK:])
		v := ternaryValues(getFP16(b[52:]))
		// Element 32n+m is trit n of byte m, 160+16n+m trit n of byte
		// 32+m, 240+4n+j trit n of byte 48+j.
		for m := 0; m < 32; m++ {
			c := tq1Codes[b[m]]
			y[m] = v[c&3]
			y[32+m] = v[c>>2&3]
			y[64+m] = v[c>>4&3]
			y[96+m] = v[c>>6&3]
			y[128+m] = v[c>>8&3]
		}
		for m := 0; m < 16; m++ {
			c := tq1Codes[b[32+m]]
			y[160+m] = v[c&3]
			y[176+m] = v[c>>2&3]
			y[192+m] = v[c>>4&3]
			y[208+m] = v[c>>6&3]
			y[224+m] = v[c>>8&3]
		}
		for j := 0; j < 4; j++ {
			c := tq1Codes[b[48+j]]
			y[240+j] = v[c&3]
			y[244+j] = v[c>>2&3]
			y[248+j] = v[c>>4&3]
			y[252+j] = v[c>>6&3]
		}
	}
}

func quantizeRowTQ2_0(dst []byte, src []float32, _ []float32) {
	nb := len(src) / tqQK
	dst = dst[:nb*66]
	var c [tqQK]uint8
	for i := 0; i < nb; i++ {
		x := (*[tqQK]float32)(src[i*tqQK:])
		y := (*[66]byte)(dst[i*66:])
		d, id := ternaryScale(x[:])
		tritCodes(&c, x, id)
		// Each 32-byte group covers 128 elements: byte m holds elements
		// m + 32n at bit 2n.
		for j := 0; j < 64; j += 32 {
			cg := (*[128]uint8)(c[4*j:])
			for m := 0; m < 32; m++ {
				y[j+m] = cg[m]&3 | (cg[32+m]&3)<<2 | (cg[64+m]&3)<<4 | cg[96+m]<<6
			}
		}
		putFP16(y[64:], d)
	}
}

func dequantizeRowTQ2_0(dst []float32, src []byte) {
	nb := len(dst) / tqQK
	src = src[:nb*66]
	if simdConv && nb > 0 {
		dequantTQ2_0AVX2(&dst[0], &src[0], nb, &fp16Table[0])
		return
	}
	for i := 0; i < nb; i++ {
		b := (*[66]byte)(src[i*66:])
		y := (*[tqQK]float32)(dst[i*tqQK:])
		v := ternaryValues(getFP16(b[64:]))
		// Byte j+m (j = 0, 32) holds elements 4j+m+32l at bits 2l.
		for j := 0; j < 64; j += 32 {
			yg := (*[128]float32)(y[4*j:])
			for m, c := range (*[32]byte)(b[j:]) {
				yg[m] = v[c&3]
				yg[32+m] = v[c>>2&3]
				yg[64+m] = v[c>>4&3]
				yg[96+m] = v[c>>6]
			}
		}
	}
}
