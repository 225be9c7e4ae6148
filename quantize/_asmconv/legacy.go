package main

// The legacy 32-element types: Q4_0, Q4_1, Q5_0 and Q5_1 dequantizers and the
// Q4_1 and Q5_1 quantizers (legacy.go holds the scalar reference).

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func legacyDequant(name string, blockBytes int, withMin, q5 bool) {
	TEXT(name, NOSPLIT, "func(dst *float32, src *byte, nb int, tab *float32)")
	Pragma("noescape")
	Doc(name + " expands nb blocks from src into dst as the scalar dequantizer does.")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	nb := Load(Param("nb"), GP64())
	tab := Load(Param("tab"), GP64())
	low := bcast32(0x0f)
	// Types without a min subtract their offset (8, or 16 for Q5_0);
	// Q5 types keep their high bits in a u32 after the scales.
	var bias, sixteen VecVirtual
	if !withMin {
		if q5 {
			bias = bcast32(16)
		} else {
			bias = bcast32(8)
		}
	}
	if q5 {
		sixteen = bcast32(0x10)
	}
	qs := 2
	if withMin {
		qs = 4
	}
	qhOff := qs
	if q5 {
		qs += 4
	}
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	d := loadHalf(tab, src, 0)
	var m, qh VecVirtual
	if withMin {
		m = loadHalf(tab, src, 2)
	}
	if q5 {
		qh = YMM()
		VPBROADCASTD(Mem{Base: src, Disp: qhOff}, qh)
	}
	for g := 0; g < 16; g += 8 {
		z, lo, hi := YMM(), YMM(), YMM()
		VPMOVZXBD(Mem{Base: src, Disp: qs + g}, z)
		VPAND(low, z, lo)
		VPSRLD(U8(4), z, hi)
		for k, v := range []VecVirtual{lo, hi} {
			if q5 {
				// bit j (element j) of qh → bit 4.
				t := YMM()
				VPSRLVD(shiftCounts.Offset(4*(16*k+g)), qh, t)
				VPSLLD(U8(4), t, t)
				VPAND(sixteen, t, t)
				VPOR(t, v, v)
			}
			if !withMin {
				VPSUBD(bias, v, v)
			}
			VCVTDQ2PS(v, v)
			VMULPS(d, v, v)
			if withMin {
				VADDPS(m, v, v)
			}
			VMOVUPS(v, Mem{Base: dst, Disp: 4 * (16*k + g)})
		}
	}
	ADDQ(U8(blockBytes), src)
	ADDQ(U32(128), dst)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

var shiftCounts, packPerm Mem

func legacyConsts() {
	shiftCounts = GLOBL("shiftCounts", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(4*i, U32(i))
	}
	packPerm = GLOBL("packPerm", RODATA|NOPTR)
	for i, v := range []uint32{0, 4, 1, 5, 2, 6, 3, 7} {
		DATA(4*i, U32(v))
	}
}

// hreduce leaves op over the 8 lanes of v in every lane of the result
// (valid for min and max of values without NaNs: the order does not
// matter there except for the sign of a zero, which the caller handles).
func hreduce(v VecVirtual, op func(a, b, c Op)) VecVirtual {
	x, t := XMM(), XMM()
	VEXTRACTF128(U8(1), v, x)
	op(v.AsX(), x, x)
	VPERMILPS(U8(0x4e), x, t)
	op(t, x, x)
	VPERMILPS(U8(0xb1), x, t)
	op(t, x, x)
	return x
}

// legacyQuant emits the Q4_1 (nmax 15) or Q5_1 (nmax 31) quantizer of
// quantize_row_q4_1_ref / quantize_row_q5_1_ref without an imatrix. The
// block minimum's sign is that of some equal lane, not necessarily the
// first element's: the Go caller redoes the blocks whose minimum is ±0
// with the scalar code.
func legacyQuant(name string, nmax int) {
	TEXT(name, NOSPLIT, "func(dst *byte, src *float32, nb int)")
	Pragma("noescape")
	Doc(name+" quantizes nb blocks of 32 from src to dst as the scalar quantizer does,",
		"except possibly for the sign of a zero block minimum (see the Go caller).")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	nb := Load(Param("nb"), GP64())
	blockBytes := 20
	if nmax == 31 {
		blockBytes = 24
	}
	fltMax := bcast32(0x7f7fffff)
	half := bcast32(0x3f000000)
	lowByte := bcast32(0xff)
	hiNib := bcast32(0xf0f0f0f0)
	var clamp, loNib VecVirtual
	if nmax == 15 {
		clamp = bcast32(0x0f0f0f0f)
	} else {
		loNib = bcast32(0x0f0f0f0f)
	}
	perm := YMM()
	VMOVDQU(packPerm, perm)
	nmaxF, oneF := GP32(), GP32()
	MOVL(U32(math.Float32bits(float32(nmax))), nmaxF)
	MOVL(U32(math.Float32bits(1)), oneF)
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	var x [4]VecVirtual
	mn, mx := YMM(), YMM()
	VMOVAPS(fltMax, mn)
	VXORPS(mx, mx, mx)
	VSUBPS(fltMax, mx, mx) // -FLT_MAX
	for k := range x {
		x[k] = YMM()
		VMOVUPS(Mem{Base: src, Disp: 32 * k}, x[k])
		// mn = x < mn ? x : mn (NaNs never win), as the scalar scan.
		VMINPS(mn, x[k], mn)
		VMAXPS(mx, x[k], mx)
	}
	minX := hreduce(mn, func(a, b, c Op) { VMINPS(a, b, c) })
	maxX := hreduce(mx, func(a, b, c Op) { VMAXPS(a, b, c) })
	d, id, c, t := XMM(), XMM(), XMM(), XMM()
	VSUBSS(minX, maxX, d) // max - min
	VMOVD(nmaxF, c)
	VDIVSS(c, d, d)
	VMOVD(oneF, c)
	VDIVSS(d, c, id) // 1/d
	VXORPS(t, t, t)
	VCMPSS(U8(0), t, d, t) // d == 0
	VANDNPS(id, t, id)
	VUNPCKLPS(minX, d, t)
	VCVTPS2PH(U8(0), t, t)
	VMOVD(t, Mem{Base: dst})
	minB, idB := YMM(), YMM()
	VBROADCASTSS(minX, minB)
	VBROADCASTSS(id, idB)
	for k := range x {
		VSUBPS(minB, x[k], x[k])
		VMULPS(idB, x[k], x[k])
		VADDPS(half, x[k], x[k])
		VCVTTPS2DQ(x[k], x[k])
		VPAND(lowByte, x[k], x[k])
	}
	VPACKUSDW(x[1], x[0], x[0])
	VPACKUSDW(x[3], x[2], x[2])
	VPACKUSWB(x[2], x[0], x[0])
	VPERMD(x[0], perm, x[0]) // bytes in element order
	b := x[0]
	hi := XMM()
	if nmax == 15 {
		VPMINSB(clamp, b, b) // MIN(15, (int8_t)·)
		VEXTRACTI128(U8(1), b, hi)
		VPSLLW(U8(4), hi, hi)
		VPAND(hiNib.AsX(), hi, hi)
		VPOR(b.AsX(), hi, hi)
		VMOVDQU(hi, Mem{Base: dst, Disp: 4})
	} else {
		// qh: bit j = bit 4 of code j.
		s, r := YMM(), GP32()
		VPSLLW(U8(3), b, s)
		VPMOVMSKB(s, r)
		MOVL(r, Mem{Base: dst, Disp: 4})
		lo := XMM()
		VPAND(loNib.AsX(), b.AsX(), lo)
		VEXTRACTI128(U8(1), b, hi)
		VPSLLW(U8(4), hi, hi)
		VPAND(hiNib.AsX(), hi, hi)
		VPOR(lo, hi, hi)
		VMOVDQU(hi, Mem{Base: dst, Disp: 8})
	}
	ADDQ(U8(128), src)
	ADDQ(U8(blockBytes), dst)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}
