// Command _asm generates qconv's amd64 matmul kernels with avo.
//
// Run from this folder (or use scripts/gen-asm.sh / go generate ./kernels):
//
//	go run . -out ../zkernels_amd64.s -stubs ../zkernels_amd64.go -pkg kernels
//
// Every kernel computes, for one weight row of nb 32-element blocks and
// nr = 1..4 rows of Q8_0-quantized activations,
//
//	out[r] = Σ_i fp16(w_i.d) · ad[r][i] · Σ_j w_i.q[j] · aq[r][32i+j]
//
// decoding each weight block once for all nr rows. The int8 products use
// the sign trick: |w| (unsigned) times a·sign(w) (signed) gives w·a, so
// one unsigned×signed multiply-add serves a signed×signed dot product.
// AVX2: VPMADDUBSW (pairs to int16, no overflow since |w| <= 128 and
// |a| <= 127) then VPMADDWD with ones (to int32). AVX-512 VNNI: one
// VPDPBUSD (EVEX, ymm) does both. Activations never hold -128 (the Q8_0
// activation quantizer clamps to ±127), so a·sign(w) cannot overflow.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

type isa struct {
	name string // function name suffix
	vnni bool
}

// weight describes how a weight block becomes 32 signed bytes in a ymm.
type weight struct {
	name   string
	bytes  int                                            // block size in bytes
	load   func(w Register, off int, c consts) VecVirtual // the 32 signed quants of the block at w+off
	consts bool                                           // needs the 0x0F/0x08 byte constants
}

type consts struct {
	ones, low4, eight VecVirtual
}

var weights = []weight{
	{name: "q8_0", bytes: 34, load: func(w Register, off int, _ consts) VecVirtual {
		q := YMM()
		VMOVDQU(Mem{Base: w, Disp: off + 2}, q)
		return q
	}},
	{name: "q4_0", bytes: 18, consts: true, load: func(w Register, off int, c consts) VecVirtual {
		// bytes j hold element j (low nibble) and j+16 (high nibble):
		// put the bytes in the low lane and the bytes >> 4 in the high
		// lane, mask to nibbles, subtract 8.
		lo, hi, q := XMM(), XMM(), YMM()
		VMOVDQU(Mem{Base: w, Disp: off + 2}, lo)
		VPSRLW(U8(4), lo, hi)
		VINSERTI128(U8(1), hi, lo.AsY(), q)
		VPAND(c.low4, q, q)
		VPSUBB(c.eight, q, q)
		return q
	}},
}

func main() {
	ConstraintExpr("!purego")
	for _, wt := range weights {
		for _, is := range []isa{{"avx2", false}, {"vnni", true}} {
			for nr := 1; nr <= 4; nr++ {
				kernel(wt, is, nr)
			}
		}
	}
	Generate()
}

func broadcastByte(v uint32) VecVirtual {
	r := GP32()
	MOVL(U32(v), r)
	x := XMM()
	VMOVD(r, x)
	y := YMM()
	VPBROADCASTD(x, y)
	return y
}

func kernel(wt weight, is isa, nr int) {
	name := fmt.Sprintf("%s%sR%d", wt.name, is.name, nr)
	TEXT(name, NOSPLIT, "func(w *byte, aq *int8, ad *float32, nb int, k int, out *[4]float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s: one %s weight row of nb blocks against %d Q8_0 activation rows (%s).", name, wt.name, nr, is.name),
		"Activation row r starts at aq + r*k (values) and ad + r*nb (scales).")

	w := Load(Param("w"), GP64())
	aq := Load(Param("aq"), GP64())
	ad := Load(Param("ad"), GP64())
	nb := Load(Param("nb"), GP64())
	k := Load(Param("k"), GP64())

	// Row r's values and scales: rows 0..2 via base+index, row 3 via its
	// own pointers.
	sstride := GP64()
	MOVQ(nb, sstride)
	SHLQ(U8(2), sstride)
	var aq3, ad3 Register
	if nr == 4 {
		aq3, ad3 = GP64(), GP64()
		LEAQ(Mem{Base: aq, Index: k, Scale: 2}, aq3)
		ADDQ(k, aq3)
		LEAQ(Mem{Base: ad, Index: sstride, Scale: 2}, ad3)
		ADDQ(sstride, ad3)
	}
	aMem := func(r int) Mem {
		switch r {
		case 0:
			return Mem{Base: aq}
		case 1:
			return Mem{Base: aq, Index: k, Scale: 1}
		case 2:
			return Mem{Base: aq, Index: k, Scale: 2}
		}
		return Mem{Base: aq3}
	}
	dMem := func(r int) Mem {
		switch r {
		case 0:
			return Mem{Base: ad}
		case 1:
			return Mem{Base: ad, Index: sstride, Scale: 1}
		case 2:
			return Mem{Base: ad, Index: sstride, Scale: 2}
		}
		return Mem{Base: ad3}
	}

	var c consts
	if !is.vnni {
		c.ones = YMM()
		VPCMPEQW(c.ones, c.ones, c.ones)
		VPSRLW(U8(15), c.ones, c.ones)
	}
	if wt.consts {
		c.low4 = broadcastByte(0x0F0F0F0F)
		c.eight = broadcastByte(0x08080808)
	}
	acc := make([]VecVirtual, nr)
	for r := range acc {
		acc[r] = YMM()
		VXORPS(acc[r], acc[r], acc[r])
	}

	// With one or two rows, a second accumulator set (odd blocks) hides
	// the FMA latency; with three or four the rows already do.
	unroll := 1
	if nr <= 2 {
		unroll = 2
	}
	acc2 := make([]VecVirtual, nr)
	if unroll == 2 {
		for r := range acc2 {
			acc2[r] = YMM()
			VXORPS(acc2[r], acc2[r], acc2[r])
		}
	}
	disp := func(m Mem, d int) Mem { m.Disp += d; return m }
	// block accumulates block j (relative to the pointers) into acc.
	block := func(j int, acc []VecVirtual) {
		dw16, dw := XMM(), YMM()
		VPBROADCASTW(Mem{Base: w, Disp: j * wt.bytes}, dw16)
		VCVTPH2PS(dw16, dw)
		q := wt.load(w, j*wt.bytes, c)
		absq := YMM()
		VPSIGNB(q, q, absq)
		for r := 0; r < nr; r++ {
			sa, p, s := YMM(), YMM(), YMM()
			VMOVDQU(disp(aMem(r), 32*j), sa)
			VPSIGNB(q, sa, sa) // a·sign(w)
			if is.vnni {
				VPXOR(p, p, p)
				VPDPBUSD(sa, absq, p)
			} else {
				VPMADDUBSW(sa, absq, p)
				VPMADDWD(c.ones, p, p)
			}
			VCVTDQ2PS(p, p)
			VBROADCASTSS(disp(dMem(r), 4*j), s)
			VMULPS(dw, s, s)
			VFMADD231PS(p, s, acc[r])
		}
	}
	advance := func(n int) {
		ADDQ(U32(n*wt.bytes), w)
		ADDQ(U32(32*n), aq)
		ADDQ(U32(4*n), ad)
		if nr == 4 {
			ADDQ(U32(32*n), aq3)
			ADDQ(U32(4*n), ad3)
		}
	}

	if unroll == 2 {
		Label("loop2")
		CMPQ(nb, U8(2))
		JL(LabelRef("loop"))
		block(0, acc)
		block(1, acc2)
		advance(2)
		SUBQ(U8(2), nb)
		JMP(LabelRef("loop2"))
	}
	Label("loop")
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	block(0, acc)
	advance(1)
	DECQ(nb)
	JMP(LabelRef("loop"))

	Label("done")
	if unroll == 2 {
		for r := range acc {
			VADDPS(acc2[r], acc[r], acc[r])
		}
	}
	out := Load(Param("out"), GP64())
	for r := 0; r < nr; r++ {
		lo, hi := acc[r].AsX(), XMM()
		VEXTRACTF128(U8(1), acc[r], hi)
		VADDPS(hi, lo, lo)
		VMOVHLPS(lo, lo, hi)
		VADDPS(hi, lo, lo)
		VMOVSHDUP(lo, hi)
		VADDSS(hi, lo, lo)
		VMOVSS(lo, Mem{Base: out, Disp: 4 * r})
	}
	VZEROUPPER()
	RET()
}
