package main

// The K-quant dequantizers (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K). Each computes
// the sub-block factors exactly as the scalar code does (d·float32(sc),
// dmin·float32(m): one rounding each), stores them in a local table and
// then expands the codes with the scalar code's per-element operations in
// the same order: a product, then a separate subtraction (no FMA).

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// loadHalf broadcasts tab[fp16 bits at src+off] (the fp16Table).
func loadHalf(tab, src Register, off int) VecVirtual {
	h := GP64()
	MOVWQZX(Mem{Base: src, Disp: off}, h)
	d := YMM()
	VBROADCASTSS(Mem{Base: tab, Index: h, Scale: 4}, d)
	return d
}

// kBegin emits the common prologue: it loads dst, src, nb and tab and
// jumps to done when nb is 0.
func kBegin(name, doc string) (dst, src, nb, tab Register) {
	TEXT(name, NOSPLIT, "func(dst *float32, src *byte, nb int, tab *float32)")
	Pragma("noescape")
	Doc(doc)
	dst = Load(Param("dst"), GP64())
	src = Load(Param("src"), GP64())
	nb = Load(Param("nb"), GP64())
	tab = Load(Param("tab"), GP64())
	return
}

func kEnd(dst, src, nb Register, blockBytes int) {
	ADDQ(U32(blockBytes), src)
	ADDQ(U32(1024), dst)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// bytesTimes stores float32(bytes of q (8, zero-extended)) · d into loc.
func bytesTimes(q Register, d VecVirtual, loc Mem) {
	x, y := XMM(), YMM()
	MOVQ(q, x)
	VPMOVZXBD(x, y)
	VCVTDQ2PS(y, y)
	VMULPS(d, y, y)
	VMOVUPS(y, loc)
}

// k4Scales decodes the 12 bytes of packed 6-bit scales and mins at
// src+off (get_scale_min_k4) into the bytes of sc and m, as ggml's
// utmp/kmask sequence does.
func k4Scales(src Register, off int) (sc, m Register) {
	u0, u1, u2, t, t1, t3 := GP32(), GP32(), GP32(), GP32(), GP32(), GP32()
	MOVL(Mem{Base: src, Disp: off}, u0)
	MOVL(Mem{Base: src, Disp: off + 4}, u1)
	MOVL(Mem{Base: src, Disp: off + 8}, u2)
	// utmp3 = ((u2 >> 4) & kmask2) | (((u1 >> 6) & kmask3) << 4)
	MOVL(u2, t3)
	SHRL(U8(4), t3)
	ANDL(U32(0x0f0f0f0f), t3)
	MOVL(u1, t)
	SHRL(U8(6), t)
	ANDL(U32(0x03030303), t)
	SHLL(U8(4), t)
	ORL(t, t3)
	// utmp1 = (u2 & kmask2) | (((u0 >> 6) & kmask3) << 4)
	MOVL(u2, t1)
	ANDL(U32(0x0f0f0f0f), t1)
	MOVL(u0, t)
	SHRL(U8(6), t)
	ANDL(U32(0x03030303), t)
	SHLL(U8(4), t)
	ORL(t, t1)
	ANDL(U32(0x3f3f3f3f), u0) // utmp0
	ANDL(U32(0x3f3f3f3f), u1) // utmp2
	sc, m = t1.As64(), t3.As64()
	SHLQ(U8(32), sc)
	ORQ(u0.As64(), sc)
	SHLQ(U8(32), m)
	ORQ(u1.As64(), m)
	return sc, m
}

// k45Dequant emits Q4_K (qh < 0) or Q5_K (qh = offset of the high bits).
func k45Dequant(name string, blockBytes, qh int) {
	dst, src, nb, tab := kBegin(name, name+" expands nb blocks from src into dst as the scalar dequantizer does.")
	loc := AllocLocal(64) // d·sc[8], dmin·m[8]
	low := bcast32(0x0f)
	var sixteen VecVirtual
	if qh >= 0 {
		sixteen = bcast32(0x10)
	}
	qs := 16
	if qh >= 0 {
		qs = 48
	}
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	{
		d := loadHalf(tab, src, 0)
		dmin := loadHalf(tab, src, 2)
		sc, m := k4Scales(src, 4)
		bytesTimes(sc, d, loc)
		bytesTimes(m, dmin, loc.Offset(32))
	}
	for p := 0; p < 4; p++ {
		var f [4]VecVirtual // d1, m1, d2, m2
		for k := range f {
			f[k] = YMM()
			VBROADCASTSS(loc.Offset(32*(k%2)+4*(2*p+k/2)), f[k])
		}
		for l0 := 0; l0 < 32; l0 += 8 {
			z, lo, hi := YMM(), YMM(), YMM()
			VPMOVZXBD(Mem{Base: src, Disp: qs + 32*p + l0}, z)
			VPAND(low, z, lo)
			VPSRLD(U8(4), z, hi)
			if qh >= 0 {
				// Fifth bits: qh[l] bit 2p (low nibble), 2p+1 (high).
				h := YMM()
				VPMOVZXBD(Mem{Base: src, Disp: qh + l0}, h)
				for k, v := range []VecVirtual{lo, hi} {
					t := YMM()
					if s := 4 - (2*p + k); s > 0 {
						VPSLLD(U8(s), h, t)
					} else if s < 0 {
						VPSRLD(U8(-s), h, t)
					} else {
						VMOVDQA(h, t)
					}
					VPAND(sixteen, t, t)
					VPOR(t, v, v)
				}
			}
			for k, v := range []VecVirtual{lo, hi} {
				VCVTDQ2PS(v, v)
				VMULPS(f[2*k], v, v)
				VSUBPS(f[2*k+1], v, v)
				VMOVUPS(v, Mem{Base: dst, Disp: 4 * (64*p + 32*k + l0)})
			}
		}
	}
	kEnd(dst, src, nb, blockBytes)
}

func dequantQ6K() {
	dst, src, nb, tab := kBegin("dequantQ6KAVX2", "dequantQ6KAVX2 expands nb Q6_K blocks from src into dst as the scalar dequantizer does.")
	loc := AllocLocal(64) // d·sc[16]
	low := bcast32(0x0f)
	m30 := bcast32(0x30)
	c32 := bcast32(32)
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	{
		d := loadHalf(tab, src, 208)
		for k := 0; k < 2; k++ {
			y := YMM()
			VPMOVSXBD(Mem{Base: src, Disp: 192 + 8*k}, y)
			VCVTDQ2PS(y, y)
			VMULPS(d, y, y)
			VMOVUPS(y, loc.Offset(32*k))
		}
	}
	for h := 0; h < 2; h++ {
		for l0 := 0; l0 < 32; l0 += 8 {
			a, b, hq := YMM(), YMM(), YMM()
			VPMOVZXBD(Mem{Base: src, Disp: 64*h + l0}, a)
			VPMOVZXBD(Mem{Base: src, Disp: 64*h + 32 + l0}, b)
			VPMOVZXBD(Mem{Base: src, Disp: 128 + 32*h + l0}, hq)
			var q [4]VecVirtual
			for k := range q {
				q[k] = YMM()
				t := YMM()
				switch k {
				case 0: // ql[l]&0xF | (qh&3)<<4
					VPAND(low, a, q[k])
					VPSLLD(U8(4), hq, t)
				case 1: // ql[l+32]&0xF | (qh>>2&3)<<4
					VPAND(low, b, q[k])
					VPSLLD(U8(2), hq, t)
				case 2: // ql[l]>>4 | (qh>>4&3)<<4
					VPSRLD(U8(4), a, q[k])
					VMOVDQA(hq, t)
				case 3: // ql[l+32]>>4 | (qh>>6&3)<<4
					VPSRLD(U8(4), b, q[k])
					VPSRLD(U8(2), hq, t)
				}
				VPAND(m30, t, t)
				VPOR(t, q[k], q[k])
				VPSUBD(c32, q[k], q[k])
				VCVTDQ2PS(q[k], q[k])
				e := 128*h + 32*k + l0
				f := YMM()
				VBROADCASTSS(loc.Offset(4*(e/16)), f)
				VMULPS(f, q[k], q[k])
				VMOVUPS(q[k], Mem{Base: dst, Disp: 4 * e})
			}
		}
	}
	kEnd(dst, src, nb, 210)
}

func dequantQ2K() {
	dst, src, nb, tab := kBegin("dequantQ2KAVX2", "dequantQ2KAVX2 expands nb Q2_K blocks from src into dst as the scalar dequantizer does.")
	loc := AllocLocal(128) // d·(s&15)[16], dmin·(s>>4)[16]
	low := bcast32(0x0f)
	three := bcast32(3)
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	{
		d := loadHalf(tab, src, 80)
		dmin := loadHalf(tab, src, 82)
		for k := 0; k < 2; k++ {
			y, m := YMM(), YMM()
			VPMOVZXBD(Mem{Base: src, Disp: 8 * k}, y)
			VPSRLD(U8(4), y, m)
			VPAND(low, y, y)
			VCVTDQ2PS(y, y)
			VCVTDQ2PS(m, m)
			VMULPS(d, y, y)
			VMULPS(dmin, m, m)
			VMOVUPS(y, loc.Offset(32*k))
			VMOVUPS(m, loc.Offset(64+32*k))
		}
	}
	for h := 0; h < 2; h++ {
		for l0 := 0; l0 < 32; l0 += 8 {
			z := YMM()
			VPMOVZXBD(Mem{Base: src, Disp: 16 + 32*h + l0}, z)
			for k := 0; k < 4; k++ {
				v := YMM()
				if k == 0 {
					VPAND(three, z, v)
				} else {
					VPSRLD(U8(2*k), z, v)
					VPAND(three, v, v)
				}
				e := 128*h + 32*k + l0
				VCVTDQ2PS(v, v)
				f, g := YMM(), YMM()
				VBROADCASTSS(loc.Offset(4*(e/16)), f)
				VBROADCASTSS(loc.Offset(64+4*(e/16)), g)
				VMULPS(f, v, v)
				VSUBPS(g, v, v)
				VMOVUPS(v, Mem{Base: dst, Disp: 4 * e})
			}
		}
	}
	kEnd(dst, src, nb, 84)
}

func dequantQ3K() {
	dst, src, nb, tab := kBegin("dequantQ3KAVX2", "dequantQ3KAVX2 expands nb Q3_K blocks from src into dst as the scalar dequantizer does.")
	loc := AllocLocal(64) // d·(scale-32)[16]
	three := bcast32(3)
	four := bcast32(4)
	c32 := bcast32(32)
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	{
		d := loadHalf(tab, src, 108)
		// ggml's aux/kmask decoding of the 16 6-bit scales.
		a0, a1, tmp, t := GP32(), GP32(), GP32(), GP32()
		MOVL(Mem{Base: src, Disp: 96}, a0)
		MOVL(Mem{Base: src, Disp: 100}, a1)
		MOVL(Mem{Base: src, Disp: 104}, tmp)
		var s [4]GPVirtual
		for k := range s {
			s[k] = GP32()
			a := a0
			if k%2 == 1 {
				a = a1
			}
			MOVL(a, s[k])
			if k >= 2 {
				SHRL(U8(4), s[k])
			}
			ANDL(U32(0x0f0f0f0f), s[k])
			MOVL(tmp, t)
			if k > 0 {
				SHRL(U8([]int{0, 2, 4, 6}[k]), t)
			}
			ANDL(U32(0x03030303), t)
			SHLL(U8(4), t)
			ORL(t, s[k])
		}
		for k := 0; k < 2; k++ {
			q := s[2*k+1].As64()
			SHLQ(U8(32), q)
			ORQ(s[2*k].As64(), q)
			x, y := XMM(), YMM()
			MOVQ(q, x)
			VPMOVZXBD(x, y)
			VPSUBD(c32, y, y)
			VCVTDQ2PS(y, y)
			VMULPS(d, y, y)
			VMOVUPS(y, loc.Offset(32*k))
		}
	}
	for h := 0; h < 2; h++ {
		for l0 := 0; l0 < 32; l0 += 8 {
			z, hz := YMM(), YMM()
			VPMOVZXBD(Mem{Base: src, Disp: 32 + 32*h + l0}, z)
			VPMOVZXBD(Mem{Base: src, Disp: l0}, hz)
			for k := 0; k < 4; k++ {
				v, t := YMM(), YMM()
				if k == 0 {
					VPAND(three, z, v)
				} else {
					VPSRLD(U8(2*k), z, v)
					VPAND(three, v, v)
				}
				// hmask bit 4h+k of byte l → bit 2: v + 4·bit - 4.
				if s := 4*h + k - 2; s < 0 {
					VPSLLD(U8(-s), hz, t)
				} else if s > 0 {
					VPSRLD(U8(s), hz, t)
				} else {
					VMOVDQA(hz, t)
				}
				VPAND(four, t, t)
				VPOR(t, v, v)
				VPSUBD(four, v, v)
				e := 128*h + 32*k + l0
				VCVTDQ2PS(v, v)
				f := YMM()
				VBROADCASTSS(loc.Offset(4*(e/16)), f)
				VMULPS(f, v, v)
				VMOVUPS(v, Mem{Base: dst, Disp: 4 * e})
			}
		}
	}
	kEnd(dst, src, nb, 110)
}
