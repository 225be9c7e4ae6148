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

// trit is ggml's "lroundf(x*id) + 1" stored in an int: the code 0, 1 or 2
// of the trit -1, 0, 1. lroundf rounds halfway cases away from zero. For
// NaN or infinite products (a subnormal block maximum makes 1/d overflow)
// glibc's lroundf returns LONG_MIN, and LONG_MIN+1 truncated to int is 1,
// which is what this returns too. Finite products lie in [-1, 1] (plus
// rounding), so no other overflow case exists.
func trit(v, id float32) int {
	p := v * id
	if math.IsNaN(float64(p)) || math.IsInf(float64(p), 0) {
		return 1
	}
	return int(roundf(p)) + 1
}

// packTrits appends trits to a base-3 number in a byte the way ggml does:
// q = q*3 + t in uint8 arithmetic (the first trit ends up most significant).
func packTrits(q uint8, t int) uint8 { return uint8(int(q)*3 + t) }

// tritByte scales a base-3 number of five trits (0..242) to 0..255 with a
// ceiling division by 243, so that a trit is read back with a byte multiply
// and (q*3)>>8.
func tritByte(q uint8) uint8 { return uint8((uint16(q)*256 + 242) / 243) }

func quantizeRowTQ1_0(dst []byte, src []float32, _ []float32) {
	nb := len(src) / tqQK
	dst = dst[:nb*54]
	for i := 0; i < nb; i++ {
		x := src[i*tqQK : i*tqQK+tqQK]
		y := dst[i*54 : i*54+54]
		d, id := ternaryScale(x)
		// qs[0:32]: elements m + 32n, n = 0..4 (160 elements).
		for m := 0; m < 32; m++ {
			var q uint8
			for n := 0; n < 5; n++ {
				q = packTrits(q, trit(x[m+32*n], id))
			}
			y[m] = tritByte(q)
		}
		// qs[32:48]: elements 160 + m + 16n (80 elements).
		for m := 0; m < 16; m++ {
			var q uint8
			for n := 0; n < 5; n++ {
				q = packTrits(q, trit(x[160+m+16*n], id))
			}
			y[32+m] = tritByte(q)
		}
		// qh[0:4]: elements 240 + j + 4m, four trits shifted up by one
		// more trit so the first is the most significant of five.
		for j := 0; j < 4; j++ {
			var q uint8
			for m := 0; m < 4; m++ {
				q = packTrits(q, trit(x[240+j+4*m], id))
			}
			q = packTrits(q, 0)
			y[48+j] = tritByte(q)
		}
		putFP16(y[52:], d)
	}
}

// pow3 multiplies a trit byte so that the wanted trit becomes the leading one.
var pow3 = [5]uint8{1, 3, 9, 27, 81}

// readTrit extracts the n-th trit (0 = most significant) of a trit byte.
func readTrit(b uint8, n int) float32 {
	q := b * pow3[n] // uint8 multiply: wraps modulo 256 as in ggml
	return float32(int32(uint16(q)*3>>8) - 1)
}

func dequantizeRowTQ1_0(dst []float32, src []byte) {
	nb := len(dst) / tqQK
	src = src[:nb*54]
	for i := 0; i < nb; i++ {
		b := src[i*54 : i*54+54]
		y := dst[i*tqQK : i*tqQK+tqQK]
		d := getFP16(b[52:])
		k := 0
		for n := 0; n < 5; n++ {
			for m := 0; m < 32; m++ {
				y[k] = readTrit(b[m], n) * d
				k++
			}
		}
		for n := 0; n < 5; n++ {
			for m := 0; m < 16; m++ {
				y[k] = readTrit(b[32+m], n) * d
				k++
			}
		}
		for n := 0; n < 4; n++ {
			for j := 0; j < 4; j++ {
				y[k] = readTrit(b[48+j], n) * d
				k++
			}
		}
	}
}

func quantizeRowTQ2_0(dst []byte, src []float32, _ []float32) {
	nb := len(src) / tqQK
	dst = dst[:nb*66]
	for i := 0; i < nb; i++ {
		x := src[i*tqQK : i*tqQK+tqQK]
		y := dst[i*66 : i*66+66]
		d, id := ternaryScale(x)
		// Each 32-byte group covers 128 elements: byte m holds elements
		// m + 32n at bit 2n.
		for j := 0; j < 64; j += 32 {
			xg := x[4*j:]
			for m := 0; m < 32; m++ {
				var q uint8
				for n := 0; n < 4; n++ {
					q += uint8(trit(xg[m+32*n], id)&3) << (2 * n)
				}
				y[j+m] = q
			}
		}
		putFP16(y[64:], d)
	}
}

func dequantizeRowTQ2_0(dst []float32, src []byte) {
	nb := len(dst) / tqQK
	src = src[:nb*66]
	for i := 0; i < nb; i++ {
		b := src[i*66 : i*66+66]
		y := dst[i*tqQK : i*tqQK+tqQK]
		d := getFP16(b[64:])
		k := 0
		for j := 0; j < 64; j += 32 {
			for l := 0; l < 4; l++ {
				for m := 0; m < 32; m++ {
					y[k] = float32(int32(b[j+m]>>(2*l)&3)-1) * d
					k++
				}
			}
		}
	}
}
