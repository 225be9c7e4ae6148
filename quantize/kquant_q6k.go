package quantize

// Q6_K: 16 sub-blocks of 16 with int8 scales, 6-bit codes.
//
// Block (210 bytes): ql[128] | qh[64] | scales int8[16] | d f16

func quantizeRowQ6K(dst []byte, src, imatrix []float32) {
	quantizeKRow(dst, src, imatrix, q6KBytes, q6KBlock)
}

// q6KBlock is quantize_row_q6_K_ref (qw nil) and quantize_row_q6_K_impl:
// each sub-block gets make_qx_quants(nmax 32, rmse_type 1) with weights
// x² or the raw imatrix weights; the scales are coded as int8 against
// -128/max_scale, and every element is requantized with the fp16 d.
func q6KBlock(dst []byte, x, qw *[qkK]float32) {
	y := (*[q6KBytes]byte)(dst)
	var (
		L      [qkK]int8
		scales [16]float32
	)
	var maxScale, maxAbsScale float32
	for ib := 0; ib < 16; ib++ {
		var w []float32
		if qw != nil {
			w = qw[16*ib : 16*ib+16]
		}
		scale := makeQxQuants(16, 32, x[16*ib:16*ib+16], L[16*ib:16*ib+16], 1, w)
		scales[ib] = scale
		if a := abs32(scale); a > maxAbsScale {
			maxAbsScale, maxScale = a, scale
		}
	}
	if maxAbsScale < groupMaxEps {
		*y = [q6KBytes]byte{} // ggml zeroes the block; fp16(0) is 0
		return
	}
	iscale := -128 / maxScale
	dh := fp32ToFP16(1 / iscale)
	putHalf(y[208:], dh)
	sc := (*[16]byte)(y[192:208])
	for ib := 0; ib < 16; ib++ {
		// MIN(127, nearest_int(...)) stored into an int8_t.
		sc[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
	}
	df := fp16ToFP32(dh)
	for j := 0; j < 16; j++ {
		d := df * float32(int8(sc[j]))
		if d == 0 {
			continue // keeps the search's codes
		}
		xs := (*[16]float32)(x[16*j:])
		ls := (*[16]int8)(L[16*j:])
		for ii, v := range xs {
			ls[ii] = int8(clampInt32(nearestInt(v/d), -32, 31) + 32)
		}
	}
	for j := 0; j < qkK; j += 128 {
		ql := (*[64]byte)(y[j/2:])
		qh := (*[32]byte)(y[128+j/4:])
		a := (*[128]int8)(L[j:])
		for l := 0; l < 32; l++ {
			q1, q2, q3, q4 := uint8(a[l]), uint8(a[l+32]), uint8(a[l+64]), uint8(a[l+96])
			ql[l] = q1&0xF | (q3&0xF)<<4
			ql[l+32] = q2&0xF | (q4&0xF)<<4
			qh[l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
}

func dequantizeRowQ6K(dst []float32, src []byte) {
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
