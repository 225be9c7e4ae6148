package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Block-major tile kernels (AVX-512 VNNI, 16-row tiles; docs/layouts.md).
//
// A tile block holds block j of 16 weight rows: their 16 fp16 scales, then
// the quant bytes in 4-byte chunks, chunk c of rows 0..15 together. One
// 64-byte load is chunk c of all 16 rows, one row per 32-bit lane, so a
// VPDPBUSD with the activation dword that chunk multiplies, broadcast to
// every lane, adds 4 products to each of the 16 rows' sums: no
// horizontal reductions, and the 16 results of an activation row are
// one register at the end.
//
// The weights are unsigned codes u (the nibble for Q4_0, w + 128 for
// Q8_0, the IQ4_NL value + 128); each activation record (acts.tl) holds
// the block's 32 int8 values, its scale d and -m·Σa (m the code offset),
// which starts the integer sum so that it comes out as Σ w·a. Then
// y_r += (d_w ⊙ d_a) · float(sum), one FMA per block and activation row.

type tileWeight struct {
	name   string
	bytes  int // bytes per block of one row
	chunks int // 4-byte quant chunks per row and block
	// decode turns the chunk loads into the unsigned codes each chunk's
	// VPDPBUSD takes, and returns, per code register, the activation
	// byte offset (within the 32 values) of the dword it multiplies.
	decode func(w Register, c *tileConsts) ([]VecVirtual, []int)
}

type tileConsts struct {
	low4, x80, table Register
}

var tileWeights = []tileWeight{
	{name: "q4_0", bytes: 18, chunks: 4, decode: func(w Register, c *tileConsts) ([]VecVirtual, []int) {
		var codes []VecVirtual
		var offs []int
		hi := make([]VecVirtual, 4)
		for ch := range 4 {
			q := ZMM()
			VMOVDQU64(m(w, 32+64*ch), q)
			lo := ZMM()
			VPANDD(c.low4, q, lo)
			hi[ch] = ZMM()
			VPSRLW(U8(4), q, hi[ch])
			VPANDD(c.low4, hi[ch], hi[ch])
			codes = append(codes, lo)
			offs = append(offs, 4*ch) // low nibbles: values 4c..4c+3
		}
		for ch := range 4 {
			codes = append(codes, hi[ch])
			offs = append(offs, 16+4*ch) // high nibbles: values 16+4c..
		}
		return codes, offs
	}},
	{name: "q8_0", bytes: 34, chunks: 8, decode: func(w Register, c *tileConsts) ([]VecVirtual, []int) {
		var codes []VecVirtual
		var offs []int
		for ch := range 8 {
			q := ZMM()
			VPXORD(m(w, 32+64*ch), c.x80, q)
			codes = append(codes, q)
			offs = append(offs, 4*ch)
		}
		return codes, offs
	}},
	{name: "iq4_nl", bytes: 18, chunks: 4, decode: func(w Register, c *tileConsts) ([]VecVirtual, []int) {
		var codes []VecVirtual
		var offs []int
		hi := make([]VecVirtual, 4)
		for ch := range 4 {
			q := ZMM()
			VMOVDQU64(m(w, 32+64*ch), q)
			lo := ZMM()
			VPANDD(c.low4, q, lo)
			VPSHUFB(lo, c.table, lo)
			hi[ch] = ZMM()
			VPSRLW(U8(4), q, hi[ch])
			VPANDD(c.low4, hi[ch], hi[ch])
			VPSHUFB(hi[ch], c.table, hi[ch])
			codes = append(codes, lo)
			offs = append(offs, 4*ch)
		}
		for ch := range 4 {
			codes = append(codes, hi[ch])
			offs = append(offs, 16+4*ch)
		}
		return codes, offs
	}},
}

const tileSig = "func(w *byte, nb int, at *byte, y *float32, ys int)"

// tileRecord is the size of one activation record (kernels.tileActBytes).
const tileRecord = 40

func tileKernels() {
	for _, tw := range tileWeights {
		for nr := 1; nr <= 8; nr++ {
			tileKernel(tw, nr)
		}
	}
}

func tileKernel(tw tileWeight, nr int) {
	name := fmt.Sprintf("%stile16R%d", tw.name, nr)
	TEXT(name, NOSPLIT, tileSig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s: one 16-row block-major %s tile of nb block columns from w against %d activation rows", name, tw.name, nr),
		"in the tile record layout at at (acts.tl); stores the result for tile row i and activation row r at y[r*ys + i] (AVX-512 VNNI).")
	w := Load(Param("w"), GP64())
	nb := Load(Param("nb"), GP64())
	at := Load(Param("at"), GP64())

	c := &tileConsts{}
	g := GP32()
	MOVL(U32(0x0F0F0F0F), g)
	c.low4 = ZMM()
	VPBROADCASTD(g, c.low4)
	MOVL(U32(0x80808080), g)
	c.x80 = ZMM()
	VPBROADCASTD(g, c.x80)
	if tw.name == "iq4_nl" {
		c.table = ZMM()
		VBROADCASTI32X4(iq4nlTableU, c.table)
	}
	zero := ZMM()
	VPXORD(zero, zero, zero)
	accf := make([]VecVirtual, nr)
	for r := range accf {
		accf[r] = ZMM()
		VMOVDQA64(zero, accf[r])
	}
	// Independent integer sums per activation row so that the VPDPBUSD
	// chains stay short when few rows share a block.
	split := 1
	switch {
	case nr == 1:
		split = 4
	case nr <= 3:
		split = 2
	}

	Label("block")
	codes, offs := tw.decode(w, c)
	sc := ZMM()
	VCVTPH2PS(m(w, 0), sc)
	// The rows' integer sums are interleaved so that nr·split independent
	// VPDPBUSD chains are in flight.
	sums := make([][]VecVirtual, nr)
	for r := range nr {
		sums[r] = make([]VecVirtual, split)
		for s := range split {
			sums[r][s] = ZMM()
			if s == 0 {
				VPBROADCASTD(m(at, r*tileRecord+36), sums[r][s])
			} else {
				VMOVDQA64(zero, sums[r][s])
			}
		}
	}
	for i, u := range codes {
		for r := range nr {
			VPDPBUSD_BCST(m(at, r*tileRecord+offs[i]), u, sums[r][i%split])
		}
	}
	for r := range nr {
		for s := 1; s < split; s++ {
			VPADDD(sums[r][s], sums[r][0], sums[r][0])
		}
		f := sums[r][0]
		VCVTDQ2PS(f, f)
		VMULPS_BCST(m(at, r*tileRecord+32), f, f)
		VFMADD231PS(f, sc, accf[r])
	}
	ADDQ(U32(16*tw.bytes), w)
	ADDQ(U32(nr*tileRecord), at)
	DECQ(nb)
	JNZ(LabelRef("block"))

	y := Load(Param("y"), GP64())
	ys := Load(Param("ys"), GP64())
	SHLQ(U8(2), ys)
	for r := range nr {
		VMOVUPS(accf[r], m(y, 0))
		if r+1 < nr {
			ADDQ(ys, y)
		}
	}
	VZEROUPPER()
	RET()
}
