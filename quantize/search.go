package quantize

// Scale searches shared by the K-quants, the imatrix paths of the legacy
// types and the IQ types: Go versions of ggml's nearest_int,
// make_qx_quants, make_qkx2_quants, make_qkx3_quants, make_q3_quants and
// make_qp_quants (src/ggml-quants.c).
//
// Byte-exactness rules followed throughout this file:
//
//   - Every float32 operation is rounded on its own, in ggml's order. Go may
//     fuse x*y+z (and x*y-z, z-x*y) into one FMA on arm64, ppc64le, s390x,
//     riscv64 and amd64 v3; an explicit float32(...) conversion of the
//     product forbids that, so every product that feeds an addition or a
//     subtraction is written float32(a*b).
//   - C evaluates a*b*c as (a*b)*c and converts int operands to float
//     first; the code below keeps that association.
//   - Nothing is computed in float64 except sqrt, whose float64 result
//     rounded to float32 equals sqrtf's correctly rounded result (53 >= 2*24+2).
//   - Values that do not change between the trial loops of a search (the
//     default weights, w*x, x-min; the last refreshed whenever ggml's min
//     moves) are computed once into stack arrays; they
//     are the same float32 values ggml recomputes each time, so the sums see
//     identical operands in an identical order.

import "math"

// groupMaxEps is ggml's GROUP_MAX_EPS: groups whose largest magnitude is
// below it are treated as all zero.
const groupMaxEps = 1e-15

// maxSearchN bounds n for the search helpers (ggml calls them with 8, 16 or
// 32 elements). It sizes the stack scratch arrays.
const maxSearchN = 64

// nearestInt rounds f to the nearest integer, ties to even, exactly as
// ggml's nearest_int: adding 1.5*2^23 in float32 pushes the fraction out of
// the mantissa (the addition itself rounds half to even), and the low 23
// bits then hold the integer offset by 2^22. Valid for |f| < 2^22; outside
// that range it returns the same meaningless value as ggml (ggml only
// asserts in debug builds), which keeps the clamps that follow identical.
func nearestInt(f float32) int32 {
	// float32(f) keeps a product passed as f (nearestInt(a*b) after
	// inlining) from being fused with this addition into one FMA.
	v := float32(f) + 12582912 // float32 addition: the rounding step
	return int32(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// abs32 is fabsf: clears the sign bit (also of -0 and NaN).
func abs32(f float32) float32 {
	return math.Float32frombits(math.Float32bits(f) &^ (1 << 31))
}

// sqrt32 is sqrtf. The float64 square root rounded to float32 is the
// correctly rounded float32 square root, so this is exact, not approximate.
func sqrt32(f float32) float32 { return float32(math.Sqrt(float64(f))) }

func clampInt32(v, lo, hi int32) int32 {
	return max(lo, min(hi, v)) // ggml's MAX(lo, MIN(hi, v)); branch-free
}

func checkSearchN(n int) {
	if n > maxSearchN || n <= 0 {
		panic("quantize: scale search group size out of range")
	}
}

// makeQxQuants is ggml's make_qx_quants: a symmetric quantizer with codes
// l in [-nmax, nmax-1], stored in L as l+nmax. It returns the scale.
//
// rmseType 0 uses iscale = -nmax/max (max = the element of largest
// magnitude, with its sign). Otherwise the least-squares scale over the
// weights (qw, or by rmseType 1: x², 2: 1, 3: |x|, 4: √|x|) is refined by
// trying 18 further iscales -(nmax ± 0.1·k)/max. A negative rmseType
// returns after the first fit with the mean of the fitted and the initial
// scale. Groups with max|x| < 1e-15 get L = 0 (not nmax) and scale 0.
func makeQxQuants(n, nmax int, x []float32, L []int8, rmseType int, qw []float32) float32 {
	checkSearchN(n)
	x = x[:n]
	L = L[:n]
	var mx, amax float32
	for _, v := range x {
		if ax := abs32(v); ax > amax {
			amax, mx = ax, v
		}
	}
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	fnmax := float32(nmax)
	lo, hi := int32(-nmax), int32(nmax-1)
	iscale := float32(-nmax) / mx // C: int -nmax converted to float, then divided
	if rmseType == 0 {
		for i, v := range x {
			L[i] = int8(int32(nmax) + clampInt32(nearestInt(iscale*v), lo, hi))
		}
		return 1 / iscale
	}
	returnEarly := false
	if rmseType < 0 {
		rmseType = -rmseType
		returnEarly = true
	}
	// w[i] and wx[i] = w*x are the same in every trial.
	var wArr, wxArr [maxSearchN]float32
	w, wx := wArr[:n], wxArr[:n]
	if qw != nil {
		copy(w, qw[:n])
	} else {
		for i, v := range x {
			switch rmseType {
			case 1:
				w[i] = float32(v * v)
			case 2:
				w[i] = 1
			case 3:
				w[i] = abs32(v)
			default:
				w[i] = sqrt32(abs32(v))
			}
		}
	}
	for i, v := range x {
		wx[i] = float32(w[i] * v)
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt32(nearestInt(iscale*v), lo, hi)
		L[i] = int8(l + int32(nmax))
		fl := float32(l)
		sumlx += float32(wx[i] * fl)            // (w*x)*l
		suml2 += float32(float32(w[i]*fl) * fl) // (w*l)*l
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	if returnEarly {
		if suml2 > 0 {
			return 0.5 * (scale + 1/iscale)
		}
		return 1 / iscale
	}
	best := scale * sumlx
	// The 18 trial iscales are independent of each other until the
	// comparison with best, so two are summed per pass (two float chains
	// each) and then compared in ggml's order.
	trials := [18]int8{-9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for k := 0; k < len(trials); k += 2 {
		// C: -(nmax + 0.1f*is) / max; the product is rounded before the add.
		ia := -(fnmax + float32(0.1*float32(trials[k]))) / mx
		ib := -(fnmax + float32(0.1*float32(trials[k+1]))) / mx
		var ax, a2, bx, b2 float32
		for i, v := range x {
			fa := float32(clampInt32(nearestInt(ia*v), lo, hi))
			fb := float32(clampInt32(nearestInt(ib*v), lo, hi))
			ax += float32(wx[i] * fa)
			bx += float32(wx[i] * fb)
			a2 += float32(float32(w[i]*fa) * fa)
			b2 += float32(float32(w[i]*fb) * fb)
		}
		if a2 > 0 && ax*ax > best*a2 {
			for i, v := range x {
				L[i] = int8(int32(nmax) + clampInt32(nearestInt(ia*v), lo, hi))
			}
			scale = ax / a2
			best = scale * ax
		}
		if b2 > 0 && bx*bx > best*b2 {
			for i, v := range x {
				L[i] = int8(int32(nmax) + clampInt32(nearestInt(ib*v), lo, hi))
			}
			scale = bx / b2
			best = scale * bx
		}
	}
	return scale
}

// makeQ3Quants is ggml's make_q3_quants: symmetric codes in [-nmax, nmax-1]
// (stored +nmax) with x² weights. With doRmse the codes from
// iscale = -nmax/max are improved by up to 5 rounds of per-element
// coordinate descent on the least-squares error, and the least-squares
// scale is returned; otherwise 1/iscale. All-zero groups give L = 0 and 0.
func makeQ3Quants(n, nmax int, x []float32, L []int8, doRmse bool) float32 {
	checkSearchN(n)
	x = x[:n]
	L = L[:n]
	var max, amax float32
	for _, v := range x {
		if ax := abs32(v); ax > amax {
			amax, max = ax, v
		}
	}
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	lo, hi := int32(-nmax), int32(nmax-1)
	iscale := float32(-nmax) / max
	if !doRmse {
		for i, v := range x {
			L[i] = int8(clampInt32(nearestInt(iscale*v), lo, hi) + int32(nmax))
		}
		return 1 / iscale
	}
	// w = x² and w*x, as ggml recomputes them each time.
	var wArr, wxArr [maxSearchN]float32
	w, wx := wArr[:n], wxArr[:n]
	for i, v := range x {
		w[i] = float32(v * v)
		wx[i] = float32(w[i] * v)
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt32(nearestInt(iscale*v), lo, hi)
		L[i] = int8(l)
		fl := float32(l)
		sumlx += float32(wx[i] * fl)
		suml2 += float32(float32(w[i]*fl) * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			fL := float32(L[i])
			slx := sumlx - float32(wx[i]*fL)
			if slx > 0 {
				sl2 := suml2 - float32(float32(w[i]*fL)*fL)
				newL := clampInt32(nearestInt(v*sl2/slx), lo, hi)
				if newL != int32(L[i]) {
					fn := float32(newL)
					slx += float32(wx[i] * fn)
					sl2 += float32(float32(w[i]*fn) * fn)
					if sl2 > 0 && slx*slx*suml2 > sumlx*sumlx*sl2 {
						L[i] = int8(newL)
						sumlx, suml2 = slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range L {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// makeQkx2Quants is ggml's make_qkx2_quants: an asymmetric quantizer,
// x ≈ scale·L - theMin with L in [0, nmax] and the min clamped to <= 0
// (theMin >= 0). Starting from iscale = nmax/(max-min), it tries
// nstep+1 iscales (rmin + rdelta·is + nmax)/(max-min), refits scale and min
// by weighted least squares for each, and keeps the candidate with the
// lowest weighted |error| (useMad) or squared error. As in ggml, each
// candidate's max-min and x-min use the min of the best candidate so far,
// not the initial one. (ggml's Laux scratch argument is not needed.) A
// constant group gives L = 0, scale 0.
func makeQkx2Quants(n, nmax int, x, weights []float32, L []uint8, theMin *float32,
	rmin, rdelta float32, nstep int, useMad bool) float32 {
	checkSearchN(n)
	return makeQkxQuants(x[:n], weights[:n], L[:n], theMin, nmax, rmin, rdelta, nstep, useMad, false)
}

// makeQkx3Quants is ggml's make_qkx3_quants: makeQkx2Quants with default
// weights x² when weights is nil, and max <= min (instead of max == min)
// as the degenerate test (equivalent for non-NaN input).
func makeQkx3Quants(n, nmax int, x, weights []float32, L []uint8, theMin *float32,
	rmin, rdelta float32, nstep int, useMad bool) float32 {
	checkSearchN(n)
	x = x[:n]
	if weights == nil {
		var wArr [maxSearchN]float32
		w := wArr[:n]
		for i, v := range x {
			w[i] = float32(v * v)
		}
		return makeQkxQuants(x, w, L[:n], theMin, nmax, rmin, rdelta, nstep, useMad, true)
	}
	return makeQkxQuants(x, weights[:n], L[:n], theMin, nmax, rmin, rdelta, nstep, useMad, true)
}

// makeQkxQuants is the body shared by make_qkx2_quants and
// make_qkx3_quants, which differ only in the default weights and in the
// degenerate-range test (qkx3 selects "max <= min"). Candidate codes live
// in float32 scratch here, so ggml's Laux argument has no counterpart.
//
// ggml walks the candidates is = 0..nstep one at a time. A candidate's
// sums and error depend only on its iscale and on the min of the best
// candidate so far, so this version evaluates two candidates together
// (two independent float chains hide the add latency) and then takes the
// decisions in ggml's order; when the first of a pair wins, the min
// changes and the second is evaluated again with the new min, as ggml does.
func makeQkxQuants(x, w []float32, L []uint8, theMin *float32,
	nmax int, rmin, rdelta float32, nstep int, useMad, qkx3 bool) float32 {
	n := len(x)
	w = w[:n]
	L = L[:n]

	mn, mx := x[0], x[0]
	sumW := w[0]
	sumX := float32(sumW * x[0]) // rounded: it is the first addend of sumX
	for i := 1; i < n; i++ {
		v := x[i]
		if v < mn {
			mn = v
		}
		if v > mx {
			mx = v
		}
		sumW += w[i]
		sumX += float32(w[i] * v)
	}
	if mn > 0 {
		mn = 0
	}
	if (!qkx3 && mx == mn) || (qkx3 && mx <= mn) {
		clear(L)
		*theMin = -mn
		return 0
	}
	fnmax := float32(nmax)
	ihi := int32(nmax)
	// ggml evaluates max - min and x - min afresh for every candidate, with
	// the min of the best candidate so far; they are cached here and
	// refreshed whenever that min changes.
	rng := mx - mn
	var xmArr [maxSearchN]float32
	xm := xmArr[:n]
	for i, v := range x {
		xm[i] = v - mn
	}

	iscale := fnmax / rng
	scale := 1 / iscale
	for i := range xm {
		L[i] = uint8(max(0, min(ihi, nearestInt(iscale*xm[i]))))
	}
	bestErr := qkxError(x, w, L, scale, mn, useMad)
	if nstep < 1 {
		*theMin = -mn
		return scale
	}
	// Candidate codes are kept as float32 (they are small integers, so
	// exact): the error loop then needs no int-to-float conversion.
	var LaArr, LbArr [maxSearchN]float32
	La, Lb := LaArr[:n], LbArr[:n]
	// candIscale is ggml's (rmin + rdelta*is + nmax)/(max - min), each
	// operation rounded.
	candIscale := func(is int) float32 {
		return (rmin + float32(rdelta*float32(is)) + fnmax) / rng
	}
	// accept makes a candidate the best so far.
	accept := func(Lc []float32, cur, s, m float32) {
		for i, f := range Lc {
			L[i] = uint8(f)
		}
		bestErr, scale, mn = cur, s, m
		rng = mx - mn
		for i, v := range x {
			xm[i] = v - mn
		}
	}
	// single evaluates one candidate exactly as ggml's loop body.
	single := func(is int) {
		a := qkxSums(x, xm, w, La, candIscale(is), ihi)
		if s, m, ok := qkxFit(sumW, sumX, a); ok {
			if cur := qkxError(x, w, La, s, m, useMad); cur < bestErr {
				accept(La, cur, s, m)
			}
		}
	}
	is := 0
	for ; is+1 <= nstep; is += 2 {
		a, b := qkxSums2(x, xm, w, La, Lb, candIscale(is), candIscale(is+1), ihi)
		sa, ma, okA := qkxFit(sumW, sumX, a)
		sb, mb, okB := qkxFit(sumW, sumX, b)
		var curA, curB float32
		switch {
		case okA && okB:
			curA, curB = qkxError2(x, w, La, Lb, sa, ma, sb, mb, useMad)
		case okA:
			curA = qkxError(x, w, La, sa, ma, useMad)
		case okB:
			curB = qkxError(x, w, Lb, sb, mb, useMad)
		}
		if okA && curA < bestErr {
			accept(La, curA, sa, ma)
			single(is + 1) // the min moved: redo the second candidate
			continue
		}
		if okB && curB < bestErr {
			accept(Lb, curB, sb, mb)
		}
	}
	if is <= nstep {
		single(is)
	}
	*theMin = -mn
	return scale
}

// qkxSums assigns the codes of one candidate iscale to La and returns
// Σw·l, Σw·l², Σw·l·x in ggml's order and rounding.
func qkxSums(x, xm, w []float32, La []float32, iscale float32, ihi int32) (s [3]float32) {
	n := len(x)
	xm, w, La = xm[:n], w[:n], La[:n]
	var sumL, sumL2, sumXL float32
	for i, v := range x {
		fl := float32(max(0, min(ihi, nearestInt(iscale*xm[i]))))
		La[i] = fl
		wl := float32(w[i] * fl) // rounded once, reused as in (w*l)*l
		sumL += wl
		sumL2 += float32(wl * fl) // (w*l)*l
		sumXL += float32(wl * v)  // (w*l)*x
	}
	return [3]float32{sumL, sumL2, sumXL}
}

// qkxSums2 is qkxSums for two iscales at once.
func qkxSums2(x, xm, w []float32, La, Lb []float32, ia, ib float32, ihi int32) (a, b [3]float32) {
	n := len(x)
	xm, w, La, Lb = xm[:n], w[:n], La[:n], Lb[:n]
	var aL, aL2, aXL, bL, bL2, bXL float32
	for i, v := range x {
		fa := float32(max(0, min(ihi, nearestInt(ia*xm[i]))))
		fb := float32(max(0, min(ihi, nearestInt(ib*xm[i]))))
		La[i], Lb[i] = fa, fb
		wa, wb := float32(w[i]*fa), float32(w[i]*fb)
		aL += wa
		bL += wb
		aL2 += float32(wa * fa)
		bL2 += float32(wb * fb)
		aXL += float32(wa * v)
		bXL += float32(wb * v)
	}
	return [3]float32{aL, aL2, aXL}, [3]float32{bL, bL2, bXL}
}

// qkxFit solves ggml's weighted 2x2 least squares for scale and min from
// a candidate's sums; ok is false when the determinant is not positive.
// A positive min is replaced by 0 with the scale refitted alone.
func qkxFit(sumW, sumX float32, s [3]float32) (scale, mn float32, ok bool) {
	sumL, sumL2, sumXL := s[0], s[1], s[2]
	D := float32(sumW*sumL2) - float32(sumL*sumL)
	if !(D > 0) {
		return 0, 0, false
	}
	scale = (float32(sumW*sumXL) - float32(sumX*sumL)) / D
	mn = (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
	if mn > 0 {
		mn = 0
		scale = sumXL / sumL2
	}
	return scale, mn, true
}

// qkxError is Σ w·|scale·l + min - x| (useMad) or Σ w·(scale·l + min - x)².
func qkxError[T uint8 | float32](x, w []float32, La []T, scale, mn float32, useMad bool) float32 {
	n := len(x)
	w, La = w[:n], La[:n]
	var e float32
	if useMad {
		for i, v := range x {
			// C: scale * L[i] + min - x[i], left to right.
			d := float32(scale*float32(La[i])) + mn - v
			e += float32(w[i] * abs32(d))
		}
		return e
	}
	for i, v := range x {
		d := float32(scale*float32(La[i])) + mn - v
		e += float32(w[i] * float32(d*d))
	}
	return e
}

// qkxError2 is qkxError for two candidates at once.
func qkxError2(x, w []float32, La, Lb []float32, sa, ma, sb, mb float32, useMad bool) (ea, eb float32) {
	n := len(x)
	w, La, Lb = w[:n], La[:n], Lb[:n]
	if useMad {
		for i, v := range x {
			da := float32(sa*float32(La[i])) + ma - v
			db := float32(sb*float32(Lb[i])) + mb - v
			ea += float32(w[i] * abs32(da))
			eb += float32(w[i] * abs32(db))
		}
		return ea, eb
	}
	for i, v := range x {
		da := float32(sa*float32(La[i])) + ma - v
		db := float32(sb*float32(Lb[i])) + mb - v
		ea += float32(w[i] * float32(da*da))
		eb += float32(w[i] * float32(db*db))
	}
	return ea, eb
}

// makeQpQuants is ggml's make_qp_quants: quantizes non-negative values
// (the sub-block scales or mins of a super-block) to codes in [0, nmax]
// against one scale, weighted by qw. It tries iscale = nmax/max and 8
// offsets (nmax ± 0.1·k)/max by weighted squared error, then runs up to 5
// rounds of coordinate descent and returns the least-squares scale.
// Groups with max < 1e-15 give L = 0 and scale 0 (current ggml; older
// versions produced NaN here).
//
// As in ggml, codes are only clamped from above; L holds them truncated to
// a byte (a negative code would wrap), while the sums use the int value.
func makeQpQuants(n, nmax int, x []float32, L []uint8, qw []float32) float32 {
	checkSearchN(n)
	x = x[:n]
	L = L[:n]
	qw = qw[:n]
	var max float32
	for _, v := range x {
		if !(max > v) { // C: MAX(max, x) = max > x ? max : x
			max = v
		}
	}
	if max < groupMaxEps {
		clear(L)
		return 0
	}
	fnmax := float32(nmax)
	ihi := int32(nmax)
	iscale := fnmax / max
	for i, v := range x {
		L[i] = uint8(nearestInt(iscale * v))
	}
	scale := 1 / iscale
	var bestMSE float32
	for i, v := range x {
		diff := v - float32(scale*float32(L[i]))
		bestMSE += float32(float32(qw[i]*diff) * diff)
	}
	for is := -4; is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := (float32(0.1*float32(is)) + fnmax) / max
		scaleIs := 1 / iscaleIs
		var mse float32
		for i, v := range x {
			l := nearestInt(iscaleIs * v)
			if l > ihi {
				l = ihi
			}
			diff := v - float32(scaleIs*float32(l))
			mse += float32(float32(qw[i]*diff) * diff)
		}
		if mse < bestMSE {
			bestMSE = mse
			iscale = iscaleIs
		}
	}
	var wxArr [maxSearchN]float32
	wx := wxArr[:n]
	var sumlx, suml2 float32
	for i, v := range x {
		wx[i] = float32(qw[i] * v)
		l := nearestInt(iscale * v)
		if l > ihi {
			l = ihi
		}
		L[i] = uint8(l)
		fl := float32(l)
		sumlx += float32(wx[i] * fl)
		suml2 += float32(float32(qw[i]*fl) * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			fL := float32(L[i])
			slx := sumlx - float32(wx[i]*fL)
			sl2 := suml2 - float32(float32(qw[i]*fL)*fL)
			if slx > 0 && sl2 > 0 {
				newL := nearestInt(v * sl2 / slx)
				if newL > ihi {
					newL = ihi
				}
				if newL != int32(L[i]) {
					fn := float32(newL)
					slx += float32(wx[i] * fn)
					sl2 += float32(float32(qw[i]*fn) * fn)
					if slx*slx*suml2 > sumlx*sumlx*sl2 {
						L[i] = uint8(newL)
						sumlx, suml2 = slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}
