// Command _asmconv generates qconv's amd64 conversion kernels with avo:
// float32 ↔ fp16/bf16 rows and the Q8_0, TQ1_0 and TQ2_0 dequantizers.
//
// Run from this folder (or use scripts/gen-asm.sh / go generate ./quantize):
//
//	go run . -out ../zconv_amd64.s -stubs ../zconv_amd64.go -pkg quantize
//
// Every kernel computes bit for bit what the scalar Go code in float.go,
// half.go and legacy.go computes (conv_test.go checks it, exhaustively for
// the float conversions): VCVTPS2PH with immediate 0 rounds to nearest
// even and quiets NaNs keeping the top payload bits, as fp32ToFP16 does;
// the bf16 narrowing is the scalar integer sequence on eight lanes; the
// widening conversions and d·q products are exact or rounded once, as in
// the scalar code. They need AVX2 and F16C (conv_amd64.go checks).
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("!purego")
	f32ToF16()
	f32ToBF16()
	bf16ToF32()
	dequantQ8_0()
	tq2Factors = tritFactors()
	dequantTQ1_0()
	dequantTQ2_0()
	k45Dequant("dequantQ4KAVX2", 144, -1)
	k45Dequant("dequantQ5KAVX2", 176, 16)
	dequantQ6K()
	dequantQ2K()
	dequantQ3K()
	legacyConsts()
	legacyDequant("dequantQ4_0AVX2", 18, false, false)
	legacyDequant("dequantQ4_1AVX2", 20, true, false)
	legacyDequant("dequantQ5_0AVX2", 22, false, true)
	legacyDequant("dequantQ5_1AVX2", 24, true, true)
	legacyQuant("quantQ4_1AVX2", 15)
	legacyQuant("quantQ5_1AVX2", 31)
	Generate()
}

func bcast32(v uint32) VecVirtual {
	r := GP32()
	MOVL(U32(v), r)
	x := XMM()
	VMOVD(r, x)
	y := YMM()
	VPBROADCASTD(x, y)
	return y
}

func f32ToF16() {
	TEXT("f32ToF16AVX2", NOSPLIT, "func(dst *byte, src *float32, n int)")
	Pragma("noescape")
	Doc("f32ToF16AVX2 writes n (a multiple of 32) float32 values from src to dst as",
		"little-endian IEEE binary16, rounded to nearest even (fp32ToFP16).")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	n := Load(Param("n"), GP64())
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	for k := 0; k < 4; k++ {
		y := YMM()
		VMOVUPS(Mem{Base: src, Disp: 32 * k}, y)
		VCVTPS2PH(U8(0), y, Mem{Base: dst, Disp: 16 * k})
	}
	ADDQ(U8(128), src)
	ADDQ(U8(64), dst)
	SUBQ(U8(32), n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

func f32ToBF16() {
	TEXT("f32ToBF16AVX2", NOSPLIT, "func(dst *byte, src *float32, n int)")
	Pragma("noescape")
	Doc("f32ToBF16AVX2 writes n (a multiple of 16) float32 values from src to dst as",
		"little-endian bfloat16 exactly as fp32ToBF16 does: NaNs keep their top",
		"half with the quiet bit set, everything else rounds to nearest even.")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	n := Load(Param("n"), GP64())
	bias := bcast32(0x7fff)
	one := bcast32(1)
	abs := bcast32(0x7fffffff)
	inf := bcast32(0x7f800000)
	quiet := bcast32(0x40)
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	var res [2]VecVirtual
	for k := range res {
		u, t, lsb, r, a, m := YMM(), YMM(), YMM(), YMM(), YMM(), YMM()
		VMOVDQU(Mem{Base: src, Disp: 32 * k}, u)
		VPSRLD(U8(16), u, t)
		VPAND(one, t, lsb)
		VPADDD(bias, u, r)
		VPADDD(lsb, r, r)
		VPSRLD(U8(16), r, r)
		VPAND(abs, u, a)
		VPCMPGTD(inf, a, m) // m = |u| > inf: NaN
		VPOR(quiet, t, t)
		VPBLENDVB(m, t, r, r) // r = m ? t : r
		res[k] = r
	}
	p := YMM()
	VPACKUSDW(res[1], res[0], p) // per 128-bit lane: res0 words, res1 words
	VPERMQ(U8(0xd8), p, p)
	VMOVDQU(p, Mem{Base: dst})
	ADDQ(U8(64), src)
	ADDQ(U8(32), dst)
	SUBQ(U8(16), n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

func bf16ToF32() {
	TEXT("bf16ToF32AVX2", NOSPLIT, "func(dst *float32, src *byte, n int)")
	Pragma("noescape")
	Doc("bf16ToF32AVX2 widens n (a multiple of 32) little-endian bfloat16 values",
		"from src into dst (each the top half of its float32).")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	n := Load(Param("n"), GP64())
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	for k := 0; k < 4; k++ {
		y := YMM()
		VPMOVZXWD(Mem{Base: src, Disp: 16 * k}, y)
		VPSLLD(U8(16), y, y)
		VMOVDQU(y, Mem{Base: dst, Disp: 32 * k})
	}
	ADDQ(U8(64), src)
	ADDQ(U32(128), dst)
	SUBQ(U8(32), n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

func dequantQ8_0() {
	TEXT("dequantQ8_0AVX2", NOSPLIT, "func(dst *float32, src *byte, nb int, tab *float32)")
	Pragma("noescape")
	Doc("dequantQ8_0AVX2 expands nb Q8_0 blocks from src into dst: float32(q)·d",
		"with d = tab[fp16 bits] (the fp16Table), one rounding per product.")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	nb := Load(Param("nb"), GP64())
	tab := Load(Param("tab"), GP64())
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	h := GP64()
	MOVWQZX(Mem{Base: src}, h)
	d := YMM()
	VBROADCASTSS(Mem{Base: tab, Index: h, Scale: 4}, d)
	for k := 0; k < 4; k++ {
		y := YMM()
		VPMOVSXBD(Mem{Base: src, Disp: 2 + 8*k}, y)
		VCVTDQ2PS(y, y)
		VMULPS(d, y, y)
		VMOVUPS(y, Mem{Base: dst, Disp: 32 * k})
	}
	ADDQ(U8(34), src)
	ADDQ(U32(128), dst)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// ternaryTable loads the per-block values float32(c-1)·d for the codes
// c = 0..3 (each product rounded once, as ternary.go's ternaryValues), in
// both 128-bit lanes, for VPERMILPS lookups: d is tab[fp16 bits at h].
func ternaryTable(factors Mem, tab, src Register, dOff int) VecVirtual {
	h := GP64()
	MOVWQZX(Mem{Base: src, Disp: dOff}, h)
	d, v := YMM(), YMM()
	VBROADCASTSS(Mem{Base: tab, Index: h, Scale: 4}, d)
	VMULPS(factors, d, v)
	return v
}

func tritFactors() Mem {
	m := GLOBL("tritFactors", RODATA|NOPTR)
	for i, f := range []float32{-1, 0, 1, 2, -1, 0, 1, 2} {
		DATA(4*i, F32(f))
	}
	return m
}

func dequantTQ2_0() {
	TEXT("dequantTQ2_0AVX2", NOSPLIT, "func(dst *float32, src *byte, nb int, tab *float32)")
	Pragma("noescape")
	Doc("dequantTQ2_0AVX2 expands nb TQ2_0 blocks from src into dst: element",
		"4j+m+32l is float32(c-1)·d for the 2-bit code c at bits 2l of byte j+m.")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	nb := Load(Param("nb"), GP64())
	tab := Load(Param("tab"), GP64())
	three := bcast32(3)
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	v := ternaryTable(tq2Factors, tab, src, 64)
	for j := 0; j < 64; j += 32 {
		for m := 0; m < 32; m += 8 {
			zx := YMM()
			VPMOVZXBD(Mem{Base: src, Disp: j + m}, zx)
			for l := 0; l < 4; l++ {
				c := YMM()
				if l == 0 {
					VPAND(three, zx, c)
				} else {
					VPSRLD(U8(2*l), zx, c)
					VPAND(three, c, c)
				}
				VPERMILPS(c, v, c)
				VMOVUPS(c, Mem{Base: dst, Disp: 4 * (4*j + m + 32*l)})
			}
		}
	}
	ADDQ(U8(66), src)
	ADDQ(U32(1024), dst)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// tq1Trits stores the n trits of the bytes whose zero-extended values are
// in q (8 or 4 lanes) to dst + off(k) for k = 0..n-1 via the value table
// v: trit k is ((q_k·3)>>8) with q_0 = q and q_k+1 = (q_k·3) mod 256,
// ggml's (uint8(q·3ᵏ)·3)>>8.
func tq1Trits(q, v, lowByte VecVirtual, n int, store func(k int, c VecVirtual)) {
	for k := 0; k < n; k++ {
		p, c := YMM(), YMM()
		VPADDD(q, q, p)
		VPADDD(q, p, p) // 3q
		VPSRLD(U8(8), p, c)
		VPERMILPS(c, v, c)
		store(k, c)
		if k+1 < n {
			VPAND(lowByte, p, q)
		}
	}
}

func dequantTQ1_0() {
	TEXT("dequantTQ1_0AVX2", NOSPLIT, "func(dst *float32, src *byte, nb int, tab *float32)")
	Pragma("noescape")
	Doc("dequantTQ1_0AVX2 expands nb TQ1_0 blocks from src into dst: the trits",
		"of qs[0:32] (five each), qs[32:48] (five) and qh (four) in ggml's order,",
		"float32(t)·d each.")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	nb := Load(Param("nb"), GP64())
	tab := Load(Param("tab"), GP64())
	lowByte := bcast32(0xff)
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	v := ternaryTable(tq2Factors, tab, src, 52)
	for m := 0; m < 32; m += 8 {
		q := YMM()
		VPMOVZXBD(Mem{Base: src, Disp: m}, q)
		tq1Trits(q, v, lowByte, 5, func(k int, c VecVirtual) {
			VMOVUPS(c, Mem{Base: dst, Disp: 4 * (32*k + m)})
		})
	}
	for m := 0; m < 16; m += 8 {
		q := YMM()
		VPMOVZXBD(Mem{Base: src, Disp: 32 + m}, q)
		tq1Trits(q, v, lowByte, 5, func(k int, c VecVirtual) {
			VMOVUPS(c, Mem{Base: dst, Disp: 4 * (160 + 16*k + m)})
		})
	}
	// qh: four bytes, four trits each; the upper lanes are don't-cares.
	q := YMM()
	VPMOVZXBD(Mem{Base: src, Disp: 48}, q.AsX())
	tq1Trits(q, v, lowByte, 4, func(k int, c VecVirtual) {
		VMOVUPS(c.AsX(), Mem{Base: dst, Disp: 4 * (240 + 4*k)})
	})
	ADDQ(U8(54), src)
	ADDQ(U32(1024), dst)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

var tq2Factors Mem
