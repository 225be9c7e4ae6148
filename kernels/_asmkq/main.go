// Command _asmkq generates qconv's amd64 kernels for the K-quant family
// (Q2_K..Q6_K, IQ4_XS, TQ1_0, TQ2_0) against Q8_K activations, with avo.
//
// Run from this folder (or use scripts/gen-asm.sh / go generate ./kernels):
//
//	go run . -out ../zkq_amd64.s -stubs ../zkq_amd64.go -pkg kernels
//
// Every kernel computes, for one weight row of nb 256-element super-blocks
// and nr = 1..4 rows of Q8_K activations (p holds the rows' value, scale
// and bsum pointers),
//
//	out[r] = Σ_i ad[r][i] · (d_i · Σ_j sc_ij · (u·a)_ij − f_i · Σ_j o_ij · bsum[r][i][j])
//
// where each weight is written as an unsigned byte u plus a per-16-group
// offset: u = q for Q4_K/Q5_K/Q2_K (o = min, f = dmin), u = q + 32 for
// Q6_K, q + 4 for Q3_K (o = offset·scale, f = d, folded into the integer
// sum). The ternary types (u = q + 1, no scales: TQ2_0's 2-bit codes,
// TQ1_0's base-3 digits) subtract Σa per lane with a second VPDPBUSD /
// VPMADDUBSW so every lane is exact. IQ4_XS's code book values are signed
// (−127..113): u = |q| and the sign moves to the activations (VPSIGNB on
// AVX2, a masked negation on AVX-512). The 8-bit products use VPMADDUBSW
// (u8 × s8 → adjacent pairs as int16; u <= 127 and |a| <= 127 cannot
// saturate) and then VPMADDWD (AVX2) or VPDPWSSD (AVX-512 VNNI) against
// the group scales duplicated into both words of each dword, so the
// scales are applied on the int32 lanes. Each block's weights are decoded
// once for all nr rows; the per-block float scaling is done lane-wise and
// the lanes are summed once per call.
//
// The AVX-512 whole-task kernels (taskKernel: Q2_K..Q6_K, IQ4_XS, TQ1_0,
// TQ2_0) take 4 weight rows against one activation row instead.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

type offMode int

const (
	offNone offMode = iota // no offset term
	offFold                // offset o_j·bsum_j with factor d: folded into the int32 sum (off holds −o)
	offDmin                // offset with factor dmin: a separate float term
)

type tier struct {
	name string
	z    bool // AVX-512: zmm, 64-value chunks, VNNI
}

func (t tier) vec() VecVirtual {
	if t.z {
		return ZMM()
	}
	return YMM()
}

// width is the number of values (bytes) in one chunk.
func (t tier) width() int {
	if t.z {
		return 64
	}
	return 32
}

func (t tier) chunks() int { return 256 / t.width() }

// ktype describes one weight type.
type ktype struct {
	name    string
	bytes   int
	dOff    int // fp16 d; dmin follows at dOff+2 in offDmin mode
	unitLog int // log2 of values per scale unit (4 or 5); 0: all scales are 1
	mode    offMode
	signed  bool // chunk yields signed bytes (IQ4_XS)
	// prologue decodes the block's scales: k.units (one 16-bit scale per
	// unit: an xmm of 8 words or a ymm of 16) and k.off (a ymm of 16
	// words, one per 16 values; negated in offFold mode).
	prologue func(k *kgen)
	// chunk returns chunk c's weights as bytes (unsigned unless signed).
	chunk func(k *kgen, c int) VecVirtual
}

// kgen is the state of one kernel being generated.
type kgen struct {
	t     tier
	kt    *ktype
	w     Register
	blk   map[string]VecVirtual // values shared by the chunks of one block
	units VecVirtual
	off   VecVirtual
	hiK   OpmaskVirtual // words 16..31 (the upper 256 bits); zmm only
	// Signed types (IQ4_XS): tab is the code book register (AVX2: the
	// signed values; AVX-512: their magnitudes), sgnV[c] / sgnK[c] chunk
	// c's signed weights (AVX2, for VPSIGNB) or its negative-weight mask
	// (AVX-512), zero a zero zmm.
	tab  VecVirtual
	sgnV map[int]VecVirtual
	sgnK map[int]OpmaskVirtual
	zero VecVirtual
	// hoist holds constants preloaded into registers (task kernels), by
	// symbol name; zc reads them in place of the memory operand.
	hoist map[string]VecVirtual
}

// zc returns the register holding constant m if it is hoisted, else m.
func (k *kgen) zc(m Mem) Op {
	if v, ok := k.hoist[m.Symbol.Name]; ok {
		return v
	}
	return m
}

func (k *kgen) wm(off int) Mem { return Mem{Base: k.w, Disp: off} }

// cached returns the block-level value named key, computing it once.
func (k *kgen) cached(key string, f func() VecVirtual) VecVirtual {
	if v, ok := k.blk[key]; ok {
		return v
	}
	v := f()
	k.blk[key] = v
	return v
}

// Constant vectors live in read-only data, 64 bytes each.
var consts = map[string]Mem{}

func constVec(name string, b [64]byte) Mem {
	if m, ok := consts[name]; ok {
		return m
	}
	m := GLOBL("kq"+name, RODATA|NOPTR)
	for i, v := range b {
		DATA(i, U8(v))
	}
	consts[name] = m
	return m
}

func hex(b []byte) string { return fmt.Sprintf("%x", b) }

func bytesConst(v byte) Mem {
	var b [64]byte
	for i := range b {
		b[i] = v
	}
	return constVec(fmt.Sprintf("b%02x", v), b)
}

func dwordsConst(name string, v []uint32) Mem {
	var b [64]byte
	for i, x := range v {
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
	}
	return constVec(name, b)
}

// wordShifts is a VPSRLVW count vector: lo for the lower 256 bits, hi for
// the upper.
func wordShifts(lo, hi int) Mem {
	v := make([]uint32, 16)
	for i := range v {
		s := lo
		if i >= 8 {
			s = hi
		}
		v[i] = uint32(s) | uint32(s)<<16
	}
	return dwordsConst(fmt.Sprintf("sh%d%d", lo, hi), v)
}

// and returns m & x for a byte constant m.
func (k *kgen) and(v byte, x VecVirtual) VecVirtual {
	d := k.t.vec()
	if k.t.z {
		VPANDD(k.zc(bytesConst(v)), x, d)
	} else {
		VPAND(bytesConst(v), x, d)
	}
	return d
}

// orMasked returns q | (h & m) for a byte constant m.
func (k *kgen) orMasked(q, h VecVirtual, m byte) VecVirtual {
	if k.t.z {
		VPTERNLOGD(U8(0xF8), k.zc(bytesConst(m)), h, q) // A | (B & C)
		return q
	}
	t := k.and(m, h)
	VPOR(t, q, q)
	return q
}

// shiftW shifts the words of x left (s > 0) or right (s < 0).
func (k *kgen) shiftW(x VecVirtual, s int) VecVirtual {
	if s == 0 {
		return x
	}
	d := k.t.vec()
	if s > 0 {
		VPSLLW(U8(s), x, d)
	} else {
		VPSRLW(U8(-s), x, d)
	}
	return d
}

// bcast32 loads 32 bytes at m into both halves (zmm) or the ymm.
func (k *kgen) bcast32(m Mem) VecVirtual {
	d := k.t.vec()
	if k.t.z {
		VBROADCASTI64X4(m, d)
	} else {
		VMOVDQU(m, d)
	}
	return d
}

// srlvw shifts the lower half's words by lo and the upper half's by hi (zmm only).
func (k *kgen) srlvw(x VecVirtual, lo, hi int) VecVirtual {
	if lo == 0 && hi == 0 {
		return x
	}
	d := ZMM()
	VPSRLVW(k.zc(wordShifts(lo, hi)), x, d)
	return d
}

// curZ is set while generating an AVX-512 kernel: VEX-only instructions
// cannot address X16-X31, so the helpers below pick EVEX forms.
var curZ bool

func vpand(a, b, d Op) {
	if curZ {
		VPANDD(a, b, d)
	} else {
		VPAND(a, b, d)
	}
}

func vpor(a, b, d Op) {
	if curZ {
		VPORD(a, b, d)
	} else {
		VPOR(a, b, d)
	}
}

func vpxor(a, b, d Op) {
	if curZ {
		VPXORD(a, b, d)
	} else {
		VPXOR(a, b, d)
	}
}

func vmovdqu(a, d Op) {
	if curZ {
		VMOVDQU32(a, d)
	} else {
		VMOVDQU(a, d)
	}
}

func vextracti128(a, d Op) {
	if curZ {
		VEXTRACTI32X4(U8(1), a, d)
	} else {
		VEXTRACTI128(U8(1), a, d)
	}
}

// --- scale decoders ---

// k4Scales decodes the 12-byte scale block of Q4_K/Q5_K at w+4 into 8
// unit scales (xmm words) and the mins per 16 values (ymm words).
func k4Scales(k *kgen) {
	x := XMM()
	vmovdqu(k.wm(4), x) // dwords a0 a1 a2 (and 4 bytes of qs)
	l, h := XMM(), XMM()
	VPSHUFD(U8(0x98), x, l) // a0 a2 a1 a2
	VPSRLVD(dwordsConst("k4sh", []uint32{0, 0, 0, 4}), l, l)
	vpand(dwordsConst("k4ml", []uint32{0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f}), l, l)
	VPSHUFD(U8(0x50), x, h) // a0 a0 a1 a1
	VPSRLD(U8(2), h, h)
	vpand(dwordsConst("k4mh", []uint32{0, 0x30303030, 0, 0x30303030}), h, h)
	vpor(h, l, l) // bytes: scales 0..7, mins 0..7
	w := YMM()
	VPMOVZXBW(l, w) // words: scales 0..7, mins 0..7
	k.units = w
	// mins per 16 values: m0 m0 m1 m1 .. m3 m3 | m4 m4 .. m7 m7
	o := YMM()
	VPERMQ(U8(0xEE), w, o)
	var m [64]byte
	for i := range 16 {
		j := byte(2 * (i / 2))
		m[2*i], m[2*i+1] = j, j+1
	}
	VPSHUFB(constVec("k4off", m), o, o)
	k.off = o
}

func q6Scales(k *kgen) {
	x := XMM()
	vmovdqu(k.wm(192), x)
	w := YMM()
	VPMOVSXBW(x, w)
	k.units = w
	t, z := YMM(), YMM()
	VPSLLW(U8(5), w, t)
	vpxor(z, z, z)
	VPSUBW(t, z, z) // −32·sc
	k.off = z
}

func q2Scales(k *kgen) {
	x, m := XMM(), XMM()
	vmovdqu(k.wm(0), x)
	VPSRLW(U8(4), x, m)
	vpand(bytesConst(0x0f), x, x)
	vpand(bytesConst(0x0f), m, m)
	w, o := YMM(), YMM()
	VPMOVZXBW(x, w)
	VPMOVZXBW(m, o)
	k.units, k.off = w, o
}

func q3Scales(k *kgen) {
	x := XMM()
	VMOVQ(k.wm(96), x)
	VPINSRD(U8(2), k.wm(104), x, x) // a0 a1 a2 0
	a, b := XMM(), XMM()
	VPSHUFD(U8(0x44), x, a) // a0 a1 a0 a1
	VPSRLVD(dwordsConst("q3sa", []uint32{0, 0, 4, 4}), a, a)
	vpand(bytesConst(0x0f), a, a)
	VPSHUFD(U8(0xAA), x, b) // a2 x4
	VPSRLVD(dwordsConst("q3sb", []uint32{0, 2, 4, 6}), b, b)
	vpand(bytesConst(0x03), b, b)
	VPSLLD(U8(4), b, b)
	vpor(b, a, a)
	VPSUBB(bytesConst(32), a, a)
	w := YMM()
	VPMOVSXBW(a, w)
	k.units = w
	t, z := YMM(), YMM()
	VPSLLW(U8(2), w, t)
	vpxor(z, z, z)
	VPSUBW(t, z, z) // −4·sc
	k.off = z
}

// dupWords8 turns 8 words into 8 dwords holding each word twice.
func dupWords8(x Op) VecVirtual {
	t, s := YMM(), YMM()
	VPMOVZXWD(x, t)
	VPSLLD(U8(16), t, s)
	vpor(s, t, t)
	return t
}

// --- chunk decoders ---

// q4Chunk: the 4-bit quants at qs (Q4_K: chunk of 64 = 32 bytes, low
// nibbles first).
func q4Chunk(k *kgen, qs, c int) VecVirtual {
	if k.t.z {
		b := k.bcast32(k.wm(qs + 32*c))
		VPSRLW(U8(4), b, k.hiK, b) // upper half only (merge masking)
		return k.and(0x0f, b)
	}
	g := c / 2
	b := k.cached(fmt.Sprint("q4", g), func() VecVirtual { return k.bcast32(k.wm(qs + 32*g)) })
	if c%2 == 1 {
		return k.and(0x0f, k.shiftW(b, -4))
	}
	return k.and(0x0f, b)
}

// crumbChunk: the 2-bit quants at qs (Q2_K/Q3_K/TQ2_0 layout).
func crumbChunk(k *kgen, qs, c int) VecVirtual {
	if k.t.z {
		h, t := c/2, c%2
		b := k.cached(fmt.Sprint("cr", h), func() VecVirtual { return k.bcast32(k.wm(qs + 32*h)) })
		return k.and(0x03, k.srlvw(b, 4*t, 4*t+2))
	}
	h, s := c/4, c%4
	b := k.cached(fmt.Sprint("cr", h), func() VecVirtual { return k.bcast32(k.wm(qs + 32*h)) })
	return k.and(0x03, k.shiftW(b, -2*s))
}

// highBit merges bit (c for AVX2, 2c/2c+1 for the zmm halves) of the
// 32 bytes at off into bit pos of q.
func highBit(k *kgen, q VecVirtual, off, c, pos int) VecVirtual {
	var h VecVirtual
	var bit int
	if k.t.z {
		h = k.cached("hb", func() VecVirtual { return k.srlvw(k.bcast32(k.wm(off)), 0, 1) })
		bit = 2 * c
	} else {
		h = k.cached("hb", func() VecVirtual { return k.bcast32(k.wm(off)) })
		bit = c
	}
	return k.orMasked(q, k.shiftW(h, pos-bit), 1<<pos)
}

func q6Chunk(k *kgen, c int) VecVirtual {
	if k.t.z {
		h, t := c/2, c%2
		ql := k.cached(fmt.Sprint("ql", h), func() VecVirtual {
			v := ZMM()
			VMOVDQU64(k.wm(64*h), v)
			return v
		})
		qh := k.cached(fmt.Sprint("qh", h), func() VecVirtual { return k.srlvw(k.bcast32(k.wm(128+32*h)), 0, 2) })
		var q, hh VecVirtual
		if t == 0 {
			q, hh = k.and(0x0f, ql), k.shiftW(qh, 4)
		} else {
			q, hh = k.and(0x0f, k.shiftW(ql, -4)), qh
		}
		return k.orMasked(q, hh, 0x30)
	}
	h, s := c/4, c%4
	ql := k.cached(fmt.Sprint("ql", h, s%2), func() VecVirtual { return k.bcast32(k.wm(64*h + 32*(s%2))) })
	qh := k.cached(fmt.Sprint("qh", h), func() VecVirtual { return k.bcast32(k.wm(128 + 32*h)) })
	var q VecVirtual
	if s < 2 {
		q = k.and(0x0f, ql)
	} else {
		q = k.and(0x0f, k.shiftW(ql, -4))
	}
	return k.orMasked(q, k.shiftW(qh, 4-2*s), 0x30)
}

var types = []ktype{
	{name: "q4_K", bytes: 144, dOff: 0, unitLog: 5, mode: offDmin, prologue: k4Scales,
		chunk: func(k *kgen, c int) VecVirtual { return q4Chunk(k, 16, c) }},
	{name: "q5_K", bytes: 176, dOff: 0, unitLog: 5, mode: offDmin, prologue: k4Scales,
		chunk: func(k *kgen, c int) VecVirtual { return highBit(k, q4Chunk(k, 48, c), 16, c, 4) }},
	{name: "q6_K", bytes: 210, dOff: 208, unitLog: 4, mode: offFold, prologue: q6Scales, chunk: q6Chunk},
	{name: "q2_K", bytes: 84, dOff: 80, unitLog: 4, mode: offDmin, prologue: q2Scales,
		chunk: func(k *kgen, c int) VecVirtual { return crumbChunk(k, 16, c) }},
	{name: "q3_K", bytes: 110, dOff: 108, unitLog: 4, mode: offFold, prologue: q3Scales,
		chunk: func(k *kgen, c int) VecVirtual { return highBit(k, crumbChunk(k, 32, c), 0, c, 2) }},
	{name: "tq2_0", bytes: 66, dOff: 64, unitLog: 0, mode: offNone, prologue: func(*kgen) {}, chunk: func(k *kgen, c int) VecVirtual { return crumbChunk(k, 0, c) }},
}

// types2 are the types added after the first set; they are generated
// after it so that the earlier kernels' output stays as it was.
var types2 = []ktype{
	{name: "iq4_xs", bytes: 136, dOff: 0, unitLog: 5, mode: offNone, signed: true, prologue: iq4xsScales, chunk: iq4Chunk},
	{name: "tq1_0", bytes: 54, dOff: 52, unitLog: 0, mode: offNone, prologue: func(*kgen) {}, chunk: tq1Chunk},
}

func main() {
	ConstraintExpr("!purego")
	rows := func(l []ktype) {
		for i := range l {
			for _, t := range []tier{{"avx2", false}, {"vnni", true}} {
				for nr := 1; nr <= 4; nr++ {
					kernel(&l[i], t, nr)
				}
			}
		}
	}
	rows(types)
	for i := range types {
		switch types[i].name {
		case "q4_K", "q5_K", "q6_K", "q3_K", "q2_K":
			taskKernel(&types[i], 4)
		}
	}
	rows(types2)
	for i := range types2 {
		taskKernel(&types2[i], 4)
	}
	for i := range types {
		if types[i].name == "tq2_0" {
			taskKernel(&types[i], 4)
		}
	}
	Generate()
}

// dmLocal is the AVX-512 kernels' stack slot for the block's d and dmin.
var dmLocal Mem

// p struct offsets (kqRows in kq_amd64.go).
const (
	offAQ = 0
	offAD = 32
	offBS = 64
)

func kernel(kt *ktype, t tier, nr int) {
	curZ = t.z
	name := fmt.Sprintf("%s%sR%d", kt.name, t.name, nr)
	TEXT(name, NOSPLIT, "func(w *byte, nb int, p *[12]*byte, out *[4]float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s: one %s weight row of nb super-blocks against %d Q8_K activation rows (%s).", name, kt.name, nr, t.name),
		"p holds each row's values, block scales and bsums.")

	k := &kgen{t: t, kt: kt}
	if t.z {
		k.hiK = K()
		g := GP32()
		m := uint32(0xFFFF0000)
		if kt.signed {
			m = 0xFF00FF00 // iq4Chunk: the high-nibble 128-bit lanes 1 and 3
		}
		MOVL(U32(m), g)
		KMOVD(g, k.hiK)
	}
	k.w = Load(Param("w"), GP64())
	nb := Load(Param("nb"), GP64())
	p := Load(Param("p"), GP64())
	aq := make([]Register, nr)
	for r := range aq {
		aq[r] = GP64()
		MOVQ(Mem{Base: p, Disp: offAQ + 8*r}, aq[r])
	}
	i4, i256 := GP64(), GP64()
	XORQ(i4, i4)
	XORQ(i256, i256)
	aMem := func(r, c int) Mem { return Mem{Base: aq[r], Index: i256, Scale: 1, Disp: t.width() * c} }
	rowPtr := func(r, off int) Register {
		g := GP64()
		MOVQ(Mem{Base: p, Disp: off + 8*r}, g)
		return g
	}
	dMem := func(r int) Mem { return Mem{Base: rowPtr(r, offAD), Index: i4, Scale: 1} }
	bsMem := func(r int) Mem { return Mem{Base: rowPtr(r, offBS), Index: i4, Scale: 8} }

	// Per-call constants.
	var idx []VecVirtual // zmm: VPERMD index per chunk
	if t.z && kt.unitLog != 0 && !kt.signed {
		for c := range t.chunks() {
			v := make([]uint32, 16)
			for i := range v {
				v[i] = uint32((t.width()*c + 4*i) >> kt.unitLog)
			}
			x := ZMM()
			VMOVDQU32(dwordsConst(fmt.Sprintf("ix%d_%d", kt.unitLog, c), v), x)
			idx = append(idx, x)
		}
	}
	var ones, oneB VecVirtual
	if kt.signed {
		k.tab = t.vec()
		if t.z {
			VMOVDQU64(iq4Table(true, false), k.tab)
			k.zero = ZMM()
			VPXORD(k.zero, k.zero, k.zero)
		} else {
			VMOVDQU(iq4Table(false, false), k.tab)
		}
	}
	if kt.name == "tq1_0" && !t.z {
		// tq1Chunk's byte blend mask, kept in a register for VPBLENDVB
		k.hoist = map[string]VecVirtual{}
		m := wordsConst(0xff00)
		v := YMM()
		VMOVDQU(m, v)
		k.hoist[m.Symbol.Name] = v
	}
	if kt.unitLog == 0 {
		oneB = t.vec()
		vmovdqu(bytesConst(1), oneB)
		if !t.z {
			ones = YMM()
			VPCMPEQW(ones, ones, ones)
			VPSRLW(U8(15), ones, ones)
		}
	}
	accF := make([]VecVirtual, nr)
	for r := range accF {
		accF[r] = t.vec()
		if t.z {
			VPXORD(accF[r], accF[r], accF[r])
		} else {
			VXORPS(accF[r], accF[r], accF[r])
		}
	}

	// AVX2 keeps the block's float scales and offsets on the stack.
	var dvMem, mvMem, offMem Mem
	if t.z {
		dmLocal = AllocLocal(8)
	} else {
		dvMem = AllocLocal(32)
		mvMem = AllocLocal(32)
		offMem = AllocLocal(32)
	}

	Label("loop")
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	k.blk = map[string]VecVirtual{}
	k.sgnV, k.sgnK = map[int]VecVirtual{}, map[int]OpmaskVirtual{}

	// d (and dmin) as floats: broadcast vectors (AVX2) or a stack slot
	// read with embedded broadcasts (AVX-512).
	var dv, mv VecVirtual
	if t.z {
		x := XMM()
		if kt.mode == offDmin {
			VMOVD(k.wm(kt.dOff), x)
		} else {
			g := GP32()
			MOVWLZX(k.wm(kt.dOff), g)
			VMOVD(g, x)
		}
		VCVTPH2PS(x, x)
		VMOVQ(x, dmLocal)
	} else {
		h := YMM()
		dv = t.vec()
		VPBROADCASTW(k.wm(kt.dOff), h)
		VCVTPH2PS(h.AsX(), dv)
		if kt.mode == offDmin {
			mv = t.vec()
			VPBROADCASTW(k.wm(kt.dOff+2), h)
			VCVTPH2PS(h.AsX(), mv)
		}
	}
	k.units, k.off = nil, nil
	kt.prologue(k)

	// Unit scale words broadcast to every 128-bit lane: tables[0] holds
	// units 0..7, tables[1] units 8..15; each chunk's scale vector is one
	// in-lane VPSHUFB of them.
	var tables []VecVirtual
	if kt.unitLog != 0 {
		nt := 1
		if 256>>kt.unitLog > 8 {
			nt = 2
		}
		for i := range nt {
			v := t.vec()
			if t.z {
				VSHUFI32X4(U8(0x55*i), k.units.AsZ(), k.units.AsZ(), v)
			} else {
				VPERMQ(U8(0x44+0xAA*i), k.units.AsY(), v)
			}
			tables = append(tables, v)
		}
	}

	acc := make([]VecVirtual, nr)
	acc2 := make([]VecVirtual, nr)
	initAcc := func(r int) bool { // reports whether acc[r] holds a value
		acc[r] = t.vec()
		if t.z && kt.unitLog == 0 {
			acc2[r] = ZMM()
			VPXORD(acc2[r], acc2[r], acc2[r])
		}
		if kt.mode == offFold {
			VPMADDWD(bsMem(r), k.off, acc[r].AsY())
			return true
		}
		if t.z {
			VPXORD(acc[r], acc[r], acc[r])
			return true
		}
		return false
	}

	// dot adds chunk c of row r (weights u, scales s) to acc[r]. Ternary
	// types (no scales) subtract Σa per lane (acc2 / the int16 sums), so
	// that every lane holds its exact share of Σ w·a.
	dot := func(r, c int, u, s VecVirtual, has bool) {
		if kt.signed {
			// |q| · (a with q's sign): the sign moves to the activations.
			a := t.vec()
			pp := t.vec()
			if t.z {
				VMOVDQU64(aMem(r, c), a)
				VPSUBB(a, k.zero, k.sgnK[c], a)
				VPMADDUBSW(a, u, pp)
				VPDPWSSD(s, pp, acc[r])
				return
			}
			VMOVDQU(aMem(r, c), a)
			VPSIGNB(k.sgnV[c], a, a)
			VPMADDUBSW(a, u, pp)
			VPMADDWD(s, pp, pp)
			if has {
				VPADDD(pp, acc[r], acc[r])
			} else {
				acc[r] = pp
			}
			return
		}
		if t.z {
			if kt.unitLog == 0 {
				VPDPBUSD(aMem(r, c), u, acc[r])
				VPDPBUSD(aMem(r, c), oneB, acc2[r])
				return
			}
			pp := ZMM()
			VPMADDUBSW(aMem(r, c), u, pp)
			VPDPWSSD(s, pp, acc[r])
			return
		}
		pp := YMM()
		VPMADDUBSW(aMem(r, c), u, pp)
		if kt.unitLog == 0 {
			q := YMM()
			VPMADDUBSW(aMem(r, c), oneB, q)
			VPSUBW(q, pp, pp)
			if has {
				VPADDW(pp, acc[r], acc[r])
			} else {
				acc[r] = pp
			}
			return
		}
		VPMADDWD(s, pp, pp)
		if has {
			VPADDD(pp, acc[r], acc[r])
		} else {
			acc[r] = pp
		}
	}
	// finish turns acc[r] into int32 lanes after the last chunk.
	finish := func(r int) {
		if kt.unitLog != 0 {
			return
		}
		if t.z {
			VPSUBD(acc2[r], acc[r], acc[r])
			return
		}
		VPMADDWD(ones, acc[r], acc[r])
	}
	scaleFor := func(c int) VecVirtual {
		if kt.unitLog == 0 {
			return nil
		}
		var m [64]byte
		first := (t.width() * c) >> kt.unitLog
		for i := range t.width() / 4 {
			u := (t.width()*c + 4*i) >> kt.unitLog
			w := byte(2 * (u % 8))
			m[4*i], m[4*i+1], m[4*i+2], m[4*i+3] = w, w+1, w, w+1
		}
		s := t.vec()
		VPSHUFB(constVec("sc"+hex(m[:t.width()]), m), tables[first/8], s)
		return s
	}

	if t.z {
		us := make([]VecVirtual, t.chunks())
		ss := make([]VecVirtual, t.chunks())
		for c := range us {
			us[c] = kt.chunk(k, c)
			ss[c] = scaleFor(c)
		}
		for r := range nr {
			initAcc(r)
			// With one or two rows, odd chunks go to a second
			// accumulator to halve the VPDPWSSD dependency chain.
			split := nr <= 2 && kt.unitLog != 0
			var odd VecVirtual
			if split {
				odd = ZMM()
				VPXORD(odd, odd, odd)
			}
			for c := range us {
				if split && c%2 == 1 {
					even := acc[r]
					acc[r] = odd
					dot(r, c, us[c], ss[c], true)
					acc[r] = even
					continue
				}
				dot(r, c, us[c], ss[c], true)
			}
			if split {
				VPADDD(odd, acc[r], acc[r])
			}
			finish(r)
			epilogue(k, r, acc[r], accF[r], dv, mv, dMem, bsMem)
		}
	} else {
		// Spill the block values the chunk loop does not need.
		VMOVUPS(dv, dvMem)
		if mv != nil {
			VMOVUPS(mv, mvMem)
		}
		if kt.mode == offDmin {
			VMOVDQU(k.off, offMem)
		}
		has := make([]bool, nr)
		for r := range nr {
			has[r] = initAcc(r)
		}
		for c := range t.chunks() {
			u := kt.chunk(k, c)
			s := scaleFor(c)
			for r := range nr {
				dot(r, c, u, s, has[r])
				has[r] = true
			}
		}
		for r := range nr {
			finish(r)
		}
		dv2 := YMM()
		VMOVUPS(dvMem, dv2)
		var mv2 VecVirtual
		if kt.mode == offDmin {
			mv2 = YMM()
			VMOVUPS(mvMem, mv2)
			k.off = YMM()
			VMOVDQU(offMem, k.off)
		}
		for r := range nr {
			epilogue(k, r, acc[r], accF[r], dv2, mv2, dMem, bsMem)
		}
	}

	ADDQ(U32(kt.bytes), k.w)
	ADDQ(U8(4), i4)
	ADDQ(U32(256), i256)
	DECQ(nb)
	JMP(LabelRef("loop"))

	Label("done")
	out := Load(Param("out"), GP64())
	for r := range nr {
		var lo VecVirtual
		if t.z {
			hi := YMM()
			VEXTRACTF64X4(U8(1), accF[r], hi)
			VADDPS(hi, accF[r].AsY(), hi)
			lo = hi
		} else {
			lo = accF[r]
		}
		x, y := lo.AsX(), XMM()
		if t.z {
			VEXTRACTF32X4(U8(1), lo, y)
		} else {
			VEXTRACTF128(U8(1), lo, y)
		}
		VADDPS(y, x, x)
		VMOVHLPS(x, x, y)
		VADDPS(y, x, x)
		VMOVSHDUP(x, y)
		VADDSS(y, x, x)
		VMOVSS(x, Mem{Base: out, Disp: 4 * r})
	}
	VZEROUPPER()
	RET()
}

// epilogue scales row r's block sum and adds it to its float accumulator:
// accF += ad · (d·acc − dmin·Σ off·bsum).
func epilogue(k *kgen, r int, acc, accF, dv, mv VecVirtual, dMem, bsMem func(int) Mem) {
	t := k.t
	f := t.vec()
	VCVTDQ2PS(acc, f)
	if t.z {
		VMULPS_BCST(dmLocal, f, f)
	} else {
		VMULPS(dv, f, f)
	}
	if k.kt.mode == offDmin {
		m := YMM()
		VPMADDWD(bsMem(r), k.off, m)
		VCVTDQ2PS(m, m)
		if t.z {
			dm := dmLocal
			dm.Disp += 4
			VFNMADD231PS_BCST(dm, m.AsZ(), f)
		} else {
			VFNMADD231PS(m, mv, f)
		}
	}
	if t.z {
		VFMADD231PS_BCST(dMem(r), f, accF)
	} else {
		s := YMM()
		VBROADCASTSS(dMem(r), s)
		VFMADD231PS(s, f, accF)
	}
}

// taskKernel generates the AVX-512 whole-task kernel of kt for one
// activation row: nrows (a multiple of M) weight rows rb bytes apart from
// w, M of them per pass, each of nb >= 1 super-blocks, row i's result
// stored at y[i]. Each pass prefetches the next pass's rows at the same
// place (the hardware prefetchers stop at page boundaries). The block's
// float scales are folded with the activation's: accF += (d·ad)·Σ and,
// for offDmin types, accM += (dmin·ad)·Σ off·bsum, so the block work has
// no loop-carried chain but the two FMAs.
func taskKernel(kt *ktype, M int) {
	t := tier{"vnni", true}
	curZ = true
	name := fmt.Sprintf("%svnniT%d", kt.name, M)
	TEXT(name, NOSPLIT, "func(w *byte, rb int, nrows int, nb int, aq *int8, ad *float32, bs *int16, y *float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s: nrows (a multiple of %d) %s weight rows rb bytes apart against one Q8_K activation row.", name, M, kt.name),
		"Row i's result is stored at y[i].")
	k := &kgen{t: t, kt: kt}
	k.hiK = K()
	g := GP32()
	MOVL(U32(0xFFFF0000), g)
	KMOVD(g, k.hiK)
	w := Load(Param("w"), GP64())
	rb := Load(Param("rb"), GP64())
	cnt := Load(Param("nrows"), GP64())
	y := Load(Param("y"), GP64())
	rbM := GP64()
	IMUL3Q(U8(M), rb, rbM)

	Label("rows")
	CMPQ(cnt, U8(M))
	JL(LabelRef("done"))
	wp := make([]Register, M)
	for m := range wp {
		wp[m] = GP64()
		if m == 0 {
			MOVQ(w, wp[m])
		} else {
			LEAQ(Mem{Base: wp[m-1], Index: rb, Scale: 1}, wp[m])
		}
	}
	aqp := Load(Param("aq"), GP64())
	adp := Load(Param("ad"), GP64())
	bsp := Load(Param("bs"), GP64())
	nbc := Load(Param("nb"), GP64())
	accF := make([]VecVirtual, M)
	accM := make([]VecVirtual, M)
	for m := range M {
		accF[m] = ZMM()
		VPXORD(accF[m], accF[m], accF[m])
		if kt.mode == offDmin {
			accM[m] = YMM()
			VPXORD(accM[m], accM[m], accM[m])
		}
	}

	var ones1 VecVirtual // VPERMPS index: lane 1 everywhere
	if kt.mode == offDmin {
		ones1 = YMM()
		VMOVDQU32(dwordsConst("one8", []uint32{1, 1, 1, 1, 1, 1, 1, 1}), ones1)
	}

	k.hoist = map[string]VecVirtual{}
	for _, m := range taskConsts(kt) {
		v := ZMM()
		VMOVDQU64(m, v)
		k.hoist[m.Symbol.Name] = v
	}

	if kt.signed {
		k.zero = ZMM()
		VPXORD(k.zero, k.zero, k.zero)
	}

	Label("blk")
	adv := XMM()
	VBROADCASTSS(Mem{Base: adp}, adv)
	for m := range M {
		for o := 0; o < kt.bytes; o += 64 {
			PREFETCHT0(Mem{Base: wp[m], Index: rbM, Scale: 1, Disp: o})
		}
	}
	// What the M rows share of the activations. IQ4_XS: per chunk |a|
	// and the mask of a < 0, in the lane order of q4Chunk's nibbles (a's
	// 128-bit lanes 0 2 1 3); each row's code book values are negated
	// where a < 0, so that |a| · q' = a · q. Ternary types (weights
	// u − 1): Σa per int32 lane, the
	// lanes VPDPBUSD sums u·a into, so that every lane holds exactly its
	// share of Σ w·a.
	var absA []VecVirtual
	var negA []OpmaskVirtual
	var sumA VecVirtual
	if kt.signed {
		for c := range t.chunks() {
			a, ab := ZMM(), ZMM()
			VMOVDQU64(Mem{Base: aqp, Disp: 64 * c}, a)
			VSHUFI64X2(U8(0xD8), a, a, a)
			VPABSB(a, ab)
			m := K()
			VPMOVB2M(a, m)
			absA, negA = append(absA, ab), append(negA, m)
		}
	}
	if kt.unitLog == 0 {
		sumA = ZMM()
		VPXORD(sumA, sumA, sumA)
		for c := range t.chunks() {
			VPDPBUSD(Mem{Base: aqp, Disp: 64 * c}, k.hoist[bytesConst(1).Symbol.Name], sumA)
		}
	}
	for m := range M {
		k.w = wp[m]
		k.blk = map[string]VecVirtual{}
		x := XMM()
		if kt.mode == offDmin && kt.dOff+8 <= kt.bytes {
			// d, dmin and two scale bytes' words (lanes 2, 3 unused)
			VCVTPH2PS(k.wm(kt.dOff), x)
		} else if kt.mode == offDmin {
			// d and dmin end the block: load just their 4 bytes.
			VMOVD(k.wm(kt.dOff), x)
			VCVTPH2PS(x, x)
		} else {
			g := GP32()
			MOVWLZX(k.wm(kt.dOff), g)
			VMOVD(g, x)
		}
		if kt.mode != offDmin {
			VCVTPH2PS(x, x)
		}
		VMULPS(adv, x, x)
		D := ZMM()
		VBROADCASTSS(x, D)
		var Mv VecVirtual
		if kt.mode == offDmin {
			Mv = YMM()
			VPERMPS(x.AsY(), ones1, Mv)
		}
		k.units, k.off = nil, nil
		var scaleFor func(c int) VecVirtual
		if kt.unitLog == 0 {
			scaleFor = func(int) VecVirtual { return nil }
		} else if kt.signed {
			kt.prologue(k)
			tab := ZMM()
			VSHUFI32X4(U8(0), k.units.AsZ(), k.units.AsZ(), tab)
			scaleFor = func(c int) VecVirtual {
				s := ZMM()
				VPSHUFB(k.zc(iq4TaskScaleConst(c)), tab, s)
				return s
			}
		} else if kt.name == "q4_K" || kt.name == "q5_K" {
			scaleFor = q4KTaskScales(k)
		} else {
			kt.prologue(k)
			nt := 1
			if 256>>kt.unitLog > 8 {
				nt = 2
			}
			var tables []VecVirtual
			for i := range nt {
				v := ZMM()
				VSHUFI32X4(U8(0x55*i), k.units.AsZ(), k.units.AsZ(), v)
				tables = append(tables, v)
			}
			scaleFor = func(c int) VecVirtual {
				first := (64 * c) >> kt.unitLog
				s := ZMM()
				VPSHUFB(k.zc(taskScaleConst(kt, c)), tables[first/8], s)
				return s
			}
		}
		// Two accumulators (even and odd chunks) halve the chain.
		var acc [2]VecVirtual
		for c := range t.chunks() {
			if kt.unitLog == 0 {
				u := kt.chunk(k, c)
				if acc[c%2] == nil {
					acc[c%2] = ZMM()
					VPXORD(acc[c%2], acc[c%2], acc[c%2])
				}
				VPDPBUSD(Mem{Base: aqp, Disp: 64 * c}, u, acc[c%2])
				continue
			}
			var u VecVirtual
			var am Op = Mem{Base: aqp, Disp: 64 * c}
			if kt.signed {
				// q with a's sign: the values, negated where a < 0.
				nib := q4Chunk(k, 8, c)
				u = ZMM()
				VPSHUFB(nib, k.hoist[iq4Table(false, false).Symbol.Name], u)
				VPSUBB(u, k.zero, negA[c], u)
				am, u = u, absA[c] // signed q', unsigned |a|
			} else {
				u = kt.chunk(k, c)
			}
			s := scaleFor(c)
			pp := ZMM()
			VPMADDUBSW(am, u, pp)
			if acc[c%2] == nil {
				acc[c%2] = ZMM()
				VPMADDWD(s, pp, acc[c%2])
			} else {
				VPDPWSSD(s, pp, acc[c%2])
			}
		}
		VPADDD(acc[1], acc[0], acc[0])
		if sumA != nil {
			VPSUBD(sumA, acc[0], acc[0])
		}
		bsm := Mem{Base: bsp}
		if kt.mode == offFold {
			o := YMM()
			VPMADDWD(bsm, k.off, o)
			VPADDD(o.AsZ(), acc[0], acc[0])
		}
		f := ZMM()
		VCVTDQ2PS(acc[0], f)
		VFMADD231PS(f, D, accF[m])
		if kt.mode == offDmin {
			o := YMM()
			VPMADDWD(bsm, k.off, o)
			VCVTDQ2PS(o, o)
			VFMADD231PS(o, Mv, accM[m])
		}
	}
	for m := range M {
		ADDQ(U32(kt.bytes), wp[m])
	}
	ADDQ(U32(256), aqp)
	ADDQ(U8(4), adp)
	ADDQ(U8(32), bsp)
	DECQ(nbc)
	JNZ(LabelRef("blk"))

	for m := range M {
		lo := YMM()
		VEXTRACTF64X4(U8(1), accF[m], lo)
		VADDPS(lo, accF[m].AsY(), lo)
		if kt.mode == offDmin {
			VSUBPS(accM[m], lo, lo)
		}
		x, x2 := lo.AsX(), XMM()
		VEXTRACTF32X4(U8(1), lo, x2)
		VADDPS(x2, x, x)
		VMOVHLPS(x, x, x2)
		VADDPS(x2, x, x)
		VMOVSHDUP(x, x2)
		VADDSS(x2, x, x)
		VMOVSS(x, Mem{Base: y, Disp: 4 * m})
	}
	ADDQ(U8(4*M), y)
	ADDQ(rbM, w)
	SUBQ(U8(M), cnt)
	JMP(LabelRef("rows"))

	Label("done")
	VZEROUPPER()
	RET()
}

// q4KTaskScales decodes the Q4_K/Q5_K scale block at w+4 for the task
// kernels: the scale bytes (0..7) and min bytes (8..15) of one xmm,
// broadcast to every 128-bit lane, from which each chunk's scale words
// and the mins per 16 values are single in-lane VPSHUFBs.
func q4KTaskScales(k *kgen) func(c int) VecVirtual {
	x := XMM()
	vmovdqu(k.wm(4), x) // dwords a0 a1 a2 (and 4 bytes of qs)
	l, h := XMM(), XMM()
	VPSHUFD(U8(0x98), x, l) // a0 a2 a1 a2
	VPSRLVD(dwordsConst("k4sh", []uint32{0, 0, 0, 4}), l, l)
	vpand(dwordsConst("k4ml", []uint32{0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f}), l, l)
	VPSHUFD(U8(0x50), x, h) // a0 a0 a1 a1
	VPSRLD(U8(2), h, h)
	vpand(dwordsConst("k4mh", []uint32{0, 0x30303030, 0, 0x30303030}), h, h)
	vpor(h, l, l) // bytes: scales 0..7, mins 0..7
	b := ZMM()
	VSHUFI32X4(U8(0), l.AsZ(), l.AsZ(), b)
	// mins per 16 values: words m0 m0 m1 m1 .. m3 m3 | m4 m4 .. m7 m7
	var m [64]byte
	for i := range 16 {
		j := byte(8 + i/2)
		if i >= 8 {
			j = byte(12 + (i-8)/2)
		}
		m[2*i], m[2*i+1] = j, 0x80
	}
	o := YMM()
	VPSHUFB(constVec("k4tm", m), b.AsY(), o)
	k.off = o
	return func(c int) VecVirtual {
		s := ZMM()
		VPSHUFB(k.zc(k4tsConst(c)), b, s)
		return s
	}
}

// k4tsConst is the VPSHUFB control picking chunk c's scale words from
// q4KTaskScales' byte table.
func k4tsConst(c int) Mem {
	var v [64]byte
	for i := range 16 {
		j := byte(2 * c)
		if i >= 8 {
			j++
		}
		v[4*i], v[4*i+1], v[4*i+2], v[4*i+3] = j, 0x80, j, 0x80
	}
	return constVec(fmt.Sprint("k4ts", c), v)
}

// taskScaleConst is the VPSHUFB control picking 64-value chunk c's scale
// words (duplicated per dword) from the unit table of kt.
func taskScaleConst(kt *ktype, c int) Mem {
	var b [64]byte
	for i := range 16 {
		u := (64*c + 4*i) >> kt.unitLog
		w := byte(2 * (u % 8))
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = w, w+1, w, w+1
	}
	return constVec("sc"+hex(b[:]), b)
}

// taskConsts lists the constants the task kernel of kt keeps in
// registers for the whole call.
func taskConsts(kt *ktype) []Mem {
	var l []Mem
	for c := range 4 {
		if kt.unitLog == 0 {
			break
		}
		if kt.signed {
			l = append(l, iq4TaskScaleConst(c))
		} else if kt.name == "q4_K" || kt.name == "q5_K" {
			l = append(l, k4tsConst(c))
		} else {
			l = append(l, taskScaleConst(kt, c))
		}
	}
	switch kt.name {
	case "q4_K":
		l = append(l, bytesConst(0x0f))
	case "q5_K":
		l = append(l, bytesConst(0x0f), bytesConst(0x10), wordShifts(0, 1))
	case "q6_K":
		l = append(l, bytesConst(0x0f), bytesConst(0x30), wordShifts(0, 2))
	case "q2_K":
		l = append(l, bytesConst(0x03), wordShifts(0, 2), wordShifts(4, 6))
	case "q3_K":
		l = append(l, bytesConst(0x03), bytesConst(0x04), wordShifts(0, 2), wordShifts(4, 6), wordShifts(0, 1))
	case "iq4_xs":
		l = append(l, bytesConst(0x0f), iq4Table(false, false))
	case "tq2_0":
		l = append(l, bytesConst(0x03), wordShifts(0, 2), wordShifts(4, 6), bytesConst(1))
	case "tq1_0":
		l = append(l, bytesConst(1), wordsConst(0xff00), wordsConst(3), wordsConst(768))
		l = append(l, tq1Mults(tier{"vnni", true})...)
	}
	return l
}

// --- IQ4_XS and TQ1_0 ---

// kvalues is IQ4_NL/IQ4_XS's non-linear code book (ggml's kvalues_iq4nl).
var kvalues = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// iq4Table is the code book repeated in every 128-bit lane, as VPSHUFB
// tables: the values, their magnitudes (abs) or the values negated (neg).
func iq4Table(abs, neg bool) Mem {
	var b [64]byte
	name := "iq4v"
	for i := range b {
		v := kvalues[i%16]
		switch {
		case abs:
			name = "iq4a"
			v = max(v, -v)
		case neg:
			name = "iq4n"
			v = -v
		}
		b[i] = byte(v)
	}
	return constVec(name, b)
}

// wordsConst is a constant of the words v, repeated to fill 64 bytes.
func wordsConst(v ...uint16) Mem {
	var b [64]byte
	for i := range 32 {
		x := v[i%len(v)]
		b[2*i], b[2*i+1] = byte(x), byte(x>>8)
	}
	return constVec("w"+hex(b[:]), b)
}

// iq4xsScales decodes IQ4_XS's sub-block scales into k.units (8 signed
// words in an xmm): ls_ib = (nibble ib of scales_l (bytes 4..7, little
// endian) | bits 2ib, 2ib+1 of scales_h (bytes 2..3) << 4) − 32. Each
// field is moved to the top of a word with a multiply and shifted down.
func iq4xsScales(k *kgen) {
	x := XMM()
	VPBROADCASTQ(k.wm(0), x) // bytes d d sh sh l0 l1 l2 l3, twice
	var cl, ch [64]byte
	for j := range 8 {
		cl[2*j], cl[2*j+1] = byte(4+2*(j/4)), byte(5+2*(j/4)) // scales_l words 0, 0, 0, 0, 1, 1, 1, 1
		ch[2*j], ch[2*j+1] = 2, 3                             // scales_h
	}
	n, h := XMM(), XMM()
	VPSHUFB(constVec("iq4cl", cl), x, n)
	VPMULLW(wordsConst(1<<12, 1<<8, 1<<4, 1), n, n) // nibble ib to bits 12..15
	VPSRLW(U8(12), n, n)
	VPSHUFB(constVec("iq4ch", ch), x, h)
	VPMULLW(wordsConst(1<<14, 1<<12, 1<<10, 1<<8, 1<<6, 1<<4, 1<<2, 1), h, h) // bits 2ib.. to 14..15
	VPSRLW(U8(10), h, h)                                                      // to bits 4..5 (lower bits: junk)
	if curZ {
		VPTERNLOGD(U8(0xF8), bytesConst(0x30), h, n) // n | (h & 0x30)
	} else {
		VPAND(bytesConst(0x30), h, h)
		VPOR(h, n, n)
	}
	VPSUBW(wordsConst(32), n, n)
	k.units = n
}

// iq4Chunk returns IQ4_XS chunk c's weight magnitudes |q| and records
// their signs. A sub-block (32 values) is 16 bytes at 8+16ib: low nibbles
// first. AVX2: chunk c is sub-block c; AVX-512: sub-blocks 2c and 2c+1,
// the 32 bytes put in 128-bit lanes as B0 B0 B1 B1 and lanes 1, 3 shifted.
func iq4Chunk(k *kgen, c int) VecVirtual {
	if k.t.z {
		b := k.bcast32(k.wm(8 + 32*c)) // B0 B1 B0 B1
		VSHUFI64X2(U8(0x50), b, b, b)  // B0 B0 B1 B1
		VPSRLW(U8(4), b, k.hiK, b)     // lanes 1 and 3 only
		nib := k.and(0x0f, b)
		u := ZMM()
		VPSHUFB(nib, k.tab, u)
		m := K()
		VPTESTNMB(bytesConst(0x08), nib, m) // codes 0..7 are the negative values
		k.sgnK[c] = m
		return u
	}
	b := YMM()
	VBROADCASTI128(k.wm(8+16*c), b)
	VPSRLVD(dwordsConst("iq4sh", []uint32{0, 0, 0, 0, 4, 4, 4, 4}), b, b)
	nib := k.and(0x0f, b)
	q := YMM()
	VPSHUFB(nib, k.tab, q)
	u := YMM()
	VPABSB(q, u)
	k.sgnV[c] = q
	return u
}

// tq1Elem maps TQ1_0 element e (0..255) to its byte in the block and its
// trit (0 = most significant): qs[0:32] holds elements m+32n, qs[32:48]
// 160+m+16n, qh (bytes 48..51) 240+j+4n.
func tq1Elem(e int) (byteOff, trit int) {
	switch {
	case e < 160:
		return e % 32, e / 32
	case e < 240:
		return 32 + (e-160)%16, (e - 160) / 16
	}
	return 48 + (e-240)%4, (e - 240) / 4
}

// tq1Chunk returns TQ1_0 chunk c's trits u = q + 1 (0..2). Trit n of byte
// x is ((x·3ⁿ mod 256)·3) >> 8 (ggml's decoding). On words: the low byte
// X gives (X·3ⁿ mod 256)·256 = VPMULLW(word, 3ⁿ·256), and VPMULHUW by 3
// leaves its trit; the high byte (word & 0xff00) gives the same product
// through VPMULLW by 3ⁿ, and VPMULHUW by 768 leaves 3·(X·3ⁿ mod 256),
// whose high byte is the trit in place.
func tq1Chunk(k *kgen, c int) VecVirtual {
	t := k.t
	var s VecVirtual
	var key string
	if t.z {
		tA := func() VecVirtual { return k.cached("tA", func() VecVirtual { return k.bcast32(k.wm(0)) }) }
		tT := func() VecVirtual {
			return k.cached("tT", func() VecVirtual {
				v := ZMM()
				VBROADCASTI32X4(k.wm(32), v) // qs[32:48] x4
				return v
			})
		}
		switch c {
		case 0, 1: // trits 0..3 of qs[0:32]
			key, s = "tA", tA()
		case 2: // trit 4 of qs[0:32], trits 0, 1 of qs[32:48]
			key = "tB"
			s = k.cached(key, func() VecVirtual {
				v := ZMM()
				VINSERTI64X4(U8(1), tT().AsY(), tA(), v)
				return v
			})
		case 3: // trits 2..4 of qs[32:48], qh
			key = "tC"
			s = k.cached(key, func() VecVirtual {
				h := XMM()
				VPBROADCASTD(k.wm(48), h)
				v := ZMM()
				VINSERTI32X4(U8(3), h, tT(), v)
				return v
			})
		}
	} else {
		switch {
		case c < 5:
			key = "tA"
			s = k.cached(key, func() VecVirtual {
				v := YMM()
				VMOVDQU(k.wm(0), v)
				return v
			})
		case c < 7:
			key = "tB"
			s = k.cached(key, func() VecVirtual {
				v := YMM()
				VBROADCASTI128(k.wm(32), v)
				return v
			})
		default:
			key = "tC"
			s = k.cached(key, func() VecVirtual {
				h := XMM()
				VPBROADCASTD(k.wm(48), h)
				v := YMM()
				VINSERTI128(U8(1), h, k.blk["tB"], v)
				return v
			})
		}
	}
	// The multipliers, checking that s holds each element's byte.
	for i := range t.width() {
		e := t.width()*c + i
		if off, _ := tq1Elem(e); tq1SrcByte(t, key, i) != off {
			panic(fmt.Sprintf("tq1_0 %s chunk %d byte %d: holds %d, element %d is in %d", t.name, c, i, tq1SrcByte(t, key, i), e, off))
		}
	}
	p, p8 := tq1Mult(t, c)
	hm := k.zc(wordsConst(0xff00))
	od := k.cached("od"+key, func() VecVirtual {
		v := t.vec()
		vpand(hm, s, v)
		return v
	})
	e, o := t.vec(), t.vec()
	VPMULLW(k.zc(wordsConst(p8...)), s, e)
	VPMULHUW(k.zc(wordsConst(3)), e, e)
	VPMULLW(k.zc(wordsConst(p...)), od, o)
	VPMULHUW(k.zc(wordsConst(768)), o, o)
	if t.z {
		VPTERNLOGD(U8(0xF8), hm, o, e) // e | (o & 0xff00)
	} else {
		VPBLENDVB(hm, o, e, e) // odd bytes from o
	}
	return e
}

// tq1Mult returns the word multipliers of tq1Chunk's chunk c: 3ⁿ and
// 3ⁿ·256 for the trit n each word's two bytes give.
func tq1Mult(t tier, c int) (p, p8 []uint16) {
	w := t.width()
	p = make([]uint16, w/2)
	p8 = make([]uint16, w/2)
	for i := range w {
		_, n := tq1Elem(w*c + i)
		m := uint16(1)
		for range n {
			m *= 3
		}
		if i%2 == 1 && p[i/2] != m {
			panic("tq1_0: a word's bytes differ in trit")
		}
		p[i/2], p8[i/2] = m, m<<8
	}
	return p, p8
}

// tq1Mults lists the multiplier constants of every chunk.
func tq1Mults(t tier) []Mem {
	var l []Mem
	for c := range t.chunks() {
		p, p8 := tq1Mult(t, c)
		l = append(l, wordsConst(p8...), wordsConst(p...))
	}
	return l
}

// tq1SrcByte is the block byte that byte i of tq1Chunk's source vector
// key holds.
func tq1SrcByte(t tier, key string, i int) int {
	switch key {
	case "tA":
		return i % 32
	case "tB":
		if t.z && i < 32 {
			return i
		}
		return 32 + i%16
	}
	// tC
	if t.z {
		if i < 48 {
			return 32 + i%16
		}
		return 48 + i%4
	}
	if i < 16 {
		return 32 + i
	}
	return 48 + i%4
}

// iq4TaskScaleConst is the VPSHUFB control picking IQ4_XS chunk c's scale
// words (per dword) in the task kernel's lane order: 128-bit lanes 0 and
// 2 hold sub-block 2c, lanes 1 and 3 sub-block 2c+1.
func iq4TaskScaleConst(c int) Mem {
	var b [64]byte
	for i := range 16 {
		w := byte(2 * (2*c + i/4%2))
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = w, w+1, w, w+1
	}
	return constVec("sc"+hex(b[:]), b)
}
