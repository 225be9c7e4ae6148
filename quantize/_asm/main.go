// Command _asm generates qconv's amd64 K-quant scale searches with avo.
//
// Run from this folder (or use scripts/gen-asm.sh / go generate ./quantize):
//
//	go run . -out ../zsearch_amd64.s -stubs ../zsearch_amd64.go -pkg quantize
//
// qkxSearch8xN runs ggml's make_qkx2_quants / make_qkx3_quants (use_mad
// false) on 8 independent sub-blocks of N elements at once: vector lane j
// is sub-block j, and every lane performs exactly the scalar float32
// sequence of search.go's makeQkxQuants for its sub-block (same operations
// in the same order, each rounded on its own: no FMA; nearest_int with the
// same magic-number addition and integer clamp). Branches become compare
// masks and blends, so a lane's result cannot differ from the scalar one.
//
// The data lives in a qkxBatch (search_simd.go), addressed by the offsets
// below, with the sub-blocks transposed: x[i][j] is element i of sub-block j.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// qkxBatch offsets (bytes); TestQkxBatchLayout checks them.
const (
	offX     = 0    // [32][8]float32 elements
	offW     = 1024 // [32][8]float32 weights
	offL     = 2048 // [32][8]int32 candidate codes (float32) during the search, final codes after
	offNum   = 3072 // [48]float32 candidate numerators rmin + rdelta*is + nmax
	offScale = 3264 // [8]float32 result scales
	offMin   = 3296 // [8]float32 result mins (<= 0; ggml's the_min is -min)
	offSt    = 3328 // [10][8]float32 state
)

// State slots (offSt + 32*slot).
const (
	stMax     = iota // max(x)
	stBestErr        // error of the best candidate so far
	stScale          // its scale
	stIscale         // its iscale
	stCodeMin        // the min its codes were computed with
	stDeg            // all-ones where the sub-block is degenerate
	stMin0           // the initial min
	stSumW           // Σw
	stSumX           // Σw·x
	stAbs            // 0x7fffffff (mad)
)

func main() {
	ConstraintExpr("!purego")
	search(32, false) // Q4_K, Q5_K
	search(16, false) // Q2_K with an imatrix
	search(16, true)  // Q2_K
	requant(32)
	requant(16)
	qxSearch(16) // Q6_K
	q3Search()   // Q3_K
	Generate()
}

func bcast(v uint32) VecVirtual {
	r := GP32()
	MOVL(U32(v), r)
	x := XMM()
	VMOVD(r, x)
	y := YMM()
	VPBROADCASTD(x, y)
	return y
}

// Comparison predicates.
const (
	cmpEQ = 0x00 // EQ_OQ
	cmpLT = 0x01 // LT_OS
	cmpLE = 0x02 // LE_OS
)

func search(n int, mad bool) {
	name := fmt.Sprintf("qkxSearch8x%dAVX2", n)
	what := "squared"
	if mad {
		name = fmt.Sprintf("qkxSearch8x%dMadAVX2", n)
		what = "absolute"
	}
	TEXT(name, NOSPLIT, "func(b *float32, ncand int, nmax int, qkx3 int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s runs makeQkxQuants (%s errors) for 8 sub-blocks of %d elements", name, what, n),
		"held transposed in the qkxBatch at b, trying ncand candidate iscales num[k]/(max-min);",
		"qkx3 != 0 selects make_qkx3_quants' degenerate test (max <= min).")

	b := Load(Param("b"), GP64())
	ncand := Load(Param("ncand"), GP64())
	nmaxR := Load(Param("nmax"), GP64()).(GPVirtual)
	qkx3 := Load(Param("qkx3"), GP64())

	row := func(off, i int) Mem { return Mem{Base: b, Disp: off + 32*i} }
	x := func(i int) Mem { return row(offX, i) }
	w := func(i int) Mem { return row(offW, i) }
	l := func(i int) Mem { return row(offL, i) }
	st := func(k int) Mem { return row(offSt, k) }

	ihi := YMM()
	nx := XMM()
	VMOVD(nmaxR.As32(), nx)
	VPBROADCASTD(nx, ihi)
	magic := bcast(0x4B400000) // 12582912 = 1.5*2^23
	mask23 := bcast(0x007fffff)
	off22 := bcast(0x00400000)
	zero := YMM()
	VXORPS(zero, zero, zero)
	// errTerm turns diff = scale*l + min - x into w*diff² or w*|diff|.
	errTerm := func(t VecVirtual, i int) {
		if mad {
			VANDPS(Mem{Base: b, Disp: offSt + 32*stAbs}, t, t) // fabsf
		} else {
			VMULPS(t, t, t) // diff*diff
		}
		VMULPS(w(i), t, t)
	}

	// quant turns t = iscale*(x-min) into nearestInt(t) clamped to
	// [0, nmax] (int32), as max(0, min(nmax, nearestInt(t))).
	quant := func(t VecVirtual) {
		VADDPS(magic, t, t)
		VPAND(mask23, t, t)
		VPSUBD(off22, t, t)
		VPMINSD(ihi, t, t)
		VPMAXSD(zero, t, t)
	}
	// code computes the clamped int32 code of element i for iscale is and min mn.
	code := func(i int, is, mn VecVirtual) VecVirtual {
		t := YMM()
		VMOVUPS(x(i), t)
		VSUBPS(mn, t, t) // x - min
		VMULPS(is, t, t) // iscale*(x - min)
		quant(t)
		return t
	}

	// min, max, Σw, Σw·x (sumX starts as the rounded w[0]*x[0]).
	if mad {
		VMOVUPS(bcast(0x7fffffff), st(stAbs))
	}
	mn, mx, sw, sx := YMM(), YMM(), YMM(), YMM()
	VMOVUPS(x(0), mn)
	VMOVAPS(mn, mx)
	VMOVUPS(w(0), sw)
	VMULPS(x(0), sw, sx)
	for i := 1; i < n; i++ {
		v, t := YMM(), YMM()
		VMOVUPS(x(i), v)
		VMINPS(mn, v, mn) // v < mn ? v : mn
		VMAXPS(mx, v, mx) // v > mx ? v : mx
		VADDPS(w(i), sw, sw)
		VMULPS(w(i), v, t)
		VADDPS(t, sx, sx)
	}
	pos := YMM()
	VCMPPS(U8(cmpLT), mn, zero, pos) // 0 < min
	VANDNPS(mn, pos, mn)             // min > 0: min = 0
	deg := YMM()
	CMPQ(qkx3, U8(0))
	JNE(LabelRef(name + "_le"))
	VCMPPS(U8(cmpEQ), mn, mx, deg) // max == min
	JMP(LabelRef(name + "_deg"))
	Label(name + "_le")
	VCMPPS(U8(cmpLE), mn, mx, deg) // max <= min
	Label(name + "_deg")
	VMOVUPS(deg, st(stDeg))
	VMOVUPS(mn, st(stMin0))
	VMOVUPS(mx, st(stMax))
	VMOVUPS(sw, st(stSumW))
	VMOVUPS(sx, st(stSumX))

	// iscale = nmax/(max - min), scale = 1/iscale, and the error of its codes.
	{
		rng, is, sc, fn, e := YMM(), YMM(), YMM(), YMM(), YMM()
		VSUBPS(mn, mx, rng)
		VCVTDQ2PS(ihi, fn)
		VDIVPS(rng, fn, is)
		one := bcast(0x3f800000)
		VDIVPS(is, one, sc)
		VMOVUPS(is, st(stIscale))
		VMOVUPS(mn, st(stCodeMin))
		VMOVUPS(sc, st(stScale))
		VXORPS(e, e, e)
		for i := 0; i < n; i++ {
			t := code(i, is, mn)
			VCVTDQ2PS(t, t)
			VMULPS(sc, t, t)   // scale*l
			VADDPS(mn, t, t)   // + min
			VSUBPS(x(i), t, t) // - x
			errTerm(t, i)
			VADDPS(t, e, e) // error += w*diff
		}
		VMOVUPS(e, st(stBestErr))
	}

	num := GP64()
	LEAQ(Mem{Base: b, Disp: offNum}, num)
	TESTQ(ncand, ncand)
	JZ(LabelRef(name + "_final"))
	Label(name + "_cand")
	{
		// iscale = num[k]/(max - min), min of the best candidate so far.
		rng, is := YMM(), YMM()
		VMOVUPS(st(stMax), rng)
		VSUBPS(mn, rng, rng)
		VBROADCASTSS(Mem{Base: num}, is)
		VDIVPS(rng, is, is)
		sl, sl2, sxl := YMM(), YMM(), YMM()
		VXORPS(sl, sl, sl)
		VXORPS(sl2, sl2, sl2)
		VXORPS(sxl, sxl, sxl)
		for i := 0; i < n; i++ {
			t := code(i, is, mn)
			VCVTDQ2PS(t, t)
			VMOVUPS(t, l(i))
			wl, p := YMM(), YMM()
			VMULPS(w(i), t, wl) // w*l
			VADDPS(wl, sl, sl)
			VMULPS(t, wl, p) // (w*l)*l
			VADDPS(p, sl2, sl2)
			VMULPS(x(i), wl, p) // (w*l)*x
			VADDPS(p, sxl, sxl)
		}
		// qkxFit.
		D, p, q := YMM(), YMM(), YMM()
		VMULPS(st(stSumW), sl2, p)
		VMULPS(sl, sl, q)
		VSUBPS(q, p, D) // sumW*sumL2 - sumL*sumL
		s := YMM()
		VMULPS(st(stSumW), sxl, p)
		VMULPS(st(stSumX), sl, q)
		VSUBPS(q, p, s)
		VDIVPS(D, s, s) // (sumW*sumXL - sumX*sumL)/D
		m := YMM()
		VMULPS(st(stSumX), sl2, p)
		VMULPS(sxl, sl, q)
		VSUBPS(q, p, m)
		VDIVPS(D, m, m) // (sumL2*sumX - sumL*sumXL)/D
		mp := YMM()
		VCMPPS(U8(cmpLT), m, zero, mp) // 0 < min
		VANDNPS(m, mp, m)              // min = 0
		VDIVPS(sl2, sxl, p)            // sumXL/sumL2
		VBLENDVPS(mp, p, s, s)
		ok := YMM()
		VCMPPS(U8(cmpLT), D, zero, ok) // D > 0

		e := YMM()
		VXORPS(e, e, e)
		for i := 0; i < n; i++ {
			t := YMM()
			VMULPS(l(i), s, t) // scale*l
			VADDPS(m, t, t)    // + min
			VSUBPS(x(i), t, t) // - x
			errTerm(t, i)
			VADDPS(t, e, e)
		}
		acc := YMM()
		VCMPPS(U8(cmpLT), st(stBestErr), e, acc) // error < best
		VANDPS(ok, acc, acc)
		keep := func(slot int, v VecVirtual) {
			t := YMM()
			VMOVUPS(st(slot), t)
			VBLENDVPS(acc, v, t, t)
			VMOVUPS(t, st(slot))
		}
		keep(stBestErr, e)
		keep(stScale, s)
		keep(stIscale, is)
		keep(stCodeMin, mn)
		VBLENDVPS(acc, m, mn, mn)
	}
	ADDQ(U8(4), num)
	DECQ(ncand)
	JNZ(LabelRef(name + "_cand"))

	// The best candidate's codes, recomputed from its iscale and min (the
	// same operations give the same codes); 0 in degenerate lanes.
	Label(name + "_final")
	{
		is, cm, dg := YMM(), YMM(), YMM()
		VMOVUPS(st(stIscale), is)
		VMOVUPS(st(stCodeMin), cm)
		VMOVUPS(st(stDeg), dg)
		for i := 0; i < n; i++ {
			t := code(i, is, cm)
			VPANDN(t, dg, t)
			VMOVDQU(t, l(i))
		}
		sc := YMM()
		VMOVUPS(st(stScale), sc)
		VANDNPS(sc, dg, sc)
		VMOVUPS(sc, Mem{Base: b, Disp: offScale})
		VBLENDVPS(dg, st(stMin0), mn, mn)
		VMOVUPS(mn, Mem{Base: b, Disp: offMin})
	}
	VZEROUPPER()
	RET()
}

// requant writes the final codes of a K-quant super-block: in every lane
// j with d[j] != 0, l = max(lo, min(hi, nearestInt((x + m)/d))) + add with
// d = st[0], m = st[1] (the fp16-rounded sub-block scale and min); lanes
// with d == 0 keep their codes.
func requant(n int) {
	name := fmt.Sprintf("qkxRequant8x%dAVX2", n)
	TEXT(name, NOSPLIT, "func(b *float32, lo int, hi int, add int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s requantizes 8 sub-blocks of %d elements in the qkxBatch at b", name, n),
		"with the scales st[0] and mins st[1]; lanes whose scale is 0 keep their codes.")
	b := Load(Param("b"), GP64())
	lo, ihi, add := bcastParam("lo"), bcastParam("hi"), bcastParam("add")
	magic := bcast(0x4B400000)
	mask23 := bcast(0x007fffff)
	off22 := bcast(0x00400000)
	zero := YMM()
	VXORPS(zero, zero, zero)
	d, m, keep := YMM(), YMM(), YMM()
	VMOVUPS(Mem{Base: b, Disp: offSt}, d)
	VMOVUPS(Mem{Base: b, Disp: offSt + 32}, m)
	VCMPPS(U8(cmpEQ), zero, d, keep) // d == 0
	for i := 0; i < n; i++ {
		t := YMM()
		VMOVUPS(Mem{Base: b, Disp: offX + 32*i}, t)
		VADDPS(m, t, t) // x + m
		VDIVPS(d, t, t) // (x + m)/d
		VADDPS(magic, t, t)
		VPAND(mask23, t, t)
		VPSUBD(off22, t, t)
		VPMINSD(ihi, t, t)
		VPMAXSD(lo, t, t)
		VPADDD(add, t, t)
		VBLENDVPS(keep, Mem{Base: b, Disp: offL + 32*i}, t, t)
		VMOVDQU(t, Mem{Base: b, Disp: offL + 32*i})
	}
	VZEROUPPER()
	RET()
}

// bcastParam broadcasts the int parameter name (as int32) to a ymm.
func bcastParam(name string) VecVirtual {
	r := Load(Param(name), GP64()).(GPVirtual)
	x, y := XMM(), YMM()
	VMOVD(r.As32(), x)
	VPBROADCASTD(x, y)
	return y
}

// qxSearch is search.go's makeQxQuants for rmse_type 1 (no early return)
// with the weights in w (the caller puts x² or the imatrix there), for 8
// sub-blocks of n elements: codes l + nmax in [0, 2nmax) to l, the scale to
// scale. num[0] is -nmax and num[1..18] the trial numerators
// -(nmax + 0.1*is), is = -9..-1, 1..9; each iscale is num[k]/max.
func qxSearch(n int) {
	name := fmt.Sprintf("qxSearch8x%dAVX2", n)
	TEXT(name, NOSPLIT, "func(b *float32, nmax int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s runs makeQxQuants (rmse_type 1) for 8 sub-blocks of %d elements", name, n),
		"held transposed in the qkxBatch at b, with the weights w and the numerators num.")
	b := Load(Param("b"), GP64())
	nmaxR := Load(Param("nmax"), GP64()).(GPVirtual)
	x := func(i int) Mem { return Mem{Base: b, Disp: offX + 32*i} }
	w := func(i int) Mem { return Mem{Base: b, Disp: offW + 32*i} }
	wx := func(i int) Mem { return Mem{Base: b, Disp: offL + 32*i} } // scratch until the codes
	st := func(k int) Mem { return Mem{Base: b, Disp: offSt + 32*k} }
	num := func(k int) Mem { return Mem{Base: b, Disp: offNum + 4*k} }

	ihi, ilo, nm := YMM(), YMM(), YMM()
	nx := XMM()
	VMOVD(nmaxR.As32(), nx)
	VPBROADCASTD(nx, nm)
	VPXOR(ilo, ilo, ilo)
	VPSUBD(nm, ilo, ilo) // -nmax
	one := bcast(1)
	VPSUBD(one, nm, ihi) // nmax - 1
	magic := bcast(0x4B400000)
	mask23 := bcast(0x007fffff)
	off22 := bcast(0x00400000)
	absm := bcast(0x7fffffff)
	zero := YMM()
	VXORPS(zero, zero, zero)

	// The element of largest magnitude (first one on ties) and w*x.
	amax, mx := YMM(), YMM()
	VXORPS(amax, amax, amax)
	VXORPS(mx, mx, mx)
	for i := 0; i < n; i++ {
		v, a, c := YMM(), YMM(), YMM()
		VMOVUPS(x(i), v)
		VANDPS(absm, v, a)
		VCMPPS(U8(cmpLT), a, amax, c) // amax < |x|
		VBLENDVPS(c, a, amax, amax)
		VBLENDVPS(c, v, mx, mx)
		VMULPS(w(i), v, v) // w*x
		VMOVUPS(v, wx(i))
	}
	deg := YMM()
	VCMPPS(U8(cmpLT), bcast(0x26901D7D), amax, deg) // amax < 1e-15
	VMOVUPS(deg, st(stDeg))

	// sums computes Σ(w*x)*l and Σ(w*l)*l for the codes of iscale is.
	sums := func(is VecVirtual) (slx, sl2 VecVirtual) {
		slx, sl2 = YMM(), YMM()
		VXORPS(slx, slx, slx)
		VXORPS(sl2, sl2, sl2)
		for i := 0; i < n; i++ {
			t, p := YMM(), YMM()
			VMULPS(x(i), is, t) // iscale*x
			VADDPS(magic, t, t)
			VPAND(mask23, t, t)
			VPSUBD(off22, t, t)
			VPMINSD(ihi, t, t)
			VPMAXSD(ilo, t, t)
			VCVTDQ2PS(t, t)
			VMULPS(wx(i), t, p) // (w*x)*l
			VADDPS(p, slx, slx)
			VMULPS(w(i), t, p) // (w*l)*l
			VMULPS(t, p, p)
			VADDPS(p, sl2, sl2)
		}
		return slx, sl2
	}

	is := YMM()
	VBROADCASTSS(num(0), is)
	VDIVPS(mx, is, is) // -nmax/max
	VMOVUPS(is, st(stIscale))
	slx, sl2 := sums(is)
	scale, nz, best := YMM(), YMM(), YMM()
	VDIVPS(sl2, slx, scale)
	VCMPPS(U8(0x04), zero, sl2, nz) // suml2 != 0 (NEQ_UQ)
	VANDPS(nz, scale, scale)
	VMULPS(slx, scale, best)
	VMOVUPS(scale, st(stScale))
	VMOVUPS(best, st(stBestErr))

	cnt, np := GP64(), GP64()
	MOVQ(U32(18), cnt)
	LEAQ(num(1), np)
	Label(name + "_trial")
	{
		is := YMM()
		VBROADCASTSS(Mem{Base: np}, is)
		VDIVPS(mx, is, is)
		ax, a2 := sums(is)
		p, q, c, ok := YMM(), YMM(), YMM(), YMM()
		VMULPS(ax, ax, p)
		VMULPS(st(stBestErr), a2, q)
		VCMPPS(U8(cmpLT), p, q, c)      // ax*ax > best*a2
		VCMPPS(U8(cmpLT), a2, zero, ok) // a2 > 0
		VANDPS(ok, c, c)
		s, bst := YMM(), YMM()
		VDIVPS(a2, ax, s)
		VMULPS(ax, s, bst)
		keep := func(slot int, v VecVirtual) {
			t := YMM()
			VMOVUPS(st(slot), t)
			VBLENDVPS(c, v, t, t)
			VMOVUPS(t, st(slot))
		}
		keep(stScale, s)
		keep(stBestErr, bst)
		keep(stIscale, is)
	}
	ADDQ(U8(4), np)
	DECQ(cnt)
	JNZ(LabelRef(name + "_trial"))

	// Codes nmax + clamp(nearestInt(iscale*x)) of the best iscale; 0 and
	// scale 0 in lanes with max|x| < 1e-15.
	is2, dg := YMM(), YMM()
	VMOVUPS(st(stIscale), is2)
	VMOVUPS(st(stDeg), dg)
	for i := 0; i < n; i++ {
		t := YMM()
		VMULPS(x(i), is2, t)
		VADDPS(magic, t, t)
		VPAND(mask23, t, t)
		VPSUBD(off22, t, t)
		VPMINSD(ihi, t, t)
		VPMAXSD(ilo, t, t)
		VPADDD(nm, t, t)
		VPANDN(t, dg, t)
		VMOVDQU(t, Mem{Base: b, Disp: offL + 32*i})
	}
	sc := YMM()
	VMOVUPS(st(stScale), sc)
	VANDNPS(sc, dg, sc)
	VMOVUPS(sc, Mem{Base: b, Disp: offScale})
	VZEROUPPER()
	RET()
}
