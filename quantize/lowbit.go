package quantize

import (
	"encoding/binary"
	"math"

	"github.com/qconv/qconv/gguf"
)

// The 1- and 2-bit scalar types Q1_0 and Q2_0 (ggml-quants.c
// quantize_row_q{1,2}_0_ref, dequantize_row_q{1,2}_0).
//
// Q1_0 (18 bytes per 128): fp16 d, qs[16]; bit j%8 of qs[j/8] set means
// x = +d, clear means x = -d. The quantizer stores d = mean |x| and the
// sign of each element (x >= 0, so -0 and +0 set the bit, NaN does not).
// Q2_0 (18 bytes per 64): fp16 d, qs[16]; element j is the 2-bit q at
// bits 2(j%4) of qs[j/4], and x = d·(q-1), q-1 ∈ {-1, 0, 1, 2}. The
// quantizer stores d = max |x| and q = clamp(round(x/d)+1, 0, 3), with x/d
// computed as x·(1/d) from the unrounded d.
//
// ggml's quantize_q1_0/quantize_q2_0 accept an importance matrix but only
// use it to split rows; the bytes are always those of the _ref quantizer.

const (
	q1QK    = 128
	q1Bytes = 18
	q2QK    = 64
	q2Bytes = 18
)

func init() {
	register(&Traits{
		Type: gguf.TypeQ1_0, BlockSize: q1QK, BlockBytes: q1Bytes, Imatrix: ImatrixIgnored,
		QuantizeRow:   quantizeRowQ1_0,
		DequantizeRow: dequantizeRowQ1_0,
	})
	register(&Traits{
		Type: gguf.TypeQ2_0, BlockSize: q2QK, BlockBytes: q2Bytes, Imatrix: ImatrixIgnored,
		QuantizeRow:   quantizeRowQ2_0,
		DequantizeRow: dequantizeRowQ2_0,
	})
}

func quantizeRowQ1_0(dst []byte, src []float32, _ []float32) {
	nb := len(src) / q1QK
	dst = dst[:nb*q1Bytes]
	for i := 0; i < nb; i++ {
		x := src[i*q1QK : (i+1)*q1QK]
		y := dst[i*q1Bytes : (i+1)*q1Bytes]
		var sum float32
		for _, v := range x {
			sum += abs32(v)
		}
		binary.LittleEndian.PutUint16(y, fp32ToFP16(sum/q1QK))
		for k := range y[2:] {
			var b byte
			for j, v := range x[8*k : 8*k+8] {
				if v >= 0 {
					b |= 1 << j
				}
			}
			y[2+k] = b
		}
	}
}

func dequantizeRowQ1_0(dst []float32, src []byte) {
	nb := len(dst) / q1QK
	for i := 0; i < nb; i++ {
		b := src[i*q1Bytes : (i+1)*q1Bytes]
		y := dst[i*q1QK : (i+1)*q1QK]
		d := fp16ToFP32(binary.LittleEndian.Uint16(b))
		nd := -d
		for k, q := range b[2:] {
			for j := 0; j < 8; j++ {
				if q>>j&1 != 0 {
					y[8*k+j] = d
				} else {
					y[8*k+j] = nd
				}
			}
		}
	}
}

func quantizeRowQ2_0(dst []byte, src []float32, _ []float32) {
	nb := len(src) / q2QK
	dst = dst[:nb*q2Bytes]
	for i := 0; i < nb; i++ {
		x := src[i*q2QK : (i+1)*q2QK]
		y := dst[i*q2Bytes : (i+1)*q2Bytes]
		var amax float32
		for _, v := range x {
			if a := abs32(v); a > amax {
				amax = a
			}
		}
		var id float32
		if amax > 0 {
			id = 1 / amax // +Inf for a subnormal amax, as in ggml
		}
		binary.LittleEndian.PutUint16(y, fp32ToFP16(amax))
		for k := range y[2:] {
			var b byte
			for j, v := range x[4*k : 4*k+4] {
				// (int)roundf(w*id) + 1: NaN and ±Inf (0·Inf, x·Inf) convert
				// to INT_MIN on x86-64, which the clamp turns into 0.
				q := int64(cTrunc(roundf(v*id))) + 1
				if q < 0 {
					q = 0
				}
				if q > 3 {
					q = 3
				}
				b |= byte(q) << (2 * j)
			}
			y[2+k] = b
		}
	}
}

func dequantizeRowQ2_0(dst []float32, src []byte) {
	nb := len(dst) / q2QK
	for i := 0; i < nb; i++ {
		b := src[i*q2Bytes : (i+1)*q2Bytes]
		y := dst[i*q2QK : (i+1)*q2QK]
		d := fp16ToFP32(binary.LittleEndian.Uint16(b))
		for k, q := range b[2:] {
			for j := 0; j < 4; j++ {
				y[4*k+j] = float32(int32(q>>(2*j)&3)-1) * d
			}
		}
		if math.IsInf(float64(d), 0) {
			// 0 x Inf is the invalid operation's default NaN, whose sign
			// differs between CPUs (x86: negative, arm64: positive). Give
			// x86's, ggml's reference platform, everywhere.
			for k, q := range b[2:] {
				for j := 0; j < 4; j++ {
					if q>>(2*j)&3 == 1 {
						y[4*k+j] = math.Float32frombits(0xffc00000)
					}
				}
			}
		}
	}
}
