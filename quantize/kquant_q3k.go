package quantize

// Q3_K: 16 sub-blocks of 16 with 6-bit signed scales, 3-bit codes
// (2 low bits in qs, the high bit in hmask).
//
// Block (110 bytes): hmask[32] | qs[64] | scales[12] | d f16

func quantizeRowQ3K(dst []byte, src, imatrix []float32) {
	// The SIMD batches are 7 KiB: declared once per row rather than once
	// per block, so they are not cleared for every block. Every field the
	// kernels read is written for each block first.
	var bt [2]qkxBatch
	quantizeKRow(dst, src, imatrix, q3KBytes, func(dst []byte, x, qw *[qkK]float32) {
		q3KBlock(dst, x, qw, &bt)
	})
}

// q3KBlock is quantize_row_q3_K_ref (qw nil: make_q3_quants per sub-block,
// scales coded against -32/max_scale) and quantize_row_q3_K_impl (qw:
// make_qx_quants(4) with weights qw·√(σ² + x²), σ² = 2Σx²/256, and the
// scales themselves coded by make_qx_quants(32) weighted by Σw).
func q3KBlock(dst []byte, x, qw *[qkK]float32, bt *[2]qkxBatch) {
	y := (*[q3KBytes]byte)(dst)
	var (
		L      [qkK]int8
		scales [16]float32
	)
	s := (*[12]byte)(y[96:108])
	*s = [12]byte{}
	var dh uint16
	// Without an imatrix the 16 sub-blocks are searched and requantized
	// side by side where a SIMD kernel exists (search_simd.go).
	batched := qw == nil && simdSearch
	if qw == nil {
		var maxScale, amax float32
		if batched {
			bt[0].loadX(x[:128], 16)
			bt[1].loadX(x[128:], 16)
			q3Search8x16x2AVX2(&bt[0].x[0][0], &bt[1].x[0][0])
			for h := range bt {
				copy(scales[8*h:8*h+8], bt[h].scale[:])
			}
		} else {
			for j := 0; j < 16; j++ {
				scales[j] = makeQ3Quants(16, 4, x[16*j:16*j+16], L[16*j:16*j+16], true)
			}
		}
		for j := 0; j < 16; j++ {
			if a := abs32(scales[j]); a > amax {
				amax, maxScale = a, scales[j]
			}
		}
		if maxScale != 0 {
			iscale := -32 / maxScale
			for j := 0; j < 16; j++ {
				// ggml assigns nearest_int to an int8_t, then clamps.
				l := clampInt32(int32(int8(nearestInt(iscale*scales[j]))), -32, 31) + 32
				setScaleK3(s, j, l)
			}
			dh = fp32ToFP16(1 / iscale)
		}
	} else {
		var (
			weight [16]float32
			sw     [16]float32
			Ls     [16]int8
		)
		var sumX2 float32
		for _, v := range x {
			sumX2 += float32(v * v)
		}
		sigma2 := 2 * sumX2 / qkK
		for j := 0; j < 16; j++ {
			xs := (*[16]float32)(x[16*j:])
			ws := (*[16]float32)(qw[16*j:])
			for l, v := range xs {
				weight[l] = float32(ws[l] * sqrt32(sigma2+float32(v*v)))
			}
			var sumw float32
			for _, w := range weight {
				sumw += w
			}
			sw[j] = sumw
			scales[j] = makeQxQuants(16, 4, xs[:], L[16*j:16*j+16], 1, weight[:])
		}
		dBlock := makeQxQuants(16, 32, scales[:], Ls[:], 1, sw[:])
		for j := 0; j < 16; j++ {
			setScaleK3(s, j, int32(Ls[j]))
		}
		dh = fp32ToFP16(dBlock)
	}
	putHalf(y[108:], dh)

	// Requantize with the stored scales and fp16 d.
	df := fp16ToFP32(dh)
	if batched {
		// (x + 0)/d is x/d up to the sign of a zero, which nearestInt drops.
		var zero [8]float32
		for h := range bt {
			var d [8]float32
			for j := range d {
				d[j] = df * float32(getScaleK3(s, 8*h+j))
			}
			bt[h].requantRange(16, -4, 3, 4, &d, &zero)
			for j := 0; j < 8; j++ {
				ls := (*[16]int8)(L[128*h+16*j:])
				for i := range ls {
					ls[i] = int8(bt[h].l[i][j])
				}
			}
		}
	}
	for j := 0; j < 16 && !batched; j++ {
		d := df * float32(getScaleK3(s, j))
		if d == 0 {
			continue // keeps the search's codes
		}
		xs := (*[16]float32)(x[16*j:])
		ls := (*[16]int8)(L[16*j:])
		for ii, v := range xs {
			ls[ii] = int8(clampInt32(nearestInt(v/d), -4, 3) + 4)
		}
	}

	// High bit of element j goes to hmask[j%32] bit j/32.
	hmask := (*[32]byte)(y[0:32])
	*hmask = [32]byte{}
	var U [qkK]uint8
	for j := 0; j < qkK; j++ {
		l := uint8(L[j])
		if l > 3 {
			hmask[j%32] |= 1 << (j / 32)
			l -= 4
		}
		U[j] = l
	}
	pack2Bit((*[64]byte)(y[32:96]), &U)
}

// setScaleK3 packs the 6-bit (offset +32) scale l of sub-block j: the low
// nibble goes to byte j (j < 8) or the high nibble of byte j-8, the two
// high bits to byte 8 + j%4 at shift 2·(j/4). Called for j = 0..15 in
// order on a zeroed array.
func setScaleK3(s *[12]byte, j int, l int32) {
	if j < 8 {
		s[j] = byte(l & 0xF)
	} else {
		s[j-8] |= byte((l & 0xF) << 4)
	}
	s[8+j%4] |= byte((l >> 4) << (2 * (j / 4)))
}

// getScaleK3 unpacks the scale of sub-block j and removes the +32 offset.
func getScaleK3(s *[12]byte, j int) int32 {
	var lo byte
	if j < 8 {
		lo = s[j] & 0xF
	} else {
		lo = s[j-8] >> 4
	}
	return int32(int8(lo|(s[8+j%4]>>(2*(j/4))&3)<<4)) - 32
}

func dequantizeRowQ3K(dst []float32, src []byte) {
	nb := len(dst) / qkK
	if simdConv && nb > 0 {
		src = src[:nb*q3KBytes]
		dequantQ3KAVX2(&dst[0], &src[0], nb, &fp16Table[0])
		return
	}
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
