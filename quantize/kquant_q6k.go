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
		L      [qkK]uint8
		scales [16]float32
		bs     [2]qkxBatch // sub-blocks 0-7 and 8-15, searched side by side
	)
	for h := range bs {
		b := &bs[h]
		b.loadX(x[128*h:], 16)
		for i := range 16 {
			for j, v := range &b.x[i] {
				if qw != nil {
					b.w[i][j] = qw[128*h+16*j+i]
				} else {
					b.w[i][j] = float32(v * v) // rmse_type 1
				}
			}
		}
		b.qxSearch(16, 32)
		copy(scales[8*h:], b.scale[:])
	}
	var maxScale, maxAbsScale float32
	for _, scale := range scales {
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
	// Requantize with the fp16 d; sub-blocks with d == 0 keep the search's
	// codes. (x + 0)/d rounds to the same code as x/d: only the sign of a
	// zero can differ.
	df := fp16ToFP32(dh)
	for h := range bs {
		var d, zero [8]float32
		for j := 0; j < 8; j++ {
			d[j] = df * float32(int8(sc[8*h+j]))
		}
		bs[h].requantRange(16, -32, 31, 32, &d, &zero)
		bs[h].storeL(L[128*h:], 16)
	}
	for j := 0; j < qkK; j += 128 {
		ql := (*[64]byte)(y[j/2:])
		qh := (*[32]byte)(y[128+j/4:])
		a := (*[128]uint8)(L[j:])
		for l := 0; l < 32; l++ {
			q1, q2, q3, q4 := a[l], a[l+32], a[l+64], a[l+96]
			ql[l] = q1&0xF | (q3&0xF)<<4
			ql[l+32] = q2&0xF | (q4&0xF)<<4
			qh[l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
}

func dequantizeRowQ6K(dst []float32, src []byte) {
	nb := len(dst) / qkK
	if simdConv && nb > 0 {
		src = src[:nb*q6KBytes]
		dequantQ6KAVX2(&dst[0], &src[0], nb, &fp16Table[0])
		return
	}
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
