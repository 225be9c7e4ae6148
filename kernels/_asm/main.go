// Command _asm generates qconv's amd64 matmul kernels with avo.
//
// Run from this folder (or use scripts/gen-asm.sh / go generate ./kernels):
//
//	go run . -out ../zkernels_amd64.s -stubs ../zkernels_amd64.go -pkg kernels
//
// Quantized kernels. Each computes, for nrows consecutive weight rows of
// nb 32-element blocks and nr rows of Q8_0 or Q8_1 activations,
//
//	y[r][i] = Σ_b d_ib · ad[r][b] · Σ_j q_ib[j] · aq[r][32b+j]  (+ Σ_b m_ib · as[r][b])
//
// decoding each weight block once for all nr rows (the m·s term only for
// the Q8_1 partners Q4_1 and Q5_1, whose quants are unsigned). A call
// covers a whole task of rows, so Go code runs once per task, not per row.
//
// AVX2 (nr <= 4, one block per ymm): signed weights use the sign trick,
// |w| (unsigned) times a·sign(w) (signed) is w·a, so VPMADDUBSW (pairs to
// int16; no overflow since |w| <= 128 and |a| <= 127) then VPMADDWD with
// ones (to int32) serve a signed×signed product; unsigned weights
// multiply the activations directly.
//
// AVX-512 VNNI (nr <= 4, 8 for Q8_0): two blocks per zmm, block i in the
// low 256 bits and i+1 in the high ones, lanes 0-7 and 8-15 scaled
// separately. The weights are made unsigned (w + 128 for the Q8_0
// partners) and one VPDPBUSD against the signed activations, started from
// -128·Σa per 4 values, gives Σ w·a. The activations come pre-arranged
// (acts.vx: values, scales repeated per lane, -128·sums or s) so that
// every per-row operand is one memory operand. Weight rows go two at a
// time, and the rows of the next pass are prefetched: the hardware
// prefetchers stop at page boundaries, and every row is read once.
//
// Activations never hold -128 (the activation quantizer clamps to ±127).
//
// Float kernels (F32, F16, BF16 weights) compute y[r][i] = Σ_j w_i[j]·x[r][j]
// for nr = 1..4 float32 rows with FMA, 2 (AVX2) or 4 (AVX-512) weight rows
// at a time. The activation quantizer (quantQ8avx2) and the acts.vx
// builder (buildVXavx2) are here too.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// weight describes a 32-element block type.
type weight struct {
	name   string
	bytes  int  // block size in bytes
	mOff   int  // offset of the fp16 min (Q8_1 partners); 0 = none
	signed bool // AVX2 quants are signed (sign trick) or unsigned 0..31
	// The AVX-512 quants are always unsigned: w + 128 for the Q8_0
	// partners (zshift 7; the activation layout's x part supplies
	// -128·Σa), w itself for the Q8_1 partners (zshift 0).
	zshift int
	// zTile is the most activation rows an AVX-512 kernel serves: 8 where
	// decoding a block is cheap next to the 8 dot products (Q8_0), 4
	// otherwise (8 rows of activations overflow L1).
	zTile int
	// consts creates the constants the loaders use.
	consts func(c *consts)
	// avx2 loads the 32 quants of the block at w+off into a ymm.
	avx2 func(w Register, off int, c *consts) VecVirtual
	// z loads n = 1 (ymm) or 2 (zmm) consecutive blocks at w+off, as
	// unsigned bytes (see zshift).
	z func(at Mem, n int, c *consts) VecVirtual
}

type consts struct {
	ones                 Register // AVX2: int16 ones
	low4, eight, sixteen Register // bytes
	table                Register // IQ4_NL values, per 128-bit lane
	allset               Register // AVX2 bits-to-bytes: all ones
	x80, bias            Register // bytes 0x80; bytes 128 - offset
	eighth               Register // float 1/8
	kHi                  OpmaskVirtual
	kSh                  OpmaskVirtual // words 8-15 of each 256 bits
	zmm                  bool
}

// width returns c for n = 2 blocks (zmm) or with its vectors narrowed to
// ymm for one block.
func (c *consts) width(n int) *consts {
	if n == 2 {
		return c
	}
	y := *c
	y.zmm = false
	for _, v := range []*Register{&y.low4, &y.eight, &y.sixteen, &y.table, &y.eighth, &y.x80, &y.bias} {
		if *v != nil {
			*v = (*v).(Vec).AsY()
		}
	}
	return &y
}

func (c *consts) narrow(v Register, n int) Register {
	if n == 2 {
		return v
	}
	return v.(Vec).AsY()
}

// vec is a new ymm or zmm.
func (c *consts) vec() VecVirtual {
	if c.zmm {
		return ZMM()
	}
	return YMM()
}

func (c *consts) bcastByte(v byte) Register {
	r := GP32()
	MOVL(U32(uint32(v)*0x01010101), r)
	y := c.vec()
	if c.zmm {
		VPBROADCASTD(r, y)
	} else {
		x := XMM()
		VMOVD(r, x)
		VPBROADCASTD(x, y)
	}
	return y
}

var iq4nl = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

var iq4nlTable, iq4nlTableU Mem

func tables() {
	iq4nlTable = GLOBL("iq4nlValues", RODATA|NOPTR)
	for i, v := range iq4nl {
		DATA(i, U8(uint8(v)))
	}
	iq4nlTableU = GLOBL("iq4nlValuesPlus128", RODATA|NOPTR)
	for i, v := range iq4nl {
		DATA(i, U8(uint8(int(v)+128)))
	}
}

var q5Shuf, q5Bits Mem

func avx2Tables() {
	q5Shuf = GLOBL("q5BitShuf", RODATA|NOPTR)
	for i := range 32 {
		DATA(i, U8(uint8(i/8)))
	}
	q5Bits = GLOBL("q5BitMask", RODATA|NOPTR)
	for i := range 4 {
		DATA(8*i, U64(0x7fbfdfeff7fbfdfe))
	}
}

func m(base Register, off int) Mem { return Mem{Base: base, Disp: off} }

// md is at moved by off bytes.
func md(at Mem, off int) Mem {
	at.Disp += off
	return at
}

// nibbles: the 16 bytes at w+off hold elements j (low nibble) and j+16
// (high); put the bytes in the low 128 bits and the bytes >> 4 in the
// high ones, masked to nibbles.
func nibblesAVX2(w Register, off int, c *consts) VecVirtual {
	lo, hi, q := XMM(), XMM(), YMM()
	VMOVDQU(m(w, off), lo)
	VPSRLW(U8(4), lo, hi)
	VINSERTI128(U8(1), hi, lo.AsY(), q)
	VPAND(c.low4, q, q)
	return q
}

// nibblesZ: the same for n blocks (stride bb): each block's 16 bytes are
// broadcast to a 256-bit half, whose upper 128 bits are shifted by 4.
func nibblesZ(at Mem, off, bb, n int, c *consts) VecVirtual {
	q := c.vec()
	VBROADCASTI32X4(md(at, off), q)
	if n == 2 {
		VBROADCASTI32X4(md(at, off+bb), c.kHi, q)
	}
	VPSRLW(U8(4), q, c.kSh, q)
	VPANDD(c.low4, q, q)
	return q
}

// fifthAVX2 ors bit j of the u32 at w+off, as 0x10, into byte j of q.
func fifthAVX2(q VecVirtual, w Register, off int, c *consts) {
	t := YMM()
	VPBROADCASTD(m(w, off), t)
	VPSHUFB(q5Shuf, t, t)
	VPOR(q5Bits, t, t)
	VPCMPEQB(c.allset, t, t)
	VPAND(c.sixteen, t, t)
	VPOR(t, q, q)
}

// fifthZ adds 16 to byte j of q where bit j of the u32s at w+off (and
// w+off+bb for the second block) is set.
func fifthZ(q VecVirtual, at Mem, off, bb, n int, c *consts) {
	k := K()
	if n == 1 {
		KMOVD(md(at, off), k)
	} else {
		k2 := K()
		KMOVD(md(at, off), k)
		KMOVD(md(at, off+bb), k2)
		KUNPCKDQ(k, k2, k) // k = k2<<32 | k (Go operand order)
	}
	VPADDB(c.sixteen, q, k, q)
}

func q5Consts(c *consts) {
	c.low4 = c.bcastByte(0x0F)
	c.sixteen = c.bcastByte(0x10)
	if !c.zmm {
		c.allset = YMM()
		VPCMPEQB(c.allset, c.allset, c.allset)
	}
}

var weights = []weight{
	{name: "q8_0", bytes: 34, signed: true, zshift: 7, zTile: 8,
		consts: func(c *consts) {
			if c.zmm {
				c.x80 = c.bcastByte(0x80)
			}
		},
		avx2: func(w Register, off int, _ *consts) VecVirtual {
			q := YMM()
			VMOVDQU(m(w, off+2), q)
			return q
		},
		z: func(at Mem, n int, c *consts) VecVirtual {
			q := c.vec()
			VMOVDQU64(md(at, 2), q.AsY())
			if n == 2 {
				VINSERTI64X4(U8(1), md(at, 34+2), q, q)
			}
			VPXORD(c.x80, q, q) // w+128
			return q
		}},
	{name: "q4_0", bytes: 18, signed: true, zshift: 7, zTile: 4,
		consts: func(c *consts) {
			c.low4, c.eight = c.bcastByte(0x0F), c.bcastByte(0x08)
			if c.zmm {
				c.bias = c.bcastByte(120)
			}
		},
		avx2: func(w Register, off int, c *consts) VecVirtual {
			q := nibblesAVX2(w, off+2, c)
			VPSUBB(c.eight, q, q)
			return q
		},
		z: func(at Mem, n int, c *consts) VecVirtual {
			q := nibblesZ(at, 2, 18, n, c)
			VPADDB(c.bias, q, q) // w+128 = q+120
			return q
		}},
	{name: "q4_1", bytes: 20, mOff: 2, zTile: 4,
		consts: func(c *consts) { c.low4 = c.bcastByte(0x0F) },
		avx2: func(w Register, off int, c *consts) VecVirtual {
			return nibblesAVX2(w, off+4, c)
		},
		z: func(at Mem, n int, c *consts) VecVirtual {
			return nibblesZ(at, 4, 20, n, c)
		}},
	{name: "q5_0", bytes: 22, signed: true, zshift: 7, zTile: 4,
		consts: func(c *consts) {
			q5Consts(c)
			if c.zmm {
				c.bias = c.bcastByte(112)
			}
		},
		avx2: func(w Register, off int, c *consts) VecVirtual {
			q := nibblesAVX2(w, off+6, c)
			fifthAVX2(q, w, off+2, c)
			VPSUBB(c.sixteen, q, q)
			return q
		},
		z: func(at Mem, n int, c *consts) VecVirtual {
			q := nibblesZ(at, 6, 22, n, c)
			fifthZ(q, at, 2, 22, n, c)
			VPADDB(c.bias, q, q) // w+128 = q+112
			return q
		}},
	{name: "q5_1", bytes: 24, mOff: 2, zTile: 4, consts: q5Consts,
		avx2: func(w Register, off int, c *consts) VecVirtual {
			q := nibblesAVX2(w, off+8, c)
			fifthAVX2(q, w, off+4, c)
			return q
		},
		z: func(at Mem, n int, c *consts) VecVirtual {
			q := nibblesZ(at, 8, 24, n, c)
			fifthZ(q, at, 4, 24, n, c)
			return q
		}},
	{name: "iq4_nl", bytes: 18, signed: true, zshift: 7, zTile: 4,
		consts: func(c *consts) {
			c.low4 = c.bcastByte(0x0F)
			c.table = c.vec()
			if c.zmm {
				VBROADCASTI32X4(iq4nlTableU, c.table) // values+128
			} else {
				VBROADCASTI128(iq4nlTable, c.table)
			}
		},
		avx2: func(w Register, off int, c *consts) VecVirtual {
			q := nibblesAVX2(w, off+2, c)
			VPSHUFB(q, c.table, q)
			return q
		},
		z: func(at Mem, n int, c *consts) VecVirtual {
			q := nibblesZ(at, 2, 18, n, c)
			VPSHUFB(q, c.table, q)
			return q
		}},
}

func main() {
	ConstraintExpr("!purego")
	tables()
	avx2Tables()
	for _, wt := range weights {
		for nr := 1; nr <= 4; nr++ {
			avx2Kernel(wt, nr)
		}
		for nr := 1; nr <= wt.zTile; nr++ {
			vnniKernel(wt, nr)
		}
	}
	floatKernels()
	tileKernels()
	tileKernelsK()
	quantTables()
	quantKernels()
	Generate()
}

const qsig = "func(w *byte, aq *int8, ad *float32, as *float32, nb int, k int, y *float32, ys int, nrows int)"

// rows addresses nr activation rows: values at aq + r*k, scales at
// ad + r*nb*4 (and sums at as + r*nb*4); rows 0..2 use base + index, row
// 3 its own pointers. The registers are reloaded from the arguments for
// every weight row.
type rows struct {
	nr                int
	aq, ad, as, k, ss Register
	aq3, ad3, as3     Register
	q81               bool
}

func newRows(nr int, q81 bool) *rows {
	r := &rows{nr: nr, q81: q81}
	r.aq, r.ad = GP64(), GP64()
	if q81 {
		r.as = GP64()
	}
	if nr > 1 {
		r.k, r.ss = GP64(), GP64()
	}
	if nr == 4 {
		r.aq3, r.ad3 = GP64(), GP64()
		if q81 {
			r.as3 = GP64()
		}
	}
	return r
}

// reset points the registers at block 0 of every activation row.
func (r *rows) reset(nb Register) {
	Load(Param("aq"), r.aq)
	Load(Param("ad"), r.ad)
	if r.q81 {
		Load(Param("as"), r.as)
	}
	if r.nr > 1 {
		Load(Param("k"), r.k)
		MOVQ(nb, r.ss)
		SHLQ(U8(2), r.ss)
	}
	if r.nr == 4 {
		LEAQ(Mem{Base: r.aq, Index: r.k, Scale: 2}, r.aq3)
		ADDQ(r.k, r.aq3)
		LEAQ(Mem{Base: r.ad, Index: r.ss, Scale: 2}, r.ad3)
		ADDQ(r.ss, r.ad3)
		if r.q81 {
			LEAQ(Mem{Base: r.as, Index: r.ss, Scale: 2}, r.as3)
			ADDQ(r.ss, r.as3)
		}
	}
}

func (r *rows) mem(base, idx, b3 Register, row, disp int) Mem {
	switch row {
	case 0:
		return Mem{Base: base, Disp: disp}
	case 1:
		return Mem{Base: base, Index: idx, Scale: 1, Disp: disp}
	case 2:
		return Mem{Base: base, Index: idx, Scale: 2, Disp: disp}
	}
	return Mem{Base: b3, Disp: disp}
}

func (r *rows) q(row, disp int) Mem { return r.mem(r.aq, r.k, r.aq3, row, disp) }
func (r *rows) d(row, disp int) Mem { return r.mem(r.ad, r.ss, r.ad3, row, disp) }
func (r *rows) s(row, disp int) Mem { return r.mem(r.as, r.ss, r.as3, row, disp) }

// advance moves the activation pointers by n blocks.
func (r *rows) advance(n int) {
	ADDQ(U32(32*n), r.aq)
	ADDQ(U32(4*n), r.ad)
	if r.q81 {
		ADDQ(U32(4*n), r.as)
	}
	if r.nr == 4 {
		ADDQ(U32(32*n), r.aq3)
		ADDQ(U32(4*n), r.ad3)
		if r.q81 {
			ADDQ(U32(4*n), r.as3)
		}
	}
}

func eighth(c *consts) Register {
	g := GP32()
	MOVL(U32(0x3e000000), g) // 0.125
	v := c.vec()
	if c.zmm {
		VPBROADCASTD(g, v)
	} else {
		x := XMM()
		VMOVD(g, x)
		VPBROADCASTD(x, v)
	}
	return v
}

// hsum leaves the sum of the 8 floats of y in its low element.
func hsum(y VecVirtual, evex bool) {
	lo, hi := y.AsX(), XMM()
	if evex {
		VEXTRACTF32X4(U8(1), y.AsY(), hi)
	} else {
		VEXTRACTF128(U8(1), y.AsY(), hi)
	}
	VADDPS(hi, lo, lo)
	VMOVHLPS(lo, lo, hi)
	VADDPS(hi, lo, lo)
	VMOVSHDUP(lo, hi)
	VADDSS(hi, lo, lo)
}

// storeRows stores the low floats of acc[r] at y + r*ys*4.
// With add, it adds them to what is there.
func storeRows(acc []VecVirtual, y Register, evex, add bool) {
	ys := Load(Param("ys"), GP64())
	SHLQ(U8(2), ys)
	for r, a := range acc {
		hsum(a, evex)
		var at Mem
		switch r {
		case 0:
			at = Mem{Base: y}
		case 1:
			at = Mem{Base: y, Index: ys, Scale: 1}
		case 2:
			at = Mem{Base: y, Index: ys, Scale: 2}
		case 4:
			at = Mem{Base: y, Index: ys, Scale: 4}
		default:
			t := GP64()
			MOVQ(ys, t)
			IMUL3Q(U32(r), t, t)
			at = Mem{Base: y, Index: t, Scale: 1}
		}
		if add {
			VADDSS(at, a.AsX(), a.AsX())
		}
		VMOVSS(a.AsX(), at)
	}
}

// avx2Kernel generates the AVX2 kernel for weight type wt and nr
// activation rows: nrows consecutive weight rows of nb blocks, row i's
// result for activation row r stored at y[r*ys + i].
func avx2Kernel(wt weight, nr int) {
	name := fmt.Sprintf("%savx2R%d", wt.name, nr)
	TEXT(name, NOSPLIT, qsig)
	Pragma("noescape")
	q81 := wt.mOff != 0
	act := "Q8_0"
	if q81 {
		act = "Q8_1"
	}
	Doc(fmt.Sprintf("%s: nrows %s weight rows of nb blocks (back to back from w) against %d %s activation rows (AVX2).", name, wt.name, nr, act),
		"Activation row r starts at aq + r*k (values), ad + r*nb and as + r*nb (scales, sums);",
		"the result for weight row i and activation row r goes to y[r*ys + i].")

	w := Load(Param("w"), GP64())
	y := Load(Param("y"), GP64())
	cnt := Load(Param("nrows"), GP64())
	nb := GP64()
	rs := newRows(nr, q81)

	c := &consts{}
	c.ones = YMM()
	VPCMPEQW(c.ones, c.ones, c.ones)
	VPSRLW(U8(15), c.ones, c.ones)
	if wt.consts != nil {
		wt.consts(c)
	}
	if q81 {
		c.eighth = eighth(c)
	}
	// With one or two rows, a second accumulator set hides the FMA
	// latency; with three or four the rows already do.
	unroll := 1
	if nr <= 2 {
		unroll = 2
	}
	acc, acc2 := make([]VecVirtual, nr), make([]VecVirtual, nr)
	for r := range acc {
		acc[r] = YMM()
		if unroll == 2 {
			acc2[r] = YMM()
		}
	}

	Label("row")
	Load(Param("nb"), nb)
	rs.reset(nb)
	for r := range acc {
		VXORPS(acc[r], acc[r], acc[r])
		if unroll == 2 {
			VXORPS(acc2[r], acc2[r], acc2[r])
		}
	}
	advance := func(n int) {
		ADDQ(U32(n*wt.bytes), w)
		rs.advance(n)
	}
	if unroll == 2 {
		Label("loopU")
		CMPQ(nb, U8(2))
		JL(LabelRef("loop"))
		blockAVX2(wt, c, w, rs, 0, acc)
		blockAVX2(wt, c, w, rs, 1, acc2)
		advance(2)
		SUBQ(U8(2), nb)
		JMP(LabelRef("loopU"))
	}
	Label("loop")
	TESTQ(nb, nb)
	JZ(LabelRef("store"))
	blockAVX2(wt, c, w, rs, 0, acc)
	advance(1)
	DECQ(nb)
	JMP(LabelRef("loop"))

	Label("store")
	if unroll == 2 {
		for r := range acc {
			VADDPS(acc2[r], acc[r], acc[r])
		}
	}
	storeRows(acc, y, false, false)
	ADDQ(U8(4), y)
	DECQ(cnt)
	JNZ(LabelRef("row"))
	VZEROUPPER()
	RET()
}

// blockAVX2 accumulates block j (relative to the pointers) into acc.
func blockAVX2(wt weight, c *consts, w Register, rs *rows, j int, acc []VecVirtual) {
	off := j * wt.bytes
	dw16, dw := XMM(), YMM()
	VPBROADCASTW(m(w, off), dw16)
	VCVTPH2PS(dw16, dw)
	var mw VecVirtual
	if rs.q81 {
		m16 := XMM()
		mw = YMM()
		VPBROADCASTW(m(w, off+wt.mOff), m16)
		VCVTPH2PS(m16, mw)
		VMULPS(c.eighth, mw, mw)
	}
	q := wt.avx2(w, off, c)
	var absq VecVirtual
	if wt.signed {
		absq = YMM()
		VPSIGNB(q, q, absq)
	}
	for r := range acc {
		p, s := YMM(), YMM()
		if wt.signed {
			sa := YMM()
			VMOVDQU(rs.q(r, 32*j), sa)
			VPSIGNB(q, sa, sa) // a·sign(w)
			VPMADDUBSW(sa, absq, p)
		} else {
			VPMADDUBSW(rs.q(r, 32*j), q, p)
		}
		VPMADDWD(c.ones, p, p)
		VCVTDQ2PS(p, p)
		VBROADCASTSS(rs.d(r, 4*j), s)
		VMULPS(dw, s, s)
		VFMADD231PS(p, s, acc[r])
		if rs.q81 {
			// m·s once per block: mw holds m/8 in all 8 lanes
			sv := YMM()
			VBROADCASTSS(rs.s(r, 4*j), sv)
			VFMADD231PS(mw, sv, acc[r])
		}
	}
}

// prefetchAhead asks for span bytes of the weights M rows ahead of row mi
// of the pass (w + mi*rb): the next pass's row, at the same place. The
// hardware prefetchers stop at page boundaries, and rows are read once.
func prefetchAhead(w, rb2, rb3, rb Register, M, mi, span int) {
	idx := rb // M = 1
	if M == 2 {
		idx = rb2
		if mi == 1 {
			idx = rb3
		}
	}
	for o := 0; o < span; o += 64 {
		PREFETCHT0(Mem{Base: w, Index: idx, Scale: 1, Disp: o})
	}
}

const vsig = "func(w *byte, rb int, ax *byte, as int, nb int, y *float32, ys int, nrows int)"

// vnniKernel generates the AVX-512 VNNI kernel for weight type wt and nr
// activation rows: nrows consecutive weight rows of nb blocks, row i's
// result for activation row r stored at y[r*ys + i].
//
// The activations come in the package's VNNI layout (acts.vx): row r
// starts at ax + r*as, and holds per pair of blocks 192 bytes (per odd
// last block 96): the int8 values (64), each block's scale repeated 8
// times (16 floats), and 16 values x: -128 times the int32 sums of each
// 4 consecutive values (Q8_0), or each block's s repeated 8 times (Q8_1).
// A VPDPBUSD of the unsigned weight bytes u (w + 128 for Q8_0) with the
// values, started from x (Q8_0) or 0, leaves Σ w·a over the block's 8
// lanes; two blocks share a zmm. Weight rows go two at a time (the
// activations are read once for both), then one for an odd last row.
func vnniKernel(wt weight, nr int) {
	name := fmt.Sprintf("%svnniR%d", wt.name, nr)
	TEXT(name, NOSPLIT, vsig)
	Pragma("noescape")
	q81 := wt.mOff != 0
	act := "Q8_0"
	if q81 {
		act = "Q8_1"
	}
	Doc(fmt.Sprintf("%s: nb blocks from the start of each of nrows %s weight rows (w + i*rb) against %d %s activation rows (AVX-512 VNNI).", name, wt.name, nr, act),
		"Activation row r starts at ax + r*as in the VNNI layout (acts.vx);",
		"the result for weight row i and activation row r is added to y[r*ys + i].")

	wr := Load(Param("w"), GP64()) // row 0 of the pass
	w := GP64()                    // moves along it
	y := Load(Param("y"), GP64())
	cnt := Load(Param("nrows"), GP64())
	rb := Load(Param("rb"), GP64())
	// prefetch distances: the same place two rows on (the next pass)
	rb2, rb3 := GP64(), GP64()
	LEAQ(Mem{Base: rb, Index: rb, Scale: 1}, rb2)
	LEAQ(Mem{Base: rb2, Index: rb, Scale: 1}, rb3)
	nb := GP64()
	ax, as, ax3, ax6 := GP64(), GP64(), GP64(), GP64()

	c := &consts{zmm: true}
	c.kHi = K()
	g := GP32()
	MOVL(U32(0xFF00), g)
	KMOVW(g, c.kHi)
	c.kSh = K()
	MOVL(U32(0xFF00FF00), g)
	KMOVD(g, c.kSh)
	if wt.consts != nil {
		wt.consts(c)
	}
	if q81 {
		c.eighth = eighth(c)
	}
	// avo does not treat VPXORD z, z, z as a definition (it reads z), so
	// registers are cleared by copying this one.
	zero := ZMM()
	VPXORD(zero, zero, zero)
	// activation row r: ax + r*as, through ax3 = ax + 3*as and
	// ax6 = ax + 6*as for the rows base + index cannot reach
	row := func(r, disp int) Mem {
		switch r {
		case 0:
			return Mem{Base: ax, Disp: disp}
		case 1:
			return Mem{Base: ax, Index: as, Scale: 1, Disp: disp}
		case 2:
			return Mem{Base: ax, Index: as, Scale: 2, Disp: disp}
		case 3:
			return Mem{Base: ax3, Disp: disp}
		case 4:
			return Mem{Base: ax, Index: as, Scale: 4, Disp: disp}
		case 5:
			return Mem{Base: ax3, Index: as, Scale: 2, Disp: disp}
		case 6:
			return Mem{Base: ax6, Disp: disp}
		}
		return Mem{Base: ax6, Index: as, Scale: 1, Disp: disp}
	}
	// wm addresses weight row mi (0 or 1) of the pass.
	wm := func(mi, off int) Mem {
		if mi == 0 {
			return m(w, off)
		}
		return Mem{Base: w, Index: rb, Scale: 1, Disp: off}
	}

	// pass emits the loop over M weight rows at a time (M = 2, then
	// M = 1 for an odd last row).
	pass := func(M int) {
		sfx := fmt.Sprint(M)
		unroll := 1
		if nr*M <= 2 {
			unroll = 2
		}
		acc := make([][]VecVirtual, unroll)
		for u := range acc {
			acc[u] = make([]VecVirtual, M*nr)
			for i := range acc[u] {
				acc[u][i] = ZMM()
			}
		}
		Label("rows" + sfx)
		CMPQ(cnt, U8(M))
		if M == 2 {
			JL(LabelRef("rows1"))
		} else {
			JL(LabelRef("end"))
		}
		MOVQ(wr, w)
		Load(Param("nb"), nb)
		Load(Param("ax"), ax)
		if nr > 1 {
			Load(Param("as"), as)
		}
		if nr >= 4 {
			LEAQ(Mem{Base: ax, Index: as, Scale: 2}, ax3)
			ADDQ(as, ax3)
		}
		if nr >= 7 {
			LEAQ(Mem{Base: ax3, Index: as, Scale: 2}, ax6)
			ADDQ(as, ax6)
		}
		for u := range acc {
			for _, a := range acc[u] {
				VMOVDQA64(zero, a)
			}
		}
		// blocks accumulates n = 2 blocks (zmm; activation group at
		// disp) or n = 1 block (the ymm halves) from weight block j.
		blocks := func(j, n, disp int, acc []VecVirtual) {
			off := j * wt.bytes
			vec := ZMM
			if n == 1 {
				vec = YMM
			}
			for mi := range M {
				half := func(o int) VecVirtual {
					dh := YMM()
					VPBROADCASTW(wm(mi, off+o), dh.AsX())
					if n == 2 {
						VPBROADCASTW(wm(mi, off+wt.bytes+o), c.kHi, dh)
					}
					v := vec()
					if n == 2 {
						VCVTPH2PS(dh, v)
					} else {
						VCVTPH2PS(dh.AsX(), v)
					}
					return v
				}
				dw := half(0)
				var mw VecVirtual
				if q81 {
					mw = half(wt.mOff)
					VMULPS(c.narrow(c.eighth, n), mw, mw)
				}
				u := wt.z(wm(mi, off), n, c.width(n))
				sz := 32 * n // bytes of each part
				for r := range nr {
					var a Register = acc[mi*nr+r]
					if n == 1 {
						a = acc[mi*nr+r].AsY()
					}
					p := vec()
					if wt.zshift != 0 {
						VMOVDQU32(row(r, disp+2*sz), p) // -128·Σa per 4
					} else if n == 2 {
						VMOVDQA64(zero, p)
					} else {
						VMOVDQA64(zero.AsY(), p)
					}
					VPDPBUSD(row(r, disp), u, p)
					VCVTDQ2PS(p, p)
					s := vec()
					VMULPS(row(r, disp+sz), dw, s)
					VFMADD231PS(p, s, a)
					if q81 {
						VFMADD231PS(row(r, disp+2*sz), mw, a)
					}
				}
			}
		}
		advance := func(pairs int) {
			ADDQ(U32(2*pairs*wt.bytes), w)
			ADDQ(U32(192*pairs), ax)
			if nr >= 4 {
				ADDQ(U32(192*pairs), ax3)
			}
			if nr >= 7 {
				ADDQ(U32(192*pairs), ax6)
			}
		}
		if unroll == 2 {
			Label("loopU" + sfx)
			CMPQ(nb, U8(4))
			JL(LabelRef("loop" + sfx))
			for mi := range M {
				prefetchAhead(w, rb2, rb3, rb, M, mi, 4*wt.bytes)
			}
			blocks(0, 2, 0, acc[0])
			blocks(2, 2, 192, acc[1])
			advance(2)
			SUBQ(U8(4), nb)
			JMP(LabelRef("loopU" + sfx))
		}
		Label("loop" + sfx)
		CMPQ(nb, U8(2))
		JL(LabelRef("tail" + sfx))
		for mi := range M {
			prefetchAhead(w, rb2, rb3, rb, M, mi, 2*wt.bytes)
		}
		blocks(0, 2, 0, acc[0])
		advance(1)
		SUBQ(U8(2), nb)
		JMP(LabelRef("loop" + sfx))

		Label("tail" + sfx)
		for i, a := range acc[0] {
			if unroll == 2 {
				VADDPS(acc[1][i], a, a)
			}
			hi := YMM()
			VEXTRACTF64X4(U8(1), a, hi)
			VADDPS(hi, a.AsY(), a.AsY())
		}
		TESTQ(nb, nb)
		JZ(LabelRef("store" + sfx))
		blocks(0, 1, 0, acc[0])

		Label("store" + sfx)
		for mi := range M {
			storeRows(acc[0][mi*nr:(mi+1)*nr], y, true, true)
			ADDQ(U8(4), y)
		}
		if M == 2 {
			ADDQ(rb2, wr)
		} else {
			ADDQ(rb, wr)
		}
		SUBQ(U8(M), cnt)
		JMP(LabelRef("rows" + sfx))
	}
	pass(2)
	pass(1)
	Label("end")
	VZEROUPPER()
	RET()
}

// floatType is a float weight type: elems elements of bytes each per vector
// load.
type floatType struct {
	name  string
	bytes int // per element
	// load converts the n (8 or 16) elements at at to float32 in a ymm
	// (n = 8) or zmm (n = 16).
	load func(at Mem, n int) VecVirtual
}

var floatTypes = []floatType{
	{"f32", 4, func(at Mem, n int) VecVirtual {
		v := vecN(n)
		VMOVUPS(at, v)
		return v
	}},
	{"f16", 2, func(at Mem, n int) VecVirtual {
		v := vecN(n)
		VCVTPH2PS(at, v)
		return v
	}},
	{"bf16", 2, func(at Mem, n int) VecVirtual {
		v := vecN(n)
		VPMOVZXWD(at, v)
		VPSLLD(U8(16), v, v)
		return v
	}},
}

func vecN(n int) VecVirtual {
	if n == 16 {
		return ZMM()
	}
	return YMM()
}

const fsig = "func(w *byte, rb int, x *float32, k int, n int, y *float32, ys int, nrows int)"

func floatKernels() {
	for _, ft := range floatTypes {
		for _, zmm := range []bool{false, true} {
			for nr := 1; nr <= 4; nr++ {
				floatKernel(ft, nr, zmm)
			}
		}
	}
}

// floatKernel generates y[r*ys + i] = Σ_{j<n} w_i[j]·x[r*k + j] for nrows
// weight rows w_i = w + i*rb and nr float32 rows, n a multiple of 32
// (AVX2) or 64 (AVX-512); the caller adds the rest. Weight rows go M at
// a time (4 with AVX-512, 2 with AVX2; the activations are loaded once
// for them), then one at a time.
func floatKernel(ft floatType, nr int, zmm bool) {
	isa, tier, lanes, chunk, mMax := "avx2", "AVX2", 8, 32, 2
	if zmm {
		isa, tier, lanes, chunk, mMax = "avx512", "AVX-512", 16, 64, 4
	}
	name := fmt.Sprintf("%s%sR%d", ft.name, isa, nr)
	TEXT(name, NOSPLIT, fsig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s: y[r*ys+i] = Σ_{j<n} w_i[j]·x[r*k+j] for nrows %s weight rows w_i = w + i*rb and %d float32 rows (%s); n is a multiple of %d.",
		name, ft.name, nr, tier, chunk))
	w := Load(Param("w"), GP64())
	rb := Load(Param("rb"), GP64())
	y := Load(Param("y"), GP64())
	cnt := Load(Param("nrows"), GP64())
	rb3, wp := GP64(), GP64()
	LEAQ(Mem{Base: rb, Index: rb, Scale: 2}, rb3)
	x, n := GP64(), GP64()
	var k, x3 Register
	if nr > 1 {
		k = Load(Param("k"), GP64())
		SHLQ(U8(2), k)
	}
	if nr == 4 {
		x3 = GP64()
	}
	xm := func(r, disp int) Mem {
		switch r {
		case 0:
			return Mem{Base: x, Disp: disp}
		case 1:
			return Mem{Base: x, Index: k, Scale: 1, Disp: disp}
		case 2:
			return Mem{Base: x, Index: k, Scale: 2, Disp: disp}
		}
		return Mem{Base: x3, Disp: disp}
	}
	// wrow addresses weight row mi of the pass (from base).
	wrow := func(base Register, mi, disp int) Mem {
		switch mi {
		case 0:
			return Mem{Base: base, Disp: disp}
		case 1:
			return Mem{Base: base, Index: rb, Scale: 1, Disp: disp}
		case 2:
			return Mem{Base: base, Index: rb, Scale: 2, Disp: disp}
		}
		return Mem{Base: base, Index: rb3, Scale: 1, Disp: disp}
	}
	zero := vecN(lanes)
	if zmm {
		VPXORD(zero, zero, zero) // VXORPS zmm would need AVX512DQ
	} else {
		VXORPS(zero, zero, zero)
	}

	pass := func(M int) {
		sfx := fmt.Sprint(M)
		U := 1 // vectors per row per step
		for U < 4 && M*nr*U < 8 {
			U *= 2
		}
		acc := make([][]VecVirtual, U)
		for u := range acc {
			acc[u] = make([]VecVirtual, M*nr)
			for i := range acc[u] {
				acc[u][i] = vecN(lanes)
			}
		}
		Label("rows" + sfx)
		CMPQ(cnt, U8(M))
		if M > 1 {
			JL(LabelRef("rows1"))
		} else {
			JL(LabelRef("end"))
		}
		Load(Param("x"), x)
		Load(Param("n"), n)
		if nr == 4 {
			LEAQ(Mem{Base: x, Index: k, Scale: 2}, x3)
			ADDQ(k, x3)
		}
		// prefetch the next pass's rows, at the same place
		MOVQ(rb, wp)
		if M == 4 {
			SHLQ(U8(2), wp)
		} else if M == 2 {
			SHLQ(U8(1), wp)
		}
		ADDQ(w, wp)
		for u := range acc {
			for _, a := range acc[u] {
				if zmm {
					VMOVAPS(zero, a)
				} else {
					VXORPS(a, a, a)
				}
			}
		}
		Label("loop" + sfx)
		TESTQ(n, n)
		JZ(LabelRef("store" + sfx))
		step := U * lanes // elements per row
		for mi := range M {
			for o := 0; o < step*ft.bytes; o += 64 {
				PREFETCHT0(wrow(wp, mi, o))
			}
		}
		for u := range U {
			xs := make([]VecVirtual, nr)
			for r := range nr {
				xs[r] = vecN(lanes)
				VMOVUPS(xm(r, 4*lanes*u), xs[r])
			}
			for mi := range M {
				wv := ft.load(wrow(w, mi, u*lanes*ft.bytes), lanes)
				for r := range nr {
					VFMADD231PS(xs[r], wv, acc[u][mi*nr+r])
				}
			}
		}
		ADDQ(U32(step*ft.bytes), w)
		ADDQ(U32(step*ft.bytes), wp)
		ADDQ(U32(4*step), x)
		if nr == 4 {
			ADDQ(U32(4*step), x3)
		}
		SUBQ(U32(step), n)
		JMP(LabelRef("loop" + sfx))

		Label("store" + sfx)
		for i, a := range acc[0] {
			for u := 1; u < U; u++ {
				VADDPS(acc[u][i], a, a)
			}
			if zmm {
				hi := YMM()
				VEXTRACTF64X4(U8(1), a, hi)
				VADDPS(hi, a.AsY(), a.AsY())
			}
		}
		// w is at the end of row 0 (the start of row 1)
		Load(Param("n"), n)
		IMUL3Q(U32(ft.bytes), n, n)
		NEGQ(n)
		ADDQ(n, w) // back to row 0
		for mi := range M {
			storeRows(acc[0][mi*nr:(mi+1)*nr], y, zmm, true)
			ADDQ(U8(4), y)
			ADDQ(rb, w)
		}
		SUBQ(U8(M), cnt)
		JMP(LabelRef("rows" + sfx))
	}
	for M := mMax; M >= 1; M /= 2 {
		if M == 2 && mMax == 4 {
			continue
		}
		pass(M)
	}
	Label("end")
	VZEROUPPER()
	RET()
}

// quantKernels generates the activation quantizer and the VNNI layout
// builder (AVX2 + F16C; both tiers use them).
func quantKernels() {
	quantQ8()
	buildVX()
}

// quantQ8 quantizes nb blocks of 32 float32 at x as quantizeBlock32 does:
// amax, id = 127/amax (0 when amax is 0), q = round-to-even(x·id), and
// stores q, d = fp16Round(amax/127) and, when s is not nil,
// s = fp16Round((amax/127)·Σq).
func quantQ8() {
	TEXT("quantQ8avx2", NOSPLIT, "func(x *float32, nb int, q *int8, d *float32, s *float32)")
	Pragma("noescape")
	Doc("quantQ8avx2 quantizes nb blocks of 32 values at x to Q8_0 (s nil) or Q8_1 (see quantizeActs).")
	x := Load(Param("x"), GP64())
	nb := Load(Param("nb"), GP64())
	q := Load(Param("q"), GP64())
	d := Load(Param("d"), GP64())
	s := Load(Param("s"), GP64())

	g := GP32()
	absMask := YMM()
	MOVL(U32(0x7fffffff), g)
	t := XMM()
	VMOVD(g, t)
	VPBROADCASTD(t, absMask)
	c127 := XMM()
	MOVL(U32(0x42fe0000), g) // 127.0
	VMOVD(g, c127)
	perm := YMM()
	VMOVDQU(packPerm, perm)

	Label("block")
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	v := make([]VecVirtual, 4)
	for i := range v {
		v[i] = YMM()
		VMOVUPS(m(x, 32*i), v[i])
	}
	a0, a1 := YMM(), YMM()
	VANDPS(absMask, v[0], a0)
	VANDPS(absMask, v[1], a1)
	VMAXPS(a1, a0, a0)
	VANDPS(absMask, v[2], a1)
	VMAXPS(a1, a0, a0)
	VANDPS(absMask, v[3], a1)
	VMAXPS(a1, a0, a0)
	h := XMM()
	VEXTRACTF128(U8(1), a0, h)
	VMAXPS(h, a0.AsX(), h)
	l := XMM()
	VMOVHLPS(h, h, l)
	VMAXPS(l, h, h)
	VMOVSHDUP(h, l)
	VMAXSS(l, h, h) // amax
	dd, id := XMM(), XMM()
	VDIVSS(c127, h, dd) // amax/127
	VDIVSS(h, c127, id) // 127/amax
	z := XMM()
	VXORPS(z, z, z)
	VCMPSS(U8(4), z, h, z) // amax != 0
	VANDPS(z, id, id)
	idv := YMM()
	VBROADCASTSS(id, idv)
	for i := range v {
		VMULPS(idv, v[i], v[i])
		VCVTPS2DQ(v[i], v[i])
	}
	// Σq, for Q8_1
	TESTQ(s, s)
	JZ(LabelRef("pack"))
	sum := YMM()
	VPADDD(v[1], v[0], sum)
	VPADDD(v[2], sum, sum)
	VPADDD(v[3], sum, sum)
	hs := XMM()
	VEXTRACTI128(U8(1), sum, hs)
	VPADDD(hs, sum.AsX(), hs)
	ls := XMM()
	VPSHUFD(U8(0x4e), hs, ls)
	VPADDD(ls, hs, hs)
	VPSHUFD(U8(0xb1), hs, ls)
	VPADDD(ls, hs, hs)
	VCVTDQ2PS(hs, hs)
	VMULSS(dd, hs, hs)
	VCVTPS2PH(U8(0), hs, hs)
	VCVTPH2PS(hs, hs)
	VMOVSS(hs, m(s, 0))
	ADDQ(U8(4), s)

	Label("pack")
	VCVTPS2PH(U8(0), dd, dd)
	VCVTPH2PS(dd, dd)
	VMOVSS(dd, m(d, 0))
	VPACKSSDW(v[1], v[0], v[0])
	VPACKSSDW(v[3], v[2], v[2])
	VPACKSSWB(v[2], v[0], v[0])
	VPERMD(v[0], perm, v[0])
	VMOVDQU(v[0], m(q, 0))
	ADDQ(U8(128), x)
	ADDQ(U8(32), q)
	ADDQ(U8(4), d)
	DECQ(nb)
	JMP(LabelRef("block"))

	Label("done")
	VZEROUPPER()
	RET()
}

var packPerm Mem

func quantTables() {
	packPerm = GLOBL("packPerm", RODATA|NOPTR)
	for i, v := range []uint32{0, 4, 1, 5, 2, 6, 3, 7} {
		DATA(4*i, U32(v))
	}
}

// buildVX writes one row of nb blocks in the acts.vx layout from q, d and
// (Q8_1, s not nil) s; for Q8_0 the x part holds -128 times the sums of
// each 4 consecutive values.
func buildVX() {
	TEXT("buildVXavx2", NOSPLIT, "func(q *int8, d *float32, s *float32, nb int, vx *byte)")
	Pragma("noescape")
	Doc("buildVXavx2 lays out one activation row of nb blocks for the VNNI kernels (see acts.vx).")
	q := Load(Param("q"), GP64())
	d := Load(Param("d"), GP64())
	s := Load(Param("s"), GP64())
	nb := Load(Param("nb"), GP64())
	vx := Load(Param("vx"), GP64())
	ones, neg := YMM(), YMM()
	VPCMPEQW(ones, ones, ones) // int16 -1
	VPABSB(ones, neg)          // bytes 1
	VPSLLW(U8(7), ones, ones)  // int16 -128
	// one block: q at qo, d at do, x at xo relative to vx
	block := func(j, qo, do, xo int) {
		v := YMM()
		VMOVDQU(m(q, 32*j), v)
		VMOVDQU(v, m(vx, qo))
		b := YMM()
		VBROADCASTSS(m(d, 4*j), b)
		VMOVUPS(b, m(vx, do))
		Comment("x")
		xv := YMM()
		// s != 0 was tested by the caller of block
		VPMADDUBSW(v, neg, xv) // pair sums (bytes 1 · q)
		VPMADDWD(ones, xv, xv) // -128 · sums of 4
		VMOVDQU(xv, m(vx, xo))
	}
	blockS := func(j, qo, do, xo int) {
		v := YMM()
		VMOVDQU(m(q, 32*j), v)
		VMOVDQU(v, m(vx, qo))
		b := YMM()
		VBROADCASTSS(m(d, 4*j), b)
		VMOVUPS(b, m(vx, do))
		VBROADCASTSS(m(s, 4*j), b)
		VMOVUPS(b, m(vx, xo))
	}
	for _, q81 := range []bool{false, true} {
		sfx := "0"
		blk := block
		if q81 {
			sfx, blk = "1", blockS
		}
		if !q81 {
			TESTQ(s, s)
			JNZ(LabelRef("pair1"))
		}
		Label("pair" + sfx)
		CMPQ(nb, U8(2))
		JL(LabelRef("odd" + sfx))
		blk(0, 0, 64, 128)
		blk(1, 32, 96, 160)
		ADDQ(U8(64), q)
		ADDQ(U8(8), d)
		if q81 {
			ADDQ(U8(8), s)
		}
		ADDQ(U32(192), vx)
		SUBQ(U8(2), nb)
		JMP(LabelRef("pair" + sfx))
		Label("odd" + sfx)
		TESTQ(nb, nb)
		JZ(LabelRef("done"))
		blk(0, 0, 32, 64)
		JMP(LabelRef("done"))
	}
	Label("done")
	VZEROUPPER()
	RET()
}
