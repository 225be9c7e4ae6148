package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The Q4_K 16-row tile kernel (AVX-512 VNNI) against Q8_K activations.
//
// A Q4_K tile block (docs/layouts.md) holds, for 16 rows: the fp16 d and
// dmin (32 bytes each), the 12 packed scale bytes as three 4-byte units
// (64 bytes each, one row per lane), then 32 quant chunks of 64 bytes.
// Chunk c (qs[4c..4c+3] of every row) holds values 64g + 4i .. +3 in its
// low nibbles and 64g + 32 + 4i .. +3 in its high ones (g = c/8, i = c%8),
// so sub-block 2g takes the low nibbles of chunks 8g..8g+7 and 2g+1 the
// high ones.
//
// Per block column the 6-bit scales and mins of all 16 rows are decoded
// lane-wise (shifts and masks) into d·sc and dmin·m for the 8 sub-blocks,
// kept on the stack. Per activation row and sub-block, 8 VPDPBUSDs with
// broadcast activation dwords give the 16 rows' integer sums; then
//
//	t = Σ_s (d·sc_s)·float(S_s) − Σ_s (dmin·m_s)·bsum_s,  y += d_a·t
//
// with bsum_s the sum of the activation block's sub-block s (a float in
// the activation record). Activation records (acts.tl, tileActBytesK
// bytes): the 256 int8 values, d_a (float32) at 256, the 8 sub-block sums
// (float32) at 260.

const tileRecordK = 320

func tileKernelsK() {
	for nr := 1; nr <= 8; nr++ {
		tileKernelQ4K(nr)
	}
}

func tileKernelQ4K(nr int) {
	name := fmt.Sprintf("q4_Ktile16R%d", nr)
	TEXT(name, 0, tileSig) // not NOSPLIT: a 1 KiB frame
	Pragma("noescape")
	Doc(fmt.Sprintf("%s: one 16-row block-major q4_K tile of nb super-block columns from w against %d Q8_K activation rows", name, nr),
		"in the tile record layout at at (acts.tl); stores the result for tile row i and activation row r at y[r*ys + i] (AVX-512 VNNI).")
	w := Load(Param("w"), GP64())
	nb := Load(Param("nb"), GP64())
	at := Load(Param("at"), GP64())
	dsc := AllocLocal(8 * 64) // d·sc_s, s = 0..7
	dmm := AllocLocal(8 * 64) // dmin·m_s
	bc := func(v uint32) VecVirtual {
		g := GP32()
		MOVL(U32(v), g)
		z := ZMM()
		VPBROADCASTD(g, z)
		return z
	}
	low4 := bc(0x0F0F0F0F)
	zero := ZMM()
	VPXORD(zero, zero, zero)
	acc := make([]VecVirtual, nr)
	for r := range acc {
		acc[r] = ZMM()
		VMOVDQA64(zero, acc[r])
	}
	split := 1
	if nr == 1 {
		split = 4
	}
	// With one or two activation rows the d·sc vectors stay in registers;
	// more rows need the registers for their sums.
	dscRegs := nr <= 2
	var dscv []VecVirtual

	Label("block")
	{
		// Decode the scales and mins of the 16 rows.
		c3f, cff, c30 := bc(0x3F3F3F3F), bc(0xFF), bc(0x30303030)
		u0, u1, u2 := ZMM(), ZMM(), ZMM()
		VMOVDQU64(m(w, 64), u0)
		VMOVDQU64(m(w, 128), u1)
		VMOVDQU64(m(w, 192), u2)
		scLo, mLo, scHi, mHi, t := ZMM(), ZMM(), ZMM(), ZMM(), ZMM()
		VPANDD(c3f, u0, scLo)
		VPANDD(c3f, u1, mLo)
		VPSRLD(U8(2), u0, t)
		VPANDD(c30, t, t)
		VPANDD(low4, u2, scHi)
		VPORD(t, scHi, scHi)
		VPSRLD(U8(2), u1, t)
		VPANDD(c30, t, t)
		VPSRLD(U8(4), u2, mHi)
		VPANDD(low4, mHi, mHi)
		VPORD(t, mHi, mHi)
		dv, dm := ZMM(), ZMM()
		VCVTPH2PS(m(w, 0), dv)
		VCVTPH2PS(m(w, 32), dm)
		for s := range 8 {
			for _, f := range []struct {
				lo, hi, scale VecVirtual
				out           Mem
			}{{scLo, scHi, dv, dsc}, {mLo, mHi, dm, dmm}} {
				src := f.lo
				if s >= 4 {
					src = f.hi
				}
				v := ZMM()
				switch k := s % 4; k {
				case 0:
					VPANDD(cff, src, v)
				case 3:
					VPSRLD(U8(24), src, v)
				default:
					VPSRLD(U8(8*k), src, v)
					VPANDD(cff, v, v)
				}
				VCVTDQ2PS(v, v)
				VMULPS(f.scale, v, v)
				if dscRegs && f.out == dsc {
					dscv = append(dscv, v)
					continue
				}
				VMOVUPS(v, f.out.Offset(64*s))
			}
		}
	}
	tv := make([]VecVirtual, nr)
	for r := range tv {
		tv[r] = ZMM()
	}
	for s := range 8 {
		g, h := s/2, s%2
		codes := make([]VecVirtual, 8)
		for i := range codes {
			codes[i] = ZMM()
			at := m(w, 256+64*(8*g+i))
			if h == 0 {
				VPANDD(at, low4, codes[i])
			} else {
				VPSRLW(U8(4), at, codes[i])
				VPANDD(low4, codes[i], codes[i])
			}
		}
		// Rows in pairs, their VPDPBUSD chains interleaved.
		for r0 := 0; r0 < nr; r0 += 2 {
			rows := []int{r0}
			if r0+1 < nr {
				rows = append(rows, r0+1)
			}
			sums := map[int][]VecVirtual{}
			for _, r := range rows {
				for range split {
					z := ZMM()
					VMOVDQA64(zero, z)
					sums[r] = append(sums[r], z)
				}
			}
			for i, u := range codes {
				for _, r := range rows {
					VPDPBUSD_BCST(m(at, r*tileRecordK+64*g+32*h+4*i), u, sums[r][i%split])
				}
			}
			for _, r := range rows {
				sm := sums[r][0]
				for _, o := range sums[r][1:] {
					VPADDD(o, sm, sm)
				}
				VCVTDQ2PS(sm, sm)
				var sc Op = dsc.Offset(64 * s)
				if dscRegs {
					sc = dscv[s]
				}
				if s == 0 {
					VMULPS(sc, sm, tv[r])
				} else {
					VFMADD231PS(sc, sm, tv[r])
				}
			}
		}
	}
	// Mins, then y += d_a·t.
	for s := range 8 {
		mv := ZMM()
		VMOVUPS(dmm.Offset(64*s), mv)
		for r := range nr {
			VFNMADD231PS_BCST(m(at, r*tileRecordK+260+4*s), mv, tv[r])
		}
	}
	for r := range nr {
		VFMADD231PS_BCST(m(at, r*tileRecordK+256), tv[r], acc[r])
	}
	ADDQ(U32(16*144), w)
	ADDQ(U32(nr*tileRecordK), at)
	DECQ(nb)
	JNZ(LabelRef("block"))

	y := Load(Param("y"), GP64())
	ys := Load(Param("ys"), GP64())
	SHLQ(U8(2), ys)
	for r := range nr {
		VMOVUPS(acc[r], m(y, 0))
		if r+1 < nr {
			ADDQ(ys, y)
		}
	}
	VZEROUPPER()
	RET()
}
