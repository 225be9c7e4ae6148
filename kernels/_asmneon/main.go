// Command _asmneon generates qconv's arm64 Advanced SIMD (NEON) matmul
// kernels. avo has no arm64 back end, so this is plain Go printing Go
// assembler text; instructions the Go assembler lacks (SDOT, SMULL,
// SADALP, SCVTF, by-element FMLA, ...) are written as WORD $0x... with
// the Arm mnemonic in a comment, encoded by the functions in enc.go.
//
// Run from this folder (or use scripts/gen-asm.sh / go generate ./kernels):
//
//	go run . -out ../zneon_arm64.s -stubs ../zneon_arm64.go -pkg kernels
//
// Every kernel computes, for nrows consecutive weight rows of nb blocks
// (back to back from w) and nr = 1..4 rows of quantized activations,
//
//	y[r*ys + i] = Σ_b (weight block b of row i) · (activation block b of row r)
//
// decoding each weight block once for all nr rows. Weight values are
// decoded to int8 in vector registers; products are summed to int32 per
// 4-lane group, converted to float32 and scaled per block with fused
// multiply-adds into per-row float32x4 accumulators, reduced once per
// output.
//
// Each kernel comes in two variants: "neon" runs on every ARMv8 CPU (the
// int8 products are SMULL/SMLAL2 to int16, two products per lane, which
// cannot overflow since |w| <= 128 and |a| <= 127, then SADDLP/SADALP to
// int32), "dot" uses SDOT (FEAT_DotProd, cpu.ARM64.HasASIMDDP).
//
// 32-element blocks (Q8_0, Q4_0, Q5_0, IQ4_NL against Q8_0 activations;
// Q4_1, Q5_1 against Q8_1, whose m·s term goes to lane 0 of the
// accumulator) take two blocks per loop step into two sets of
// accumulators. 256-element blocks (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS
// against Q8_K) sum the sub-block products times their integer scales per
// super-block in int32 (exact), then scale once; the mins of Q2_K, Q4_K
// and Q5_K meet the activations' per-16 sums.
//
// Float kernels (F32, F16, BF16 weights) widen 16 weights per step to
// float32 and accumulate with FMLA against 1..4 float32 rows.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"strings"
)

// gen collects the assembly text and the Go declarations.
type gen struct {
	s     bytes.Buffer
	decls bytes.Buffer
	data  bytes.Buffer
	dot   bool // the variant being generated uses SDOT
}

func (g *gen) op(format string, args ...any) { fmt.Fprintf(&g.s, "\t"+format+"\n", args...) }
func (g *gen) w(i ins)                       { fmt.Fprintf(&g.s, "\tWORD $0x%08x // %s\n", i.word, i.text) }
func (g *gen) label(l string)                { fmt.Fprintf(&g.s, "%s:\n", l) }

// gv is v's Go assembler name with an arrangement ("B16", "S4", ...).
func gv(v V, t string) string { return fmt.Sprintf("V%d.%s", int(v), t) }

func b16(v V) string { return gv(v, "B16") }

func (g *gen) variant() string {
	if g.dot {
		return "dot"
	}
	return "neon"
}

// Quantized kernel arguments (the Go declaration is quantSig).
const quantSig = "(w *byte, aq *int8, ad *float32, ax unsafe.Pointer, nb int, k int, y *float32, ys int, nrows int)"

// General registers of the quantized kernels:
//
//	R0 weights (advances), R1 nb*4, R4 nb, R5 k, R6 y (advances by 4 per
//	weight row), R7 ys*4, R8 weight rows left, R9 blocks left,
//	R10-R13 activation values of rows 0-3, R14-R17 their block scales,
//	R19-R22 their Q8_1 sums s or Q8_K per-16 sums; R2, R3, R23-R25 temporaries.
func aqR(r int) string { return fmt.Sprintf("R%d", 10+r) }
func adR(r int) string { return fmt.Sprintf("R%d", 14+r) }
func axR(r int) string { return fmt.Sprintf("R%d", 19+r) }

// text starts a quantized kernel.
func (g *gen) text(name, doc string) {
	fmt.Fprintf(&g.decls, "// %s\n//\n//go:noescape\nfunc %s%s\n\n", doc, name, quantSig)
	fmt.Fprintf(&g.s, "\n// func %s%s\nTEXT ·%s(SB), NOSPLIT|NOFRAME, $0-72\n", name, quantSig, name)
}

// prologue loads the arguments and the nr activation row pointers; axStride
// is the byte stride of the ax rows as a Go operand ("" when unused).
func (g *gen) prologue(nr int, axStride string) {
	g.op("MOVD w+0(FP), R0")
	g.op("MOVD aq+8(FP), R10")
	g.op("MOVD ad+16(FP), R14")
	if axStride != "" {
		g.op("MOVD ax+24(FP), R19")
	}
	g.op("MOVD nb+32(FP), R4")
	g.op("MOVD k+40(FP), R5")
	g.op("MOVD y+48(FP), R6")
	g.op("MOVD ys+56(FP), R7")
	g.op("MOVD nrows+64(FP), R8")
	g.op("LSL $2, R7, R7")
	g.op("LSL $2, R4, R1")
	for r := 1; r < nr; r++ {
		g.op("ADD R5, %s, %s", aqR(r-1), aqR(r))
		g.op("ADD R1, %s, %s", adR(r-1), adR(r))
		if axStride != "" {
			g.op("ADD %s, %s, %s", axStride, axR(r-1), axR(r))
		}
	}
}

// epilogue reduces the accumulators acc(r), stores them to y, moves to
// the next weight row (the activation pointers have advanced by one row)
// and loops back to row.
func (g *gen) epilogue(nr int, acc func(r int) V, axStride string) {
	g.op("MOVD R6, R2")
	for r := range nr {
		a := acc(r)
		g.w(faddp(a, a, a))
		g.w(faddps(a, a))
		g.op("FMOVS F%d, (R2)", int(a))
		if r < nr-1 {
			g.op("ADD R7, R2")
		}
	}
	g.op("ADD $4, R6")
	for r := range nr {
		g.op("SUB R5, %s", aqR(r))
		g.op("SUB R1, %s", adR(r))
		if axStride != "" {
			g.op("SUB %s, %s", axStride, axR(r))
		}
	}
	g.op("SUBS $1, R8")
	g.op("BNE row")
	g.op("RET")
}

func (g *gen) zero(v V) { g.op("VEOR %s, %s, %s", b16(v), b16(v), b16(v)) }

// dot32 sets t.4s to partial sums of w0·a0 + w1·a1 (32 int8 pairs); u is
// a temporary of the baseline variant.
func (g *gen) dot32(t, u, w0, w1, a0, a1 V) {
	if g.dot {
		g.zero(t)
		g.w(sdot(t, w0, a0))
		g.w(sdot(t, w1, a1))
		return
	}
	g.w(smull8(t, w0, a0))
	g.w(smlal28(t, w0, a0))
	g.w(smull8(u, w1, a1))
	g.w(smlal28(u, w1, a1))
	g.w(saddlp(t, t))
	g.w(sadalp(t, u))
}

// dot16 sets t.4s to partial sums of w·a (16 int8 pairs).
func (g *gen) dot16(t, w, a V) {
	if g.dot {
		g.zero(t)
		g.w(sdot(t, w, a))
		return
	}
	g.w(smull8(t, w, a))
	g.w(smlal28(t, w, a))
	g.w(saddlp(t, t))
}

// actScales loads block scale b of each activation row into lane r of v
// (the row pointers advance by 4).
func (g *gen) actScales(nr int, v V, row func(int) string) {
	for r := range nr {
		g.op("VLD1.P 4(%s), %s.S[%d]", row(r), fmt.Sprintf("V%d", int(v)), r)
	}
}

// ---- 32-element blocks ----

// Vector registers of the 32-element kernels.
const (
	w0, w1   V = 0, 1 // decoded weights, values 0-15 and 16-31
	a0, a1   V = 2, 3 // activation values
	tt, uu   V = 4, 5 // dot temporaries
	vdm      V = 6    // weight d (lane 0) and m (lane 1)
	vdv      V = 7    // activation scales, lane r = row r
	vdscl    V = 8    // d·d_a per row
	vsv      V = 9    // activation sums s (Q8_1)
	vmscl    V = 10   // m·s per row
	vqh      V = 11   // Q5 fifth bits, broadcast
	vlow4    V = 12   // bytes 0x0F
	vbias    V = 13   // bytes 8 (Q4_0) or 16 (Q5)
	vidx0    V = 14   // Q5: byte j/8 of qh for values 0-15
	vidx1    V = 15   // Q5: values 16-31
	vbits    V = 16   // Q5: 1 << j%8
	ve0      V = 18   // float32 {1, 0, 0, 0}
	vtab     V = 19   // IQ4_NL values
	vacc0    V = 20   // accumulators of even blocks, rows 0-3
	vacc1    V = 24   // odd blocks
	vraw     V = 28   // packed weight bytes
	vscratch V = 29
)

type t32 struct {
	name   string
	bb     int
	q81    bool // Q8_1 partner: fp16 m after d, activation sums s
	consts func(g *gen)
	// decode reads one block from R0 (advancing it): d (Q8_1: d | m<<16)
	// into R2, the values as int8 into w0 (0-15) and w1 (16-31).
	decode func(g *gen)
}

// nibbles splits the 16 bytes in vraw into low (w0) and high (w1) nibbles.
func (g *gen) nibbles() {
	g.op("VAND %s, %s, %s", b16(vlow4), b16(vraw), b16(w0))
	g.op("VUSHR $4, %s, %s", b16(vraw), b16(w1))
}

// fifth ors bit j of the 32 bits in R3, as 0x10, into value j.
func (g *gen) fifth() {
	g.op("VDUP R3, V%d.S4", int(vqh))
	g.op("VTBL %s, [%s], %s", b16(vidx0), b16(vqh), b16(a0))
	g.op("VTBL %s, [%s], %s", b16(vidx1), b16(vqh), b16(a1))
	g.op("VCMTST %s, %s, %s", b16(vbits), b16(a0), b16(a0))
	g.op("VCMTST %s, %s, %s", b16(vbits), b16(a1), b16(a1))
	g.op("VAND %s, %s, %s", b16(vbias), b16(a0), b16(a0))
	g.op("VAND %s, %s, %s", b16(vbias), b16(a1), b16(a1))
	g.op("VORR %s, %s, %s", b16(a0), b16(w0), b16(w0))
	g.op("VORR %s, %s, %s", b16(a1), b16(w1), b16(w1))
}

func (g *gen) subBias() {
	g.op("VSUB %s, %s, %s", b16(vbias), b16(w0), b16(w0))
	g.op("VSUB %s, %s, %s", b16(vbias), b16(w1), b16(w1))
}

func (g *gen) q5Consts() {
	g.op("VMOVI $15, %s", b16(vlow4))
	g.op("VMOVI $16, %s", b16(vbias))
	g.op("MOVD $neonQ5Bits<>(SB), R2")
	g.op("VLD1 (R2), [%s, %s, %s]", b16(vidx0), b16(vidx1), b16(vbits))
}

var types32 = []t32{
	{name: "q8_0", bb: 34,
		consts: func(g *gen) {},
		decode: func(g *gen) {
			g.op("MOVHU.P 2(R0), R2")
			g.op("VLD1.P 32(R0), [%s, %s]", b16(w0), b16(w1))
		}},
	{name: "q4_0", bb: 18,
		consts: func(g *gen) {
			g.op("VMOVI $15, %s", b16(vlow4))
			g.op("VMOVI $8, %s", b16(vbias))
		},
		decode: func(g *gen) {
			g.op("MOVHU.P 2(R0), R2")
			g.op("VLD1.P 16(R0), [%s]", b16(vraw))
			g.nibbles()
			g.subBias()
		}},
	{name: "q4_1", bb: 20, q81: true,
		consts: func(g *gen) { g.op("VMOVI $15, %s", b16(vlow4)) },
		decode: func(g *gen) {
			g.op("MOVWU.P 4(R0), R2")
			g.op("VLD1.P 16(R0), [%s]", b16(vraw))
			g.nibbles()
		}},
	{name: "q5_0", bb: 22,
		consts: func(g *gen) { g.q5Consts() },
		decode: func(g *gen) {
			g.op("MOVHU.P 2(R0), R2")
			g.op("MOVWU.P 4(R0), R3")
			g.op("VLD1.P 16(R0), [%s]", b16(vraw))
			g.nibbles()
			g.fifth()
			g.subBias()
		}},
	{name: "q5_1", bb: 24, q81: true,
		consts: func(g *gen) { g.q5Consts() },
		decode: func(g *gen) {
			g.op("MOVWU.P 4(R0), R2")
			g.op("MOVWU.P 4(R0), R3")
			g.op("VLD1.P 16(R0), [%s]", b16(vraw))
			g.nibbles()
			g.fifth()
		}},
	{name: "iq4_nl", bb: 18,
		consts: func(g *gen) {
			g.op("VMOVI $15, %s", b16(vlow4))
			g.op("MOVD $neonIQ4NL<>(SB), R2")
			g.op("VLD1 (R2), [%s]", b16(vtab))
		},
		decode: func(g *gen) {
			g.op("MOVHU.P 2(R0), R2")
			g.op("VLD1.P 16(R0), [%s]", b16(vraw))
			g.nibbles()
			g.op("VTBL %s, [%s], %s", b16(w0), b16(vtab), b16(w0))
			g.op("VTBL %s, [%s], %s", b16(w1), b16(vtab), b16(w1))
		}},
}

// block32 emits one block of every row into accumulator set acc.
func (g *gen) block32(t t32, nr int, acc V) {
	t.decode(g)
	g.op("FMOVS R2, F%d", int(vdm))
	g.w(fcvtl(vdm, vdm))
	g.actScales(nr, vdv, adR)
	g.w(fmule(vdscl, vdv, vdm, 0))
	if t.q81 {
		g.actScales(nr, vsv, axR)
		g.w(fmule(vmscl, vsv, vdm, 1))
	}
	for r := range nr {
		g.op("VLD1.P 32(%s), [%s, %s]", aqR(r), b16(a0), b16(a1))
		g.dot32(tt, uu, w0, w1, a0, a1)
		g.w(scvtf(tt, tt))
		g.w(fmlae(acc+V(r), tt, vdscl, r))
		if t.q81 {
			g.w(fmlae(acc+V(r), ve0, vmscl, r))
		}
	}
}

func (g *gen) kernel32(t t32, nr int) {
	name := fmt.Sprintf("%s%sR%d", t.name, g.variant(), nr)
	partner := "Q8_0"
	axStride := ""
	if t.q81 {
		partner, axStride = "Q8_1", "R1"
	}
	g.text(name, fmt.Sprintf("%s: %s weights against %d row(s) of %s activations (%s).", name, strings.ToUpper(t.name), nr, partner, g.variant()))
	g.prologue(nr, axStride)
	t.consts(g)
	if t.q81 {
		g.op("FMOVS $1.0, F%d", int(ve0))
	}
	g.label("row")
	for r := range nr {
		g.zero(vacc0 + V(r))
		g.zero(vacc1 + V(r))
	}
	g.op("MOVD R4, R9")
	g.op("CMP $2, R9")
	g.op("BLT tail")
	g.label("pair")
	g.block32(t, nr, vacc0)
	g.block32(t, nr, vacc1)
	g.op("SUB $2, R9")
	g.op("CMP $2, R9")
	g.op("BGE pair")
	g.label("tail")
	g.op("CBZ R9, done")
	g.block32(t, nr, vacc0)
	g.label("done")
	for r := range nr {
		g.w(fadd(vacc0+V(r), vacc0+V(r), vacc1+V(r)))
	}
	g.epilogue(nr, func(r int) V { return vacc0 + V(r) }, axStride)
}

// ---- 256-element blocks (Q8_K activations) ----

// Vector registers of the K-quant kernels.
const (
	kw    V = 0  // decoded weights: 4 (Q4_K, Q5_K) or Q6_K's 2 at kw6
	ka    V = 4  // activation values (4)
	kt    V = 8  // dot temporaries (4)
	klow4 V = 12 // bytes 0x0F
	kdm   V = 13 // d (lane 0), dmin (lane 1)
	kdv   V = 14 // activation scales, lane r = row r
	kdscl V = 15 // d·d_a per row
	kmscl V = 16 // dmin·d_a per row
	ksc   V = 17 // integer scales as int32, 2 registers (Q6_K: 4 at 18)
	kmins V = 19 // Q4_K/Q5_K mins as int16
	kscr  V = 20 // scratch (3); Q5_K's fifth bits after the scales
	kx10  V = 23 // Q5_K: bytes 0x10
	kisum V = 24 // integer sums (4; see scaleSum)
	kacc  V = 28 // accumulators, rows 0-3
	k6q   V = 0  // Q6_K: ql (4)
	k6h   V = 4  // Q6_K: qh (2)
	k6w   V = 6  // Q6_K: decoded weights (2)
	k6a   V = 8  // Q6_K: activation values (2)
	k6t   V = 10 // Q6_K: dot temporaries (2)
	k6x30 V = 13 // Q6_K: bytes 0x30
	k6x20 V = 16 // Q6_K: bytes 32
	k6d   V = 17 // Q6_K: d
	k6sc  V = 18 // Q6_K: 16 scales as int32 (4)
	k6scr V = 22 // Q6_K: scratch (2)
)

// scaleSum adds the int32x4 products p times integer scale j (lane j%4 of
// sc+j/4) into row r's integer sums. With fewer than 4 rows each row
// keeps 4/nr accumulators (scale j goes to accumulator j mod 4/nr), which
// shortens the multiply-accumulate chains; the first product of each
// accumulator in a super-block is a plain multiply.
func (g *gen) scaleSum(nr, r int, p, sc V, j int) {
	nacc := 4 / nr
	acc := kisum + V(r+nr*(j%nacc))
	if j < nacc {
		g.w(mule(acc, p, sc+V(j/4), j%4))
	} else {
		g.w(mlae(acc, p, sc+V(j/4), j%4))
	}
}

// sumAccs folds row r's integer sums into kisum+r.
func (g *gen) sumAccs(nr, r int) {
	for q := 1; q < 4/nr; q++ {
		a := kisum + V(r)
		g.op("VADD %s, %s, %s", gv(a+V(nr*q), "S4"), gv(a, "S4"), gv(a, "S4"))
	}
}

// scalesK4 decodes the 12 scale bytes of Q4_K/Q5_K at R0 (advancing it)
// into sc0-3, sc4-7 (int32, ksc and ksc+1) and mn0-7 (int16, kmins).
func (g *gen) scalesK4() {
	g.op("MOVD.P 8(R0), R3")   // bytes 0-7: low 6 bits of sc0-3, mn0-3; top 2 bits of sc4-7, mn4-7
	g.op("MOVWU.P 4(R0), R23") // bytes 8-11: low 4 bits of sc4-7 (low nibbles), mn4-7 (high)
	g.op("AND $0x3f3f3f3f3f3f3f3f, R3, R24")
	g.op("LSR $6, R3, R25")
	g.op("AND $0x0303030303030303, R25, R25")
	g.op("LSL $4, R25, R25")
	g.op("LSRW $4, R23, R3")
	g.op("ORR R3<<32, R23, R3")
	g.op("AND $0x0f0f0f0f0f0f0f0f, R3, R3")
	g.op("ORR R25, R3, R3")
	g.op("FMOVD R24, F%d", int(kscr))    // sc0-3 | mn0-3
	g.op("VMOV R3, V%d.D[1]", int(kscr)) // sc4-7 | mn4-7
	g.op("VUXTL %s, %s", gv(kscr, "B8"), gv(kscr+1, "H8"))
	g.op("VUXTL2 %s, %s", gv(kscr, "B16"), gv(kscr+2, "H8"))
	g.op("VUXTL %s, %s", gv(kscr+1, "H4"), gv(ksc, "S4"))
	g.op("VUXTL %s, %s", gv(kscr+2, "H4"), gv(ksc+1, "S4"))
	g.op("VZIP2 %s, %s, %s", gv(kscr+2, "D2"), gv(kscr+1, "D2"), gv(kmins, "D2"))
}

// highBit ors ((h >> b) & 1) << 4 into w (kx10 holds bytes 0x10).
func (g *gen) highBit(w, h V, b int, tmp V) {
	switch {
	case b < 4:
		g.op("VSHL $%d, %s, %s", 4-b, b16(h), b16(tmp))
		g.op("VAND %s, %s, %s", b16(kx10), b16(tmp), b16(tmp))
	case b == 4:
		g.op("VAND %s, %s, %s", b16(kx10), b16(h), b16(tmp))
	default:
		g.op("VUSHR $%d, %s, %s", b-4, b16(h), b16(tmp))
		g.op("VAND %s, %s, %s", b16(kx10), b16(tmp), b16(tmp))
	}
	g.op("VORR %s, %s, %s", b16(tmp), b16(w), b16(w))
}

// superQ4K emits one Q4_K (or Q5_K) super-block of every row.
func (g *gen) superQ4K(nr int, q5 bool) {
	g.op("MOVWU.P 4(R0), R2") // d | dmin<<16
	g.scalesK4()
	g.op("FMOVS R2, F%d", int(kdm))
	g.w(fcvtl(kdm, kdm))
	g.actScales(nr, kdv, adR)
	g.w(fmule(kdscl, kdv, kdm, 0))
	g.w(fmule(kmscl, kdv, kdm, 1))
	if q5 {
		g.op("VLD1.P 32(R0), [%s, %s]", b16(kscr), b16(kscr+1)) // qh
	}
	for c := range 4 {
		// 32 bytes: values 64c+l (low nibbles), 64c+32+l (high)
		g.op("VLD1.P 32(R0), [%s, %s]", b16(kw+2), b16(kw+3))
		g.op("VAND %s, %s, %s", b16(klow4), b16(kw+2), b16(kw))
		g.op("VAND %s, %s, %s", b16(klow4), b16(kw+3), b16(kw+1))
		g.op("VUSHR $4, %s, %s", b16(kw+2), b16(kw+2))
		g.op("VUSHR $4, %s, %s", b16(kw+3), b16(kw+3))
		if q5 {
			g.highBit(kw, kscr, 2*c, kt)
			g.highBit(kw+1, kscr+1, 2*c, kt+1)
			g.highBit(kw+2, kscr, 2*c+1, kt+2)
			g.highBit(kw+3, kscr+1, 2*c+1, kt+3)
		}
		for r := range nr {
			g.op("VLD1.P 64(%s), [%s, %s, %s, %s]", aqR(r), b16(ka), b16(ka+1), b16(ka+2), b16(ka+3))
			g.dot32(kt, kt+1, kw, kw+1, ka, ka+1)
			g.dot32(kt+2, kt+3, kw+2, kw+3, ka+2, ka+3)
			g.scaleSum(nr, r, kt, ksc, 2*c)
			g.scaleSum(nr, r, kt+2, ksc, 2*c+1)
		}
	}
	for r := range nr {
		// Σ mn_j·(per-32 activation sums): the bsums pairwise added
		g.op("VLD1.P 32(%s), [%s, %s]", axR(r), gv(ka, "H8"), gv(ka+1, "H8"))
		g.op("VADDP %s, %s, %s", gv(ka+1, "H8"), gv(ka, "H8"), gv(ka, "H8"))
		g.w(smull16(kt, kmins, ka))
		g.w(smlal216(kt, kmins, ka))
		g.w(scvtf(kt, kt))
		g.w(fmlse(kacc+V(r), kt, kmscl, r))
		g.sumAccs(nr, r)
		g.w(scvtf(kisum+V(r), kisum+V(r)))
		g.w(fmlae(kacc+V(r), kisum+V(r), kdscl, r))
	}
}

// q6hi sets tmp to bits 2g, 2g+1 of h at 0x30.
func (g *gen) q6hi(tmp, h V, grp int) {
	switch grp {
	case 0:
		g.op("VSHL $4, %s, %s", b16(h), b16(tmp))
		g.op("VAND %s, %s, %s", b16(k6x30), b16(tmp), b16(tmp))
	case 1:
		g.op("VSHL $2, %s, %s", b16(h), b16(tmp))
		g.op("VAND %s, %s, %s", b16(k6x30), b16(tmp), b16(tmp))
	case 2:
		g.op("VAND %s, %s, %s", b16(k6x30), b16(h), b16(tmp))
	case 3:
		g.op("VUSHR $2, %s, %s", b16(h), b16(tmp))
		g.op("VAND %s, %s, %s", b16(k6x30), b16(tmp), b16(tmp))
	}
}

// superQ6K emits one Q6_K super-block of every row.
func (g *gen) superQ6K(nr int) {
	g.op("ADD $128, R0, R3") // qh
	g.op("ADD $192, R0, R23")
	g.op("MOVHU 208(R0), R2")
	g.op("VLD1 (R23), [%s]", b16(k6scr))
	g.w(sxtl8(k6scr+1, k6scr))
	g.w(sxtl28(k6scr, k6scr))
	g.w(sxtl16(k6sc, k6scr+1))
	g.w(sxtl216(k6sc+1, k6scr+1))
	g.w(sxtl16(k6sc+2, k6scr))
	g.w(sxtl216(k6sc+3, k6scr))
	g.op("FMOVS R2, F%d", int(k6d))
	g.op("FCVTHS F%d, F%d", int(k6d), int(k6d))
	g.actScales(nr, kdv, adR)
	g.w(fmule(kdscl, kdv, k6d, 0))
	for h := range 2 {
		g.op("VLD1.P 64(R0), [%s, %s, %s, %s]", b16(k6q), b16(k6q+1), b16(k6q+2), b16(k6q+3))
		g.op("VLD1.P 32(R3), [%s, %s]", b16(k6h), b16(k6h+1))
		for grp := range 4 {
			// values 128h + 32grp + l: ql[l] (grp 0, 2) or ql[l+32]
			// (grp 1, 3), low (grp 0, 1) or high nibbles, with bits
			// 2grp, 2grp+1 of qh[l].
			src := k6q + V(2*(grp%2))
			for half := range 2 {
				w := k6w + V(half)
				if grp < 2 {
					g.op("VAND %s, %s, %s", b16(klow4), b16(src+V(half)), b16(w))
				} else {
					g.op("VUSHR $4, %s, %s", b16(src+V(half)), b16(w))
				}
				g.q6hi(k6t, k6h+V(half), grp)
				g.op("VORR %s, %s, %s", b16(k6t), b16(w), b16(w))
				g.op("VSUB %s, %s, %s", b16(k6x20), b16(w), b16(w))
			}
			for r := range nr {
				g.op("VLD1.P 32(%s), [%s, %s]", aqR(r), b16(k6a), b16(k6a+1))
				g.dot16(k6t, k6w, k6a)
				g.dot16(k6t+1, k6w+1, k6a+1)
				g.scaleSum(nr, r, k6t, k6sc, 8*h+2*grp)
				g.scaleSum(nr, r, k6t+1, k6sc, 8*h+2*grp+1)
			}
		}
	}
	g.op("ADD $82, R0") // past qh, scales and d
	for r := range nr {
		g.sumAccs(nr, r)
		g.w(scvtf(kisum+V(r), kisum+V(r)))
		g.w(fmlae(kacc+V(r), kisum+V(r), kdscl, r))
	}
}

// crumbs sets w to bits 2g, 2g+1 of q (k2m3 holds bytes 3).
func (g *gen) crumbs(w, q V, grp int) {
	if grp == 0 {
		g.op("VAND %s, %s, %s", b16(k2m3), b16(q), b16(w))
		return
	}
	g.op("VUSHR $%d, %s, %s", 2*grp, b16(q), b16(w))
	g.op("VAND %s, %s, %s", b16(k2m3), b16(w), b16(w))
}

// Q2_K and Q3_K registers (the others as Q6_K's): the 2-bit planes'
// 32 bytes at k6q, k6q+1; Q3_K's high-bit mask at k6q+2, k6q+3.
const (
	k2m3  V = 12 // bytes 3
	k2x4  V = 13 // Q3_K: bytes 4
	k2x0f V = 13 // Q2_K: bytes 0x0F
	k2dm  V = 17 // Q2_K: d (lane 0), dmin (lane 1); Q3_K: d
	k2mn  V = 22 // Q2_K: mins as int16 (2)
	k3x0f V = 16 // Q3_K: bytes 0x0F
	k3shA V = 22 // Q3_K: per-byte shifts for the low scale nibbles
	k3shB V = 23 // Q3_K: per-byte shifts for the high scale bits
	k2scr V = 4  // scratch (2)
)

// superQ2K emits one Q2_K super-block of every row.
func (g *gen) superQ2K(nr int) {
	g.op("VLD1.P 16(R0), [%s]", b16(k2scr)) // scales: low nibble scale, high nibble min
	g.op("VAND %s, %s, %s", b16(k2x0f), b16(k2scr), b16(k2scr+1))
	g.op("VUSHR $4, %s, %s", b16(k2scr), b16(k2scr))
	g.op("VUXTL %s, %s", gv(k2scr, "B8"), gv(k2mn, "H8"))
	g.op("VUXTL2 %s, %s", gv(k2scr, "B16"), gv(k2mn+1, "H8"))
	g.op("VUXTL %s, %s", gv(k2scr+1, "B8"), gv(k2scr, "H8"))
	g.op("VUXTL2 %s, %s", gv(k2scr+1, "B16"), gv(k2scr+1, "H8"))
	g.op("VUXTL %s, %s", gv(k2scr, "H4"), gv(k6sc, "S4"))
	g.op("VUXTL2 %s, %s", gv(k2scr, "H8"), gv(k6sc+1, "S4"))
	g.op("VUXTL %s, %s", gv(k2scr+1, "H4"), gv(k6sc+2, "S4"))
	g.op("VUXTL2 %s, %s", gv(k2scr+1, "H8"), gv(k6sc+3, "S4"))
	g.op("MOVWU 64(R0), R2") // d | dmin<<16, after the 64 quant bytes
	g.op("FMOVS R2, F%d", int(k2dm))
	g.w(fcvtl(k2dm, k2dm))
	g.actScales(nr, kdv, adR)
	g.w(fmule(kdscl, kdv, k2dm, 0))
	g.w(fmule(kmscl, kdv, k2dm, 1))
	for h := range 2 {
		g.op("VLD1.P 32(R0), [%s, %s]", b16(k6q), b16(k6q+1))
		for grp := range 4 {
			g.crumbs(k6w, k6q, grp)
			g.crumbs(k6w+1, k6q+1, grp)
			for r := range nr {
				g.op("VLD1.P 32(%s), [%s, %s]", aqR(r), b16(k6a), b16(k6a+1))
				g.dot16(k6t, k6w, k6a)
				g.dot16(k6t+1, k6w+1, k6a+1)
				g.scaleSum(nr, r, k6t, k6sc, 8*h+2*grp)
				g.scaleSum(nr, r, k6t+1, k6sc, 8*h+2*grp+1)
			}
		}
	}
	g.op("ADD $4, R0") // past d, dmin
	for r := range nr {
		// Σ mn_j·bsum_j over the 16 groups
		g.op("VLD1.P 32(%s), [%s, %s]", axR(r), gv(k6a, "H8"), gv(k6a+1, "H8"))
		g.w(smull16(k6t, k2mn, k6a))
		g.w(smlal216(k6t, k2mn, k6a))
		g.w(smlal16(k6t, k2mn+1, k6a+1))
		g.w(smlal216(k6t, k2mn+1, k6a+1))
		g.w(scvtf(k6t, k6t))
		g.w(fmlse(kacc+V(r), k6t, kmscl, r))
		g.sumAccs(nr, r)
		g.w(scvtf(kisum+V(r), kisum+V(r)))
		g.w(fmlae(kacc+V(r), kisum+V(r), kdscl, r))
	}
}

// superQ3K emits one Q3_K super-block of every row.
func (g *gen) superQ3K(nr int) {
	g.op("VLD1.P 32(R0), [%s, %s]", b16(k6q+2), b16(k6q+3)) // hmask
	// After the 64 quant bytes: 12 scale bytes, d.
	g.op("MOVD 64(R0), R3")
	g.op("MOVWU 72(R0), R23")
	g.op("MOVHU 76(R0), R2")
	// Scale j: low 4 bits from byte j%8 (>> 4 for j >= 8), high 2 bits
	// from byte 8 + j%4 >> 2(j/4); minus 32.
	g.op("VDUP R3, V%d.D2", int(k2scr))
	g.w(ushl(k2scr, k2scr, k3shA))
	g.op("VAND %s, %s, %s", b16(k3x0f), b16(k2scr), b16(k2scr))
	g.op("VDUP R23, V%d.S4", int(k2scr+1))
	g.w(ushl(k2scr+1, k2scr+1, k3shB))
	g.op("VAND %s, %s, %s", b16(k2m3), b16(k2scr+1), b16(k2scr+1))
	g.op("VSHL $4, %s, %s", b16(k2scr+1), b16(k2scr+1))
	g.op("VORR %s, %s, %s", b16(k2scr+1), b16(k2scr), b16(k2scr))
	g.op("VMOVI $32, %s", b16(k6t))
	g.op("VSUB %s, %s, %s", b16(k6t), b16(k2scr), b16(k2scr))
	g.w(sxtl8(k2scr+1, k2scr))
	g.w(sxtl28(k2scr, k2scr))
	g.w(sxtl16(k6sc, k2scr+1))
	g.w(sxtl216(k6sc+1, k2scr+1))
	g.w(sxtl16(k6sc+2, k2scr))
	g.w(sxtl216(k6sc+3, k2scr))
	g.op("FMOVS R2, F%d", int(k2dm))
	g.op("FCVTHS F%d, F%d", int(k2dm), int(k2dm))
	g.actScales(nr, kdv, adR)
	g.w(fmule(kdscl, kdv, k2dm, 0))
	for h := range 2 {
		g.op("VLD1.P 32(R0), [%s, %s]", b16(k6q), b16(k6q+1))
		for grp := range 4 {
			// crumb | 4 where bit 4h+grp of hmask[l] is set, minus 4
			b := 4*h + grp
			for half := range 2 {
				w, hm := k6w+V(half), k6q+2+V(half)
				g.crumbs(w, k6q+V(half), grp)
				switch {
				case b < 2:
					g.op("VSHL $%d, %s, %s", 2-b, b16(hm), b16(k6t))
					g.op("VAND %s, %s, %s", b16(k2x4), b16(k6t), b16(k6t))
				case b == 2:
					g.op("VAND %s, %s, %s", b16(k2x4), b16(hm), b16(k6t))
				default:
					g.op("VUSHR $%d, %s, %s", b-2, b16(hm), b16(k6t))
					g.op("VAND %s, %s, %s", b16(k2x4), b16(k6t), b16(k6t))
				}
				g.op("VORR %s, %s, %s", b16(k6t), b16(w), b16(w))
				g.op("VSUB %s, %s, %s", b16(k2x4), b16(w), b16(w))
			}
			for r := range nr {
				g.op("VLD1.P 32(%s), [%s, %s]", aqR(r), b16(k6a), b16(k6a+1))
				g.dot16(k6t, k6w, k6a)
				g.dot16(k6t+1, k6w+1, k6a+1)
				g.scaleSum(nr, r, k6t, k6sc, 8*h+2*grp)
				g.scaleSum(nr, r, k6t+1, k6sc, 8*h+2*grp+1)
			}
		}
	}
	g.op("ADD $14, R0") // past the scales and d
	for r := range nr {
		g.sumAccs(nr, r)
		g.w(scvtf(kisum+V(r), kisum+V(r)))
		g.w(fmlae(kacc+V(r), kisum+V(r), kdscl, r))
	}
}

// IQ4_XS registers (besides the 32-element kernels' w0-uu).
const (
	kxraw  V = 6  // packed weight bytes
	kxscr  V = 7  // scratch
	kxidx  V = 16 // TBL indices picking the scale bytes
	kxsh   V = 17 // their per-byte shifts
	kxmask V = 18 // and masks
	kxtab  V = 19 // IQ4_NL values
	kxsc   V = 20 // 8 scales as int32 (2)
	kxscr2 V = 22 // scratch
	kxd    V = 23 // d
)

// superIQ4XS emits one IQ4_XS super-block of every row.
func (g *gen) superIQ4XS(nr int) {
	// d, scales_h (u16), scales_l (4 bytes): scale ib = (scales_l[ib/2]
	// >> 4(ib%2)) & 15 | ((scales_h >> 2ib) & 3) << 4, minus 32.
	g.op("MOVD.P 8(R0), R3")
	g.op("VDUP R3, V%d.D2", int(kxscr))
	g.op("VTBL %s, [%s], %s", b16(kxidx), b16(kxscr), b16(kxscr))
	g.w(ushl(kxscr, kxscr, kxsh))
	g.op("VAND %s, %s, %s", b16(kxmask), b16(kxscr), b16(kxscr))
	g.op("VEXT $8, %s, %s, %s", b16(kxscr), b16(kxscr), b16(kxscr2))
	g.op("VSHL $4, %s, %s", b16(kxscr2), b16(kxscr2))
	g.op("VORR %s, %s, %s", b16(kxscr2), b16(kxscr), b16(kxscr))
	g.op("VMOVI $32, %s", b16(kxscr2))
	g.op("VSUB %s, %s, %s", b16(kxscr2), b16(kxscr), b16(kxscr))
	g.w(sxtl8(kxscr, kxscr))
	g.w(sxtl16(kxsc, kxscr))
	g.w(sxtl216(kxsc+1, kxscr))
	g.op("FMOVS R3, F%d", int(kxd))
	g.op("FCVTHS F%d, F%d", int(kxd), int(kxd))
	g.actScales(nr, kdv, adR)
	g.w(fmule(kdscl, kdv, kxd, 0))
	for ib := range 8 {
		g.op("VLD1.P 16(R0), [%s]", b16(kxraw))
		g.op("VAND %s, %s, %s", b16(klow4), b16(kxraw), b16(w0))
		g.op("VUSHR $4, %s, %s", b16(kxraw), b16(w1))
		g.op("VTBL %s, [%s], %s", b16(w0), b16(kxtab), b16(w0))
		g.op("VTBL %s, [%s], %s", b16(w1), b16(kxtab), b16(w1))
		for r := range nr {
			g.op("VLD1.P 32(%s), [%s, %s]", aqR(r), b16(a0), b16(a1))
			g.dot32(tt, uu, w0, w1, a0, a1)
			g.scaleSum(nr, r, tt, kxsc, ib)
		}
	}
	for r := range nr {
		g.sumAccs(nr, r)
		g.w(scvtf(kisum+V(r), kisum+V(r)))
		g.w(fmlae(kacc+V(r), kisum+V(r), kdscl, r))
	}
}

type tK struct {
	name   string
	bb     int
	mins   bool // Q8_K per-16 sums needed
	super  func(g *gen, nr int)
	consts func(g *gen)
}

var typesK = []tK{
	{name: "q4_K", bb: 144, mins: true,
		consts: func(g *gen) { g.op("VMOVI $15, %s", b16(klow4)) },
		super:  func(g *gen, nr int) { g.superQ4K(nr, false) }},
	{name: "q5_K", bb: 176, mins: true,
		consts: func(g *gen) {
			g.op("VMOVI $15, %s", b16(klow4))
			g.op("VMOVI $16, %s", b16(kx10))
		},
		super: func(g *gen, nr int) { g.superQ4K(nr, true) }},
	{name: "q2_K", bb: 84, mins: true,
		consts: func(g *gen) {
			g.op("VMOVI $15, %s", b16(k2x0f))
			g.op("VMOVI $3, %s", b16(k2m3))
		},
		super: func(g *gen, nr int) { g.superQ2K(nr) }},
	{name: "q3_K", bb: 110,
		consts: func(g *gen) {
			g.op("VMOVI $3, %s", b16(k2m3))
			g.op("VMOVI $4, %s", b16(k2x4))
			g.op("VMOVI $15, %s", b16(k3x0f))
			g.op("MOVD $neonQ3Shifts<>(SB), R2")
			g.op("VLD1 (R2), [%s, %s]", b16(k3shA), b16(k3shB))
		},
		super: func(g *gen, nr int) { g.superQ3K(nr) }},
	{name: "iq4_xs", bb: 136,
		consts: func(g *gen) {
			g.op("VMOVI $15, %s", b16(klow4))
			g.op("MOVD $neonIQ4NL<>(SB), R2")
			g.op("VLD1 (R2), [%s]", b16(kxtab))
			g.op("MOVD $neonIQ4XS<>(SB), R2")
			g.op("VLD1 (R2), [%s, %s, %s]", b16(kxidx), b16(kxsh), b16(kxmask))
		},
		super: func(g *gen, nr int) { g.superIQ4XS(nr) }},
	{name: "q6_K", bb: 210,
		consts: func(g *gen) {
			g.op("VMOVI $15, %s", b16(klow4))
			g.op("VMOVI $48, %s", b16(k6x30))
			g.op("VMOVI $32, %s", b16(k6x20))
		},
		super: func(g *gen, nr int) { g.superQ6K(nr) }},
}

func (g *gen) kernelK(t tK, nr int) {
	name := fmt.Sprintf("%s%sR%d", t.name, g.variant(), nr)
	// The Q8_K per-16 sums: nb*32 bytes per row.
	axStride := ""
	if t.mins {
		axStride = "R1<<3"
	}
	g.text(name, fmt.Sprintf("%s: %s weights against %d row(s) of Q8_K activations (%s).", name, strings.ToUpper(t.name[:2])+t.name[2:], nr, g.variant()))
	g.prologue(nr, axStride)
	t.consts(g)
	g.label("row")
	for r := range nr {
		g.zero(kacc + V(r))
	}
	g.op("MOVD R4, R9")
	g.label("super")
	t.super(g, nr)
	g.op("SUBS $1, R9")
	g.op("BNE super")
	g.epilogue(nr, func(r int) V { return kacc + V(r) }, axStride)
}

// ---- float weights (F32, F16, BF16) against float32 activations ----

// Float kernel arguments: nrows weight rows (w + i*rb) against nr = 1..4
// float32 rows of x (stride k values) over their first n values (a
// multiple of 16), each result added to y[r*ys + i].
const floatSig = "(w *byte, rb int, x *float32, k int, n int, y *float32, ys int, nrows int)"

type tF struct {
	name string
	size int // bytes per weight
	// load reads 16 weights from R2 (advancing it) into float32 vectors
	// 0-3 (elements 0-3, 4-7, 8-11, 12-15).
	load func(g *gen)
}

var typesF = []tF{
	{name: "f32", size: 4, load: func(g *gen) {
		g.op("VLD1.P 64(R2), [V0.S4, V1.S4, V2.S4, V3.S4]")
	}},
	{name: "f16", size: 2, load: func(g *gen) {
		g.op("VLD1.P 32(R2), [V4.H8, V5.H8]")
		g.w(fcvtl(0, 4))
		g.w(fcvtl2(1, 4))
		g.w(fcvtl(2, 5))
		g.w(fcvtl2(3, 5))
	}},
	{name: "bf16", size: 2, load: func(g *gen) {
		// bf16 << 16: interleave zero halves below the values (V6 = 0)
		g.op("VLD1.P 32(R2), [V4.H8, V5.H8]")
		g.op("VZIP1 V4.H8, V6.H8, V0.H8")
		g.op("VZIP2 V4.H8, V6.H8, V1.H8")
		g.op("VZIP1 V5.H8, V6.H8, V2.H8")
		g.op("VZIP2 V5.H8, V6.H8, V3.H8")
	}},
}

// Float kernels: V0-V3 weights, V4-V5 raw weights, V6 zero, V8-V11 activations,
// V16-V19 and V20-V23 two accumulators per row. R0 weight row, R1 rb,
// R2 weight pointer, R4 n/16, R5 k*4, R6 y, R7 ys*4, R8 rows left, R9
// steps left, R10-R13 activation rows, R19-R22 their pointers.
func (g *gen) kernelF(t tF, nr int) {
	name := fmt.Sprintf("%s%sR%d", t.name, "neon", nr)
	fmt.Fprintf(&g.decls, "// %s: %s weights against %d float32 row(s).\n//\n//go:noescape\nfunc %s%s\n\n", name, strings.ToUpper(t.name), nr, name, floatSig)
	fmt.Fprintf(&g.s, "\n// func %s%s\nTEXT ·%s(SB), NOSPLIT|NOFRAME, $0-64\n", name, floatSig, name)
	g.op("MOVD w+0(FP), R0")
	g.op("MOVD rb+8(FP), R1")
	g.op("MOVD x+16(FP), R10")
	g.op("MOVD k+24(FP), R5")
	g.op("MOVD n+32(FP), R4")
	g.op("MOVD y+40(FP), R6")
	g.op("MOVD ys+48(FP), R7")
	g.op("MOVD nrows+56(FP), R8")
	g.op("LSL $2, R5, R5")
	g.op("LSL $2, R7, R7")
	g.op("LSR $4, R4, R4")
	for r := 1; r < nr; r++ {
		g.op("ADD R5, %s, %s", aqR(r-1), aqR(r))
	}
	acc := func(r, j int) V { return V(16 + 4*j + r) }
	g.zero(6)
	g.label("row")
	g.op("MOVD R0, R2")
	for r := range nr {
		g.op("MOVD %s, %s", aqR(r), axR(r))
		g.zero(acc(r, 0))
		g.zero(acc(r, 1))
	}
	g.op("MOVD R4, R9")
	g.label("loop")
	t.load(g)
	for r := range nr {
		g.op("VLD1.P 64(%s), [V8.S4, V9.S4, V10.S4, V11.S4]", axR(r))
		for j := range 4 {
			a := acc(r, j%2)
			g.op("VFMLA V%d.S4, V%d.S4, V%d.S4", j, 8+j, int(a))
		}
	}
	g.op("SUBS $1, R9")
	g.op("BNE loop")
	g.op("MOVD R6, R3")
	for r := range nr {
		a := acc(r, 0)
		g.w(fadd(a, a, acc(r, 1)))
		g.w(faddp(a, a, a))
		g.w(faddps(a, a))
		g.op("FMOVS (R3), F24")
		g.op("FADDS F%d, F24", int(a))
		g.op("FMOVS F24, (R3)")
		if r < nr-1 {
			g.op("ADD R7, R3")
		}
	}
	g.op("ADD R1, R0")
	g.op("ADD $4, R6")
	g.op("SUBS $1, R8")
	g.op("BNE row")
	g.op("RET")
}

// ---- data ----

func (g *gen) dataBytes(sym string, b []byte) {
	for i := 0; i < len(b); i += 8 {
		var v uint64
		for j := 7; j >= 0; j-- {
			v = v<<8 | uint64(b[i+j])
		}
		fmt.Fprintf(&g.data, "DATA %s<>+%d(SB)/8, $0x%016x\n", sym, i, v)
	}
	fmt.Fprintf(&g.data, "GLOBL %s<>(SB), RODATA|NOPTR, $%d\n\n", sym, len(b))
}

func (g *gen) tables() {
	var q5 []byte
	for j := range 32 { // TBL indices: byte j/8 of qh for value j
		q5 = append(q5, byte(j/8))
	}
	for j := range 16 {
		q5 = append(q5, 1<<(j%8))
	}
	g.dataBytes("neonQ5Bits", q5)
	iq4nl := []int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}
	var t []byte
	for _, v := range iq4nl {
		t = append(t, byte(v))
	}
	g.dataBytes("neonIQ4NL", t)
	var sh []byte
	for j := range 16 { // Q3_K scales: 0 then -4 (bytes 0-7, 8-15)
		sh = append(sh, byte(-4*(j/8)))
	}
	for j := range 16 { // -2·(j/4)
		sh = append(sh, byte(-2*(j/4)))
	}
	g.dataBytes("neonQ3Shifts", sh)
	// IQ4_XS scales, from the block's first 8 bytes (d, scales_h,
	// scales_l): bytes 0-7 the low nibbles of scales_l, 8-15 the crumbs of
	// scales_h.
	xs := []byte{4, 4, 5, 5, 6, 6, 7, 7, 2, 2, 2, 2, 3, 3, 3, 3}
	for j := range 16 { // shifts
		if j < 8 {
			xs = append(xs, byte(-4*(j%2)))
		} else {
			xs = append(xs, byte(-2*(j%4)))
		}
	}
	for j := range 16 { // masks
		xs = append(xs, byte(15>>(2*(j/8))))
	}
	g.dataBytes("neonIQ4XS", xs)
}

func main() {
	out := flag.String("out", "", "assembly output file")
	stubs := flag.String("stubs", "", "Go declarations output file")
	pkg := flag.String("pkg", "kernels", "package name")
	flag.Parse()
	if *out == "" || *stubs == "" {
		log.Fatal("usage: _asmneon -out file.s -stubs file.go [-pkg name]")
	}
	asm, decls, err := generate(*pkg)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, asm, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*stubs, decls, 0o644); err != nil {
		log.Fatal(err)
	}
}

// generate returns the assembly and the (gofmt-formatted) Go declarations.
func generate(pkg string) (asm, decls []byte, err error) {
	g := &gen{}
	g.tables()
	for _, dot := range []bool{false, true} {
		g.dot = dot
		for _, t := range types32 {
			for nr := 1; nr <= 4; nr++ {
				g.kernel32(t, nr)
			}
		}
		for _, t := range typesK {
			for nr := 1; nr <= 4; nr++ {
				g.kernelK(t, nr)
			}
		}
	}
	for _, t := range typesF {
		for nr := 1; nr <= 4; nr++ {
			g.kernelF(t, nr)
		}
	}
	const cmd = "// Code generated by command: go run . -out ../zneon_arm64.s -stubs ../zneon_arm64.go -pkg kernels. DO NOT EDIT.\n\n//go:build !purego\n\n"
	var s bytes.Buffer
	s.WriteString(cmd)
	s.WriteString("#include \"textflag.h\"\n\n")
	s.Write(g.data.Bytes())
	s.Write(g.s.Bytes())
	var d bytes.Buffer
	d.WriteString(cmd)
	fmt.Fprintf(&d, "package %s\n\nimport \"unsafe\"\n\n", pkg)
	d.Write(g.decls.Bytes())
	src, err := format.Source(d.Bytes())
	if err != nil {
		return nil, nil, err
	}
	return s.Bytes(), src, nil
}
