package quantize

// Q2_K: 16 sub-blocks of 16 with 4-bit scales and mins, 2-bit codes.
//
// Block (84 bytes): scales[16] (low nibble scale, high nibble min) |
// qs[64] | d f16 | dmin f16

func quantizeRowQ2K(dst []byte, src, imatrix []float32) {
	quantizeKRow(dst, src, imatrix, q2KBytes, q2KBlock)
}

// q2KBlock is quantize_row_q2_K_ref (qw nil: make_qkx2_quants with |x|
// weights, (rmin, rdelta, nstep) = (-0.5, 0.1, 15), mean absolute error;
// scales and mins coded linearly against their maxima) and
// quantize_row_q2_K_impl (qw: weights qw·√(σ² + x²), σ² = Σx²/256,
// make_qkx3_quants (-0.9, 0.05, 36), make_qp_quants(15) for the scales
// and mins weighted by Σw). Both requantize with the fp16 d and dmin.
func q2KBlock(dst []byte, x, qw *[qkK]float32) {
	y := (*[q2KBytes]byte)(dst)
	var (
		L      [qkK]uint8
		mins   [16]float32
		scales [16]float32
		bs     [2]qkxBatch // sub-blocks 0-7 and 8-15, searched side by side
	)
	for h := range bs {
		bs[h].loadX(x[128*h:], 16)
	}
	sc := (*[16]byte)(y[0:16])
	var dh, dminh uint16
	if qw == nil {
		for h := range bs {
			b := &bs[h]
			for i := range 16 {
				for j, v := range &b.x[i] {
					b.w[i][j] = abs32(v)
				}
			}
			b.search(16, 3, -0.5, 0.1, 15, false, true)
			copy(scales[8*h:], b.scale[:])
			copy(mins[8*h:], b.min[:])
		}
		var maxScale, maxMin float32
		for j := 0; j < 16; j++ {
			if scales[j] > maxScale {
				maxScale = scales[j]
			}
			if mins[j] > maxMin {
				maxMin = mins[j]
			}
		}
		if maxScale > 0 {
			iscale := 15 / maxScale
			for j := 0; j < 16; j++ {
				sc[j] = uint8(nearestInt(iscale * scales[j])) // truncating store, as ggml
			}
			dh = fp32ToFP16(maxScale / 15)
		} else {
			*sc = [16]byte{}
		}
		if maxMin > 0 {
			iscale := 15 / maxMin
			for j := 0; j < 16; j++ {
				sc[j] |= uint8(nearestInt(iscale*mins[j])) << 4
			}
			dminh = fp32ToFP16(maxMin / 15)
		}
	} else {
		var (
			sw     [16]float32
			Ls, Lm [16]uint8
		)
		var sumX2 float32
		for _, v := range x {
			sumX2 += float32(v * v)
		}
		sigma2 := sumX2 / qkK
		for h := range bs {
			b := &bs[h]
			for i := range 16 {
				for j, v := range &b.x[i] {
					w := float32(qw[128*h+16*j+i] * sqrt32(sigma2+float32(v*v)))
					b.w[i][j] = w
					sw[8*h+j] += w
				}
			}
			b.search(16, 3, -0.9, 0.05, 36, true, false)
			copy(scales[8*h:], b.scale[:])
			copy(mins[8*h:], b.min[:])
		}
		dm := makeQpQuants(16, 15, scales[:], Ls[:], sw[:])
		mm := makeQpQuants(16, 15, mins[:], Lm[:], sw[:])
		dh, dminh = fp32ToFP16(dm), fp32ToFP16(mm)
		for j := 0; j < 16; j++ {
			sc[j] = Ls[j] | Lm[j]<<4
		}
	}
	putHalf(y[80:], dh)
	putHalf(y[82:], dminh)

	// Requantize with the stored scales and fp16 d, dmin.
	df, dminf := fp16ToFP32(dh), fp16ToFP32(dminh)
	// Sub-blocks with d == 0 keep the search's codes.
	for h := range bs {
		var d, m [8]float32
		for j := 0; j < 8; j++ {
			d[j] = df * float32(sc[8*h+j]&0xF)
			m[j] = dminf * float32(sc[8*h+j]>>4)
		}
		bs[h].requant(16, 3, &d, &m)
		bs[h].storeL(L[128*h:], 16)
	}
	pack2Bit((*[64]byte)(y[16:80]), &L)
}

func dequantizeRowQ2K(dst []float32, src []byte) {
	nb := len(dst) / qkK
	if simdConv && nb > 0 {
		src = src[:nb*q2KBytes]
		dequantQ2KAVX2(&dst[0], &src[0], nb, &fp16Table[0])
		return
	}
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
