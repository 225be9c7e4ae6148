package quantize

// Verbatim copies of the scalar row functions as they were before the
// speed work (legacy.go, ternary.go, iq4.go), renamed ref*: the reference
// that the optimised code must match byte for byte (opt_test.go). They are
// the straightforward transcriptions of ggml's C; keep them unchanged.

import (
	"encoding/binary"
	"math"
)

func refQuantizeRowQ4_0(dst []byte, src []float32, imatrix []float32) {
	nb := len(src) / qk
	dst = dst[:nb*18]
	if imatrix != nil {
		quantizeRowQ4_0Imatrix(dst, src, imatrix)
		return
	}
	for i := 0; i < nb; i++ {
		x := src[i*qk : i*qk+qk]
		y := dst[i*18 : i*18+18]
		_, max := refAbsMaxSigned(x)
		// The signed extreme maps to code 0 (value -8·d = max).
		d := max / -8
		id := inverse(d)
		putFP16(y, d)
		for j := 0; j < qk/2; j++ {
			x0 := float32(x[j] * id) // rounded before the +8.5 (no FMA)
			x1 := float32(x[j+qk/2] * id)
			// (int8_t)(v + 8.5f): truncation, then MIN(15, ·) on the int8.
			xi0 := uint8(min(15, int8(refCTrunc(x0+8.5))))
			xi1 := uint8(min(15, int8(refCTrunc(x1+8.5))))
			y[2+j] = xi0 | xi1<<4
		}
	}
}

func refQuantizeRowQ4_1(dst []byte, src []float32, imatrix []float32) {
	nb := len(src) / qk
	dst = dst[:nb*20]
	if imatrix != nil {
		quantizeRowQ4_1Imatrix(dst, src, imatrix)
		return
	}
	for i := 0; i < nb; i++ {
		x := src[i*qk : i*qk+qk]
		y := dst[i*20 : i*20+20]
		min, max := refMinMax(x)
		d := (max - min) / 15
		id := inverse(d)
		putFP16(y, d)
		putFP16(y[2:], min)
		for j := 0; j < qk/2; j++ {
			x0 := float32((x[j] - min) * id)
			x1 := float32((x[j+qk/2] - min) * id)
			// (int8_t)(v + 0.5f): round half up by truncation, then MIN(15, ·).
			xi0 := uint8(minInt8(15, int8(refCTrunc(x0+0.5))))
			xi1 := uint8(minInt8(15, int8(refCTrunc(x1+0.5))))
			y[4+j] = xi0 | xi1<<4
		}
	}
}

func refQuantizeRowQ5_0(dst []byte, src []float32, imatrix []float32) {
	nb := len(src) / qk
	dst = dst[:nb*22]
	if imatrix != nil {
		quantizeRowQ5_0Imatrix(dst, src, imatrix)
		return
	}
	for i := 0; i < nb; i++ {
		x := src[i*qk : i*qk+qk]
		y := dst[i*22 : i*22+22]
		_, max := refAbsMaxSigned(x)
		d := max / -16
		id := inverse(d)
		putFP16(y, d)
		var qh uint32
		for j := 0; j < qk/2; j++ {
			x0 := float32(x[j] * id)
			x1 := float32(x[j+qk/2] * id)
			xi0 := uint8(min(31, int8(refCTrunc(x0+16.5))))
			xi1 := uint8(min(31, int8(refCTrunc(x1+16.5))))
			y[6+j] = xi0&0x0f | (xi1&0x0f)<<4
			packQ5High(&qh, j, xi0, xi1)
		}
		binary.LittleEndian.PutUint32(y[2:], qh)
	}
}

func refQuantizeRowQ5_1(dst []byte, src []float32, imatrix []float32) {
	nb := len(src) / qk
	dst = dst[:nb*24]
	if imatrix != nil {
		quantizeRowQ5_1Imatrix(dst, src, imatrix)
		return
	}
	for i := 0; i < nb; i++ {
		x := src[i*qk : i*qk+qk]
		y := dst[i*24 : i*24+24]
		min, max := refMinMax(x)
		d := (max - min) / 31
		id := inverse(d)
		putFP16(y, d)
		putFP16(y[2:], min)
		var qh uint32
		for j := 0; j < qk/2; j++ {
			x0 := float32((x[j] - min) * id)
			x1 := float32((x[j+qk/2] - min) * id)
			// (uint8_t)(v + 0.5f): truncation, no clamp in ggml.
			xi0 := uint8(refCTrunc(x0 + 0.5))
			xi1 := uint8(refCTrunc(x1 + 0.5))
			y[8+j] = xi0&0x0f | (xi1&0x0f)<<4
			packQ5High(&qh, j, xi0, xi1)
		}
		binary.LittleEndian.PutUint32(y[4:], qh)
	}
}

func refQ8Block(qs []byte, x []float32) (d float32) {
	x = x[:qk]
	qs = qs[:qk]
	var amax float32
	for _, v := range x {
		// MAX(amax, fabsf(v)) as the C macro evaluates it.
		if a := abs32(v); !(amax > a) {
			amax = a
		}
	}
	d = amax / 127
	id := inverse(d)
	for j, v := range x {
		// refRoundf (half away from zero), then the implicit float→int8_t
		// conversion of the assignment.
		qs[j] = uint8(int8(refCTrunc(refRoundf(v * id))))
	}
	return d
}

func refQuantizeRowQ8_0(dst []byte, src []float32, _ []float32) {
	nb := len(src) / qk
	dst = dst[:nb*34]
	for i := 0; i < nb; i++ {
		y := dst[i*34 : i*34+34]
		d := refQ8Block(y[2:], src[i*qk:i*qk+qk])
		putFP16(y, d)
	}
}

func refDequantizeRowQ4_0(dst []float32, src []byte) {
	nb := len(dst) / qk
	src = src[:nb*18]
	for i := 0; i < nb; i++ {
		b := src[i*18 : i*18+18]
		y := dst[i*qk : i*qk+qk]
		d := getFP16(b)
		for j := 0; j < qk/2; j++ {
			y[j] = float32(int32(b[2+j]&0x0f)-8) * d
			y[j+qk/2] = float32(int32(b[2+j]>>4)-8) * d
		}
	}
}

func refDequantizeRowQ4_1(dst []float32, src []byte) {
	nb := len(dst) / qk
	src = src[:nb*20]
	for i := 0; i < nb; i++ {
		b := src[i*20 : i*20+20]
		y := dst[i*qk : i*qk+qk]
		d, m := getFP16(b), getFP16(b[2:])
		for j := 0; j < qk/2; j++ {
			// x0*d + m: product rounded, then the add (no FMA).
			y[j] = float32(float32(b[4+j]&0x0f)*d) + m
			y[j+qk/2] = float32(float32(b[4+j]>>4)*d) + m
		}
	}
}

func refDequantizeRowQ5_0(dst []float32, src []byte) {
	nb := len(dst) / qk
	src = src[:nb*22]
	for i := 0; i < nb; i++ {
		b := src[i*22 : i*22+22]
		y := dst[i*qk : i*qk+qk]
		d := getFP16(b)
		qh := binary.LittleEndian.Uint32(b[2:])
		for j := 0; j < qk/2; j++ {
			h0 := int32(qh>>j<<4) & 0x10
			h1 := int32(qh>>(j+12)) & 0x10
			y[j] = float32((int32(b[6+j]&0x0f)|h0)-16) * d
			y[j+qk/2] = float32((int32(b[6+j]>>4)|h1)-16) * d
		}
	}
}

func refDequantizeRowQ5_1(dst []float32, src []byte) {
	nb := len(dst) / qk
	src = src[:nb*24]
	for i := 0; i < nb; i++ {
		b := src[i*24 : i*24+24]
		y := dst[i*qk : i*qk+qk]
		d, m := getFP16(b), getFP16(b[2:])
		qh := binary.LittleEndian.Uint32(b[4:])
		for j := 0; j < qk/2; j++ {
			h0 := uint8(qh>>j<<4) & 0x10
			h1 := uint8(qh>>(j+12)) & 0x10
			y[j] = float32(float32(b[8+j]&0x0f|h0)*d) + m
			y[j+qk/2] = float32(float32(b[8+j]>>4|h1)*d) + m
		}
	}
}

func refDequantizeRowQ8_0(dst []float32, src []byte) {
	nb := len(dst) / qk
	src = src[:nb*34]
	for i := 0; i < nb; i++ {
		b := src[i*34 : i*34+34]
		y := dst[i*qk : i*qk+qk]
		d := getFP16(b)
		for j := range y {
			y[j] = float32(int8(b[2+j])) * d
		}
	}
}

func refQuantizeRowQ8_1(dst []byte, src []float32, _ []float32) {
	nb := len(src) / qk
	dst = dst[:nb*36]
	for i := 0; i < nb; i++ {
		y := dst[i*36 : i*36+36]
		d := refQ8Block(y[4:], src[i*qk:i*qk+qk])
		var sum int32
		for _, q := range y[4:36] {
			sum += int32(int8(q))
		}
		putFP16(y, d)
		// C: sum*d converts the int sum (exact in float32) and multiplies
		// once; only the fp16 store rounds again.
		putFP16(y[2:], float32(sum)*d)
	}
}

func refCTrunc(f float32) int32 {
	if f >= -2147483648 && f < 2147483648 {
		return int32(f)
	}
	return math.MinInt32
}

func refRoundf(f float32) float32 { return float32(math.Round(float64(f))) }

func refAbsMaxSigned(x []float32) (amax, max float32) {
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, max = a, v
		}
	}
	return amax, max
}

func refMinMax(x []float32) (min, max float32) {
	min, max = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < min {
			min = v
		}
		if v > max {
			max = v
		}
	}
	return min, max
}

func refTernaryScale(x []float32) (d, id float32) {
	for _, v := range x[:tqQK] {
		if a := abs32(v); !(d > a) {
			d = a
		}
	}
	return d, inverse(d)
}

func refTrit(v, id float32) int {
	p := v * id
	if math.IsNaN(float64(p)) || math.IsInf(float64(p), 0) {
		return 1
	}
	return int(refRoundf(p)) + 1
}

func refReadTrit(b uint8, n int) float32 {
	q := b * refPow3[n] // uint8 multiply: wraps modulo 256 as in ggml
	return float32(int32(uint16(q)*3>>8) - 1)
}

func refQuantizeRowTQ1_0(dst []byte, src []float32, _ []float32) {
	nb := len(src) / tqQK
	dst = dst[:nb*54]
	for i := 0; i < nb; i++ {
		x := src[i*tqQK : i*tqQK+tqQK]
		y := dst[i*54 : i*54+54]
		d, id := refTernaryScale(x)
		// qs[0:32]: elements m + 32n, n = 0..4 (160 elements).
		for m := 0; m < 32; m++ {
			var q uint8
			for n := 0; n < 5; n++ {
				q = refPackTrits(q, refTrit(x[m+32*n], id))
			}
			y[m] = tritByte(q)
		}
		// qs[32:48]: elements 160 + m + 16n (80 elements).
		for m := 0; m < 16; m++ {
			var q uint8
			for n := 0; n < 5; n++ {
				q = refPackTrits(q, refTrit(x[160+m+16*n], id))
			}
			y[32+m] = tritByte(q)
		}
		// qh[0:4]: elements 240 + j + 4m, four trits shifted up by one
		// more refTrit so the first is the most significant of five.
		for j := 0; j < 4; j++ {
			var q uint8
			for m := 0; m < 4; m++ {
				q = refPackTrits(q, refTrit(x[240+j+4*m], id))
			}
			q = refPackTrits(q, 0)
			y[48+j] = tritByte(q)
		}
		putFP16(y[52:], d)
	}
}

func refDequantizeRowTQ1_0(dst []float32, src []byte) {
	nb := len(dst) / tqQK
	src = src[:nb*54]
	for i := 0; i < nb; i++ {
		b := src[i*54 : i*54+54]
		y := dst[i*tqQK : i*tqQK+tqQK]
		d := getFP16(b[52:])
		k := 0
		for n := 0; n < 5; n++ {
			for m := 0; m < 32; m++ {
				y[k] = refReadTrit(b[m], n) * d
				k++
			}
		}
		for n := 0; n < 5; n++ {
			for m := 0; m < 16; m++ {
				y[k] = refReadTrit(b[32+m], n) * d
				k++
			}
		}
		for n := 0; n < 4; n++ {
			for j := 0; j < 4; j++ {
				y[k] = refReadTrit(b[48+j], n) * d
				k++
			}
		}
	}
}

func refQuantizeRowTQ2_0(dst []byte, src []float32, _ []float32) {
	nb := len(src) / tqQK
	dst = dst[:nb*66]
	for i := 0; i < nb; i++ {
		x := src[i*tqQK : i*tqQK+tqQK]
		y := dst[i*66 : i*66+66]
		d, id := refTernaryScale(x)
		// Each 32-byte group covers 128 elements: byte m holds elements
		// m + 32n at bit 2n.
		for j := 0; j < 64; j += 32 {
			xg := x[4*j:]
			for m := 0; m < 32; m++ {
				var q uint8
				for n := 0; n < 4; n++ {
					q += uint8(refTrit(xg[m+32*n], id)&3) << (2 * n)
				}
				y[j+m] = q
			}
		}
		putFP16(y[64:], d)
	}
}

func refDequantizeRowTQ2_0(dst []float32, src []byte) {
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

func refDequantizeRowIQ4NL(dst []float32, src []byte) {
	nb := len(dst) / qk
	src = src[:nb*iq4nlBytes]
	for i := 0; i < nb; i++ {
		b := src[i*iq4nlBytes : (i+1)*iq4nlBytes]
		y := dst[i*qk : i*qk+qk]
		d := getFP16(b)
		for j := 0; j < 16; j++ {
			y[j] = d * float32(iq4nlValues[b[2+j]&0xf])
			y[j+16] = d * float32(iq4nlValues[b[2+j]>>4])
		}
	}
}

func refDequantizeRowIQ4XS(dst []float32, src []byte) {
	nb := len(dst) / iq4xsQK
	src = src[:nb*iq4xsBytes]
	for i := 0; i < nb; i++ {
		b := src[i*iq4xsBytes : (i+1)*iq4xsBytes]
		y := dst[i*iq4xsQK : (i+1)*iq4xsQK]
		d := getFP16(b)
		scalesH := binary.LittleEndian.Uint16(b[2:])
		for ib := 0; ib < iq4xsQK/32; ib++ {
			ls := int32(b[4+ib/2]>>(4*(ib%2)))&0xf | int32(scalesH>>(2*ib))&3<<4
			dl := d * float32(ls-32)
			qs := b[8+16*ib : 8+16*ib+16]
			yb := y[32*ib : 32*ib+32]
			for j := 0; j < 16; j++ {
				yb[j] = dl * float32(iq4nlValues[qs[j]&0xf])
				yb[j+16] = dl * float32(iq4nlValues[qs[j]>>4])
			}
		}
	}
}

var refPow3 = [5]uint8{1, 3, 9, 27, 81}

// refPackTrits appends trits to a base-3 number in a byte the way ggml does:
// q = q*3 + t in uint8 arithmetic (the first trit ends up most significant).
func refPackTrits(q uint8, t int) uint8 { return uint8(int(q)*3 + t) }

// The K-quant dequantizers as they were before the AVX2 kernels
// (kquant_q2k.go, kquant_q3k.go, kquant_q45k.go, kquant_q6k.go).

func refDequantizeRowQ4K(dst []float32, src []byte) {
	nb := len(dst) / qkK
	for i := 0; i < nb; i++ {
		b := (*[q4KBytes]byte)(src[i*q4KBytes:])
		y := (*[qkK]float32)(dst[i*qkK:])
		d, dmin := getHalf(b[0:]), getHalf(b[2:])
		s := (*[12]byte)(b[4:16])
		for j := 0; j < qkK; j += 64 {
			q := (*[32]byte)(b[16+j/2:])
			sc, m := getScaleMinK4(j/32, s)
			d1, m1 := d*float32(sc), dmin*float32(m)
			sc, m = getScaleMinK4(j/32+1, s)
			d2, m2 := d*float32(sc), dmin*float32(m)
			yy := (*[64]float32)(y[j:])
			for l := 0; l < 32; l++ {
				// C: d1 * q - m1, two roundings.
				yy[l] = float32(d1*float32(q[l]&0xF)) - m1
				yy[l+32] = float32(d2*float32(q[l]>>4)) - m2
			}
		}
	}
}

func refDequantizeRowQ5K(dst []float32, src []byte) {
	nb := len(dst) / qkK
	for i := 0; i < nb; i++ {
		b := (*[q5KBytes]byte)(src[i*q5KBytes:])
		y := (*[qkK]float32)(dst[i*qkK:])
		d, dmin := getHalf(b[0:]), getHalf(b[2:])
		s := (*[12]byte)(b[4:16])
		qh := (*[32]byte)(b[16:48])
		var u1, u2 uint8 = 1, 2
		for j := 0; j < qkK; j += 64 {
			ql := (*[32]byte)(b[48+j/2:])
			sc, m := getScaleMinK4(j/32, s)
			d1, m1 := d*float32(sc), dmin*float32(m)
			sc, m = getScaleMinK4(j/32+1, s)
			d2, m2 := d*float32(sc), dmin*float32(m)
			yy := (*[64]float32)(y[j:])
			for l := 0; l < 32; l++ {
				q1, q2 := ql[l]&0xF, ql[l]>>4
				if qh[l]&u1 != 0 {
					q1 += 16
				}
				if qh[l]&u2 != 0 {
					q2 += 16
				}
				yy[l] = float32(d1*float32(q1)) - m1
				yy[l+32] = float32(d2*float32(q2)) - m2
			}
			u1 <<= 2
			u2 <<= 2
		}
	}
}

func refDequantizeRowQ6K(dst []float32, src []byte) {
	nb := len(dst) / qkK
	for i := 0; i < nb; i++ {
		b := (*[q6KBytes]byte)(src[i*q6KBytes:])
		y := (*[qkK]float32)(dst[i*qkK:])
		d := getHalf(b[208:])
		for n := 0; n < qkK; n += 128 {
			ql := (*[64]byte)(b[n/2:])
			qh := (*[32]byte)(b[128+n/4:])
			sc := (*[8]byte)(b[192+n/16:])
			yy := (*[128]float32)(y[n:])
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := float32(int32(ql[l]&0xF|(qh[l]&3)<<4) - 32)
				q2 := float32(int32(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32)
				q3 := float32(int32(ql[l]>>4|(qh[l]>>4&3)<<4) - 32)
				q4 := float32(int32(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32)
				// C: d * sc * q, i.e. (d*sc)*q.
				yy[l] = d * float32(int8(sc[is])) * q1
				yy[l+32] = d * float32(int8(sc[is+2])) * q2
				yy[l+64] = d * float32(int8(sc[is+4])) * q3
				yy[l+96] = d * float32(int8(sc[is+6])) * q4
			}
		}
	}
}

func refDequantizeRowQ2K(dst []float32, src []byte) {
	nb := len(dst) / qkK
	for i := 0; i < nb; i++ {
		b := (*[q2KBytes]byte)(src[i*q2KBytes:])
		y := (*[qkK]float32)(dst[i*qkK:])
		d, dmin := getHalf(b[80:]), getHalf(b[82:])
		for e0 := 0; e0 < qkK; e0 += 16 {
			// Same element order as Q3_K: byte 16 + e0/128*32 + e0%32 + l,
			// shift 2·((e0%128)/32); scale byte e0/16.
			s := b[e0/16]
			dl, ml := d*float32(s&0xF), dmin*float32(s>>4)
			q := (*[16]byte)(b[16+e0/128*32+e0%32:])
			shift := uint(2 * ((e0 % 128) / 32))
			yy := (*[16]float32)(y[e0:])
			for l := 0; l < 16; l++ {
				yy[l] = float32(dl*float32(q[l]>>shift&3)) - ml // C: dl*q - ml, two roundings
			}
		}
	}
}

func refDequantizeRowQ3K(dst []float32, src []byte) {
	nb := len(dst) / qkK
	for i := 0; i < nb; i++ {
		b := (*[q3KBytes]byte)(src[i*q3KBytes:])
		y := (*[qkK]float32)(dst[i*qkK:])
		dAll := getHalf(b[108:])
		hm := (*[32]byte)(b[0:32])
		s := (*[12]byte)(b[96:108])
		for e0 := 0; e0 < qkK; e0 += 16 {
			// Element e0+l: byte 32 + e0/128*32 + (e0%32) + l, shift
			// 2·((e0%128)/32), hmask bit e0/32.
			dl := dAll * float32(getScaleK3(s, e0/16))
			q := (*[16]byte)(b[32+e0/128*32+e0%32:])
			h := (*[16]byte)(hm[e0%32:])
			shift := uint(2 * ((e0 % 128) / 32))
			m := byte(1) << (e0 / 32)
			yy := (*[16]float32)(y[e0:])
			for l := 0; l < 16; l++ {
				v := int32(q[l]>>shift) & 3
				if h[l]&m == 0 {
					v -= 4
				}
				yy[l] = dl * float32(v)
			}
		}
	}
}
