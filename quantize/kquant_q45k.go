package quantize

// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins.
//
// Q4_K block (144 bytes): d f16 | dmin f16 | scales[12] | qs[128]
// Q5_K block (176 bytes): d f16 | dmin f16 | scales[12] | qh[32] | qs[128]

func quantizeRowQ4K(dst []byte, src, imatrix []float32) {
	quantizeKRow(dst, src, imatrix, q4KBytes, q4KBlock)
}

func quantizeRowQ5K(dst []byte, src, imatrix []float32) {
	quantizeKRow(dst, src, imatrix, q5KBytes, q5KBlock)
}

func q4KBlock(dst []byte, x, qw *[qkK]float32) {
	y := (*[q4KBytes]byte)(dst)
	var L [qkK]uint8
	s := (*[12]byte)(y[4:16])
	d, dmin := q45KScales(x, qw, 15, &L, s)
	putHalf(y[0:], d)
	putHalf(y[2:], dmin)
	q := y[16:144]
	for j := 0; j < qkK; j += 64 {
		qq := (*[32]byte)(q[j/2:])
		a := (*[64]uint8)(L[j:])
		for l := 0; l < 32; l++ {
			qq[l] = a[l] | a[l+32]<<4
		}
	}
}

func q5KBlock(dst []byte, x, qw *[qkK]float32) {
	y := (*[q5KBytes]byte)(dst)
	var L [qkK]uint8
	s := (*[12]byte)(y[4:16])
	d, dmin := q45KScales(x, qw, 31, &L, s)
	putHalf(y[0:], d)
	putHalf(y[2:], dmin)
	qh := (*[32]byte)(y[16:48])
	clear(qh[:])
	// Per 64 elements: low nibbles of 32 bytes for the first 32 elements,
	// high nibbles for the next 32; their 5th bits go to qh bit 2c / 2c+1.
	var m1, m2 uint8 = 1, 2
	for n := 0; n < qkK; n += 64 {
		ql := (*[32]byte)(y[48+n/2:])
		a := (*[64]uint8)(L[n:])
		for j := 0; j < 32; j++ {
			l1, l2 := a[j], a[j+32]
			if l1 > 15 {
				l1 -= 16
				qh[j] |= m1
			}
			if l2 > 15 {
				l2 -= 16
				qh[j] |= m2
			}
			ql[j] = l1 | l2<<4
		}
		m1 <<= 2
		m2 <<= 2
	}
}

// q45KScales chooses the sub-block scales and mins of one Q4_K (nmax 15)
// or Q5_K (nmax 31) super-block, writes them packed into s, leaves the
// final codes in L and returns the fp16 bits of d and dmin.
//
// Without qw (quantize_row_qX_K_ref): weights av_x + |x| with av_x the
// RMS of the sub-block, make_qkx2_quants with (rmin, rdelta, nstep) =
// (-1, 0.1, 20) for Q4_K and (-0.5, 0.1, 15) for Q5_K, then the scales
// and mins are coded linearly against their maxima (code = round(63·v/max)).
// With qw (quantize_row_qX_K_impl): weights qw·√(σ² + x²), σ² = 2Σx²/256
// over the super-block, make_qkx3_quants (-0.9, 0.05, 36), and
// make_qp_quants codes the scales and mins weighted by Σw per sub-block.
// Either way every element is then requantized with the fp16-rounded
// d·scale and dmin·min, exactly as ggml does after storing them.
func q45KScales(x, qw *[qkK]float32, nmax int, L *[qkK]uint8, s *[12]byte) (d, dmin uint16) {
	// The 8 sub-blocks are searched side by side (search_simd.go).
	var b qkxBatch
	b.loadX(x[:], 32)
	*s = [12]byte{}
	if qw == nil {
		rmin, rdelta, nstep := float32(-1), float32(0.1), 20
		if nmax == 31 {
			rmin, nstep = -0.5, 15
		}
		// Weights av_x + |x|, av_x = sqrt(Σx²/32) per sub-block (lane).
		var avX [8]float32
		for i := range 32 {
			for j, v := range &b.x[i] {
				avX[j] += float32(v * v)
			}
		}
		for j, s2 := range avX {
			avX[j] = sqrt32(s2 / 32)
		}
		for i := range 32 {
			ws := &b.w[i]
			for j, v := range &b.x[i] {
				ws[j] = avX[j] + abs32(v)
			}
		}
		b.search(32, nmax, rmin, rdelta, nstep, false, false)
		scales, mins := &b.scale, &b.min
		var maxScale, maxMin float32 // scales are positive: the min is subtracted
		for j := 0; j < 8; j++ {
			if scales[j] > maxScale {
				maxScale = scales[j]
			}
			if mins[j] > maxMin {
				maxMin = mins[j]
			}
		}
		var invScale, invMin float32
		if maxScale > 0 {
			invScale = 63 / maxScale
		}
		if maxMin > 0 {
			invMin = 63 / maxMin
		}
		for j := 0; j < 8; j++ {
			// ggml stores nearest_int into a uint8_t (truncating) before
			// clamping to 63.
			ls := min(63, uint8(nearestInt(invScale*scales[j])))
			lm := min(63, uint8(nearestInt(invMin*mins[j])))
			setScaleMinK4(s, j, ls, lm)
		}
		d = fp32ToFP16(maxScale / 63)
		dmin = fp32ToFP16(maxMin / 63)
	} else {
		var Ls, Lm [8]uint8
		var sumX2 float32
		for _, v := range x {
			sumX2 += float32(v * v)
		}
		sigma2 := 2 * sumX2 / qkK
		// Weights qw·sqrt(σ² + x²) and their sums Σw per sub-block.
		var sw [8]float32
		for i := range 32 {
			ws := &b.w[i]
			for j, v := range &b.x[i] {
				w := float32(qw[32*j+i] * sqrt32(sigma2+float32(v*v)))
				ws[j] = w
				sw[j] += w
			}
		}
		b.search(32, nmax, -0.9, 0.05, 36, true, false)
		dBlock := makeQpQuants(8, 63, b.scale[:], Ls[:], sw[:])
		mBlock := makeQpQuants(8, 63, b.min[:], Lm[:], sw[:])
		for j := 0; j < 8; j++ {
			ls, lm := Ls[j], Lm[j]
			if nmax == 31 { // only ggml's Q5_K path clamps here
				ls, lm = min(63, ls), min(63, lm)
			}
			setScaleMinK4(s, j, ls, lm)
		}
		d = fp32ToFP16(dBlock)
		dmin = fp32ToFP16(mBlock)
	}

	// Requantize with the stored (fp16-rounded) scales.
	df, dminf := fp16ToFP32(d), fp16ToFP32(dmin)
	var dd, dm [8]float32
	for j := 0; j < 8; j++ {
		sc, m := getScaleMinK4(j, s)
		dd[j] = df * float32(sc)
		dm[j] = dminf * float32(m)
	}
	b.requant(32, nmax, &dd, &dm)
	b.storeL(L[:], 32)
	return d, dmin
}

func dequantizeRowQ4K(dst []float32, src []byte) {
	nb := len(dst) / qkK
	if simdConv && nb > 0 {
		src = src[:nb*q4KBytes]
		dequantQ4KAVX2(&dst[0], &src[0], nb, &fp16Table[0])
		return
	}
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

func dequantizeRowQ5K(dst []float32, src []byte) {
	nb := len(dst) / qkK
	if simdConv && nb > 0 {
		src = src[:nb*q5KBytes]
		dequantQ5KAVX2(&dst[0], &src[0], nb, &fp16Table[0])
		return
	}
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
