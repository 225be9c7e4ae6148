package quantize

import (
	"encoding/binary"
	"math"
)

// Q8_K: the activation type of the K-quant dot products.
//
// Block (292 bytes): d f32 | qs int8[256] | bsums int16[16] (sum of each
// 16 codes)

// quantizeRowQ8K is quantize_row_q8_K_ref: iscale = -127/max with max the
// element of largest magnitude (keeping its sign), codes
// min(127, nearest_int(iscale·x)), d = 1/iscale. The imatrix is ignored.
//
// For an all-zero block ggml writes d = 0 and zero codes but leaves bsums
// unwritten; qconv writes zero bsums there, the only value consistent
// with the codes.
func quantizeRowQ8K(dst []byte, src, _ []float32) {
	nb := len(src) / qkK
	for i := 0; i < nb; i++ {
		x := (*[qkK]float32)(src[i*qkK:])
		y := (*[q8KBytes]byte)(dst[i*q8KBytes:])
		var max, amax float32
		for _, v := range x {
			if ax := abs32(v); ax > amax {
				amax, max = ax, v
			}
		}
		if amax == 0 {
			*y = [q8KBytes]byte{}
			continue
		}
		iscale := -127 / max
		qs := (*[qkK]byte)(y[4:260])
		for j, v := range x {
			qs[j] = byte(int8(min(127, nearestInt(iscale*v))))
		}
		for j := 0; j < 16; j++ {
			var sum int32
			for _, q := range qs[16*j : 16*j+16] {
				sum += int32(int8(q))
			}
			binary.LittleEndian.PutUint16(y[260+2*j:], uint16(int16(sum)))
		}
		binary.LittleEndian.PutUint32(y[0:], math.Float32bits(1/iscale))
	}
}

func dequantizeRowQ8K(dst []float32, src []byte) {
	nb := len(dst) / qkK
	for i := 0; i < nb; i++ {
		b := (*[q8KBytes]byte)(src[i*q8KBytes:])
		y := (*[qkK]float32)(dst[i*qkK:])
		d := math.Float32frombits(binary.LittleEndian.Uint32(b[0:]))
		for j := range y {
			y[j] = d * float32(int8(b[4+j]))
		}
	}
}
