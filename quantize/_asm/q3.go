package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// q3Search is search.go's makeQ3Quants(16, 4, x, L, true) (Q3_K without an
// imatrix) for the 16 sub-blocks of 16 held in two qkxBatches, 8 lanes
// each; the two batches run as two interleaved dependency chains. Per
// batch: w = x² in w rows 0..15, w·x in w rows 16..31, the codes (as
// float32 in [-4, 3]) in l during the search; at the end l holds the int32
// codes + 4 (0 in lanes with max|x| < 1e-15) and scale the scales. The
// coordinate descent runs until no lane of either batch changes a code or
// for 5 passes: a lane that changed nothing in a pass (where the scalar
// code stops) changes nothing in later passes either.
func q3Search() {
	name := "q3Search8x16x2AVX2"
	TEXT(name, NOSPLIT, "func(b0 *float32, b1 *float32)")
	Pragma("noescape")
	Doc(name+" runs makeQ3Quants(16, 4, ·, ·, true) on the 8+8 sub-blocks of 16",
		"held transposed in the qkxBatches at b0 and b1.")
	bs := []Register{Load(Param("b0"), GP64()), Load(Param("b1"), GP64())}
	const n = 16
	x := func(b Register, i int) Mem { return Mem{Base: b, Disp: offX + 32*i} }
	w := func(b Register, i int) Mem { return Mem{Base: b, Disp: offW + 32*i} }
	wx := func(b Register, i int) Mem { return Mem{Base: b, Disp: offW + 32*(16+i)} }
	l := func(b Register, i int) Mem { return Mem{Base: b, Disp: offL + 32*i} }
	st := func(b Register, k int) Mem { return Mem{Base: b, Disp: offSt + 32*k} }

	// The nearestInt constants live in b0's state slots 0..4 (this kernel
	// uses only slot stDeg), to leave registers for the two chains.
	var consts [5]Mem
	for k, v := range []uint32{0x4B400000, 0x007fffff, 0x00400000, 3, 0xfffffffc} {
		consts[k] = st(bs[0], k)
		VMOVUPS(bcast(v), consts[k])
	}
	magic, mask23, off22, ihi, ilo := consts[0], consts[1], consts[2], consts[3], consts[4]
	zero := YMM()
	VXORPS(zero, zero, zero)

	// nearest clamps nearestInt(t) to [-4, 3] and converts it back to float32.
	nearest := func(t VecVirtual) {
		VADDPS(magic, t, t)
		VPAND(mask23, t, t)
		VPSUBD(off22, t, t)
		VPMINSD(ihi, t, t)
		VPMAXSD(ilo, t, t)
		VCVTDQ2PS(t, t)
	}

	// Setup: max|x| (first on ties) and its element, w, w·x, iscale, the
	// initial codes and sums.
	var sumlx, suml2 [2]VecVirtual
	for h, b := range bs {
		absm := bcast(0x7fffffff)
		amax, mx := YMM(), YMM()
		VXORPS(amax, amax, amax)
		VXORPS(mx, mx, mx)
		for i := 0; i < n; i++ {
			v, a, c, t := YMM(), YMM(), YMM(), YMM()
			VMOVUPS(x(b, i), v)
			VANDPS(absm, v, a)
			VCMPPS(U8(cmpLT), a, amax, c) // amax < |x|
			VBLENDVPS(c, a, amax, amax)
			VBLENDVPS(c, v, mx, mx)
			VMULPS(v, v, t) // w = x*x
			VMOVUPS(t, w(b, i))
			VMULPS(v, t, t) // w*x
			VMOVUPS(t, wx(b, i))
		}
		deg := YMM()
		VCMPPS(U8(cmpLT), bcast(0x26901D7D), amax, deg) // amax < 1e-15
		VMOVUPS(deg, st(b, stDeg))
		is := YMM()
		VMOVUPS(bcast(0xc0800000), is) // -4
		VDIVPS(mx, is, is)             // -nmax/max
		sumlx[h], suml2[h] = YMM(), YMM()
		VXORPS(sumlx[h], sumlx[h], sumlx[h])
		VXORPS(suml2[h], suml2[h], suml2[h])
		for i := 0; i < n; i++ {
			t, p := YMM(), YMM()
			VMULPS(x(b, i), is, t) // iscale*x
			nearest(t)
			VMOVUPS(t, l(b, i))
			VMULPS(wx(b, i), t, p) // wx*l
			VADDPS(p, sumlx[h], sumlx[h])
			VMULPS(w(b, i), t, p) // (w*l)*l
			VMULPS(t, p, p)
			VADDPS(p, suml2[h], suml2[h])
		}
	}

	cnt := GP64()
	MOVQ(U32(5), cnt)
	Label(name + "_pass")
	changed := YMM()
	VXORPS(changed, changed, changed)
	for i := 0; i < n; i++ {
		for h, b := range bs {
			S, Q := sumlx[h], suml2[h]
			fL, slx, sl2, t, ok := YMM(), YMM(), YMM(), YMM(), YMM()
			VMOVUPS(l(b, i), fL)
			VMULPS(wx(b, i), fL, t)
			VSUBPS(t, S, slx) // sumlx - wx*L
			VMULPS(w(b, i), fL, t)
			VMULPS(fL, t, t)
			VSUBPS(t, Q, sl2)                // suml2 - (w*L)*L
			VCMPPS(U8(cmpLT), slx, zero, ok) // slx > 0
			fn := YMM()
			VMOVUPS(x(b, i), fn)
			VMULPS(sl2, fn, fn) // x*sl2
			VDIVPS(slx, fn, fn) // /slx
			nearest(fn)
			c := YMM()
			VCMPPS(U8(0x04), fL, fn, c) // newL != L
			VANDPS(c, ok, ok)
			VMULPS(wx(b, i), fn, t)
			VADDPS(t, slx, slx) // slx += wx*newL
			VMULPS(w(b, i), fn, t)
			VMULPS(fn, t, t)
			VADDPS(t, sl2, sl2)             // sl2 += (w*newL)*newL
			VCMPPS(U8(cmpLT), sl2, zero, c) // sl2 > 0
			VANDPS(c, ok, ok)
			lhs, rhs := YMM(), YMM()
			VMULPS(slx, slx, lhs)
			VMULPS(Q, lhs, lhs) // slx*slx*suml2
			VMULPS(S, S, rhs)
			VMULPS(sl2, rhs, rhs)          // sumlx*sumlx*sl2
			VCMPPS(U8(cmpLT), lhs, rhs, c) // lhs > rhs
			VANDPS(c, ok, ok)
			VBLENDVPS(ok, fn, fL, fL)
			VMOVUPS(fL, l(b, i))
			VBLENDVPS(ok, slx, S, S)
			VBLENDVPS(ok, sl2, Q, Q)
			VORPS(ok, changed, changed)
		}
	}
	VPTEST(changed, changed)
	JZ(LabelRef(name + "_done"))
	DECQ(cnt)
	JNZ(LabelRef(name + "_pass"))
	Label(name + "_done")

	// Codes L + 4 (0 where degenerate) and scale sumlx/suml2 (0 unless
	// suml2 > 0, and where degenerate).
	four := bcast(4)
	for h, b := range bs {
		dg := YMM()
		VMOVUPS(st(b, stDeg), dg)
		for i := 0; i < n; i++ {
			t := YMM()
			VCVTTPS2DQ(l(b, i), t)
			VPADDD(four, t, t)
			VPANDN(t, dg, t)
			VMOVDQU(t, l(b, i))
		}
		sc, c := YMM(), YMM()
		VDIVPS(suml2[h], sumlx[h], sc)
		VCMPPS(U8(cmpLT), suml2[h], zero, c) // suml2 > 0
		VANDPS(c, sc, sc)
		VANDNPS(sc, dg, sc)
		VMOVUPS(sc, Mem{Base: b, Disp: offScale})
	}
	VZEROUPPER()
	RET()
}
