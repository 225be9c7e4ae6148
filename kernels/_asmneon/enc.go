package main

import "fmt"

// Encoders for the Advanced SIMD instructions Go's arm64 assembler does
// not know. Each returns the instruction word and its text in the Arm
// syntax (as llvm-mc prints it; enc_test.go checks both), which the
// generator writes as WORD $0x... // text.

// V is a vector register, V0..V31.
type V int

// arr is v's Arm name with an arrangement ("4s", "16b", ...).
func (v V) arr(t string) string { return fmt.Sprintf("v%d.%s", int(v), t) }

// lane is v's Arm name for one 32-bit lane.
func (v V) lane(i int) string { return fmt.Sprintf("v%d.s[%d]", int(v), i) }

// ins is one encoded instruction.
type ins struct {
	word uint32
	text string
}

// three-register form: Rm at 16, Rn at 5, Rd at 0.
func rrr(base uint32, d, n, m V) uint32 {
	return base | uint32(m)<<16 | uint32(n)<<5 | uint32(d)
}

// two-register form.
func rr(base uint32, d, n V) uint32 { return base | uint32(n)<<5 | uint32(d) }

// by-element form with 32-bit lanes: index i = H:L (bits 11, 21), Rm
// = M:Rm (bits 20:16, all 32 registers).
func relem(base uint32, d, n, m V, i int) uint32 {
	if i < 0 || i > 3 {
		panic("lane index out of range")
	}
	return base | uint32(i&1)<<21 | uint32(m)<<16 | uint32(i>>1)<<11 | uint32(n)<<5 | uint32(d)
}

func check(vs ...V) {
	for _, v := range vs {
		if v < 0 || v > 31 {
			panic(fmt.Sprintf("bad vector register %d", v))
		}
	}
}

// sdot: d.4s += Σ of each 4 signed byte products of n.16b and m.16b
// (the dot-product extension, FEAT_DotProd).
func sdot(d, n, m V) ins {
	check(d, n, m)
	return ins{rrr(0x4e809400, d, n, m), fmt.Sprintf("sdot %s, %s, %s", d.arr("4s"), n.arr("16b"), m.arr("16b"))}
}

// smull8: d.8h = n.8b * m.8b (low halves, signed).
func smull8(d, n, m V) ins {
	check(d, n, m)
	return ins{rrr(0x0e20c000, d, n, m), fmt.Sprintf("smull %s, %s, %s", d.arr("8h"), n.arr("8b"), m.arr("8b"))}
}

// smlal28: d.8h += n.16b * m.16b (high halves, signed).
func smlal28(d, n, m V) ins {
	check(d, n, m)
	return ins{rrr(0x4e208000, d, n, m), fmt.Sprintf("smlal2 %s, %s, %s", d.arr("8h"), n.arr("16b"), m.arr("16b"))}
}

// smull16: d.4s = n.4h * m.4h (low halves, signed).
func smull16(d, n, m V) ins {
	check(d, n, m)
	return ins{rrr(0x0e60c000, d, n, m), fmt.Sprintf("smull %s, %s, %s", d.arr("4s"), n.arr("4h"), m.arr("4h"))}
}

// smlal216: d.4s += n.8h * m.8h (high halves, signed).
func smlal216(d, n, m V) ins {
	check(d, n, m)
	return ins{rrr(0x4e608000, d, n, m), fmt.Sprintf("smlal2 %s, %s, %s", d.arr("4s"), n.arr("8h"), m.arr("8h"))}
}

// saddlp: d.4s = pairwise sums of n.8h (signed).
func saddlp(d, n V) ins {
	check(d, n)
	return ins{rr(0x4e602800, d, n), fmt.Sprintf("saddlp %s, %s", d.arr("4s"), n.arr("8h"))}
}

// sadalp: d.4s += pairwise sums of n.8h (signed).
func sadalp(d, n V) ins {
	check(d, n)
	return ins{rr(0x4e606800, d, n), fmt.Sprintf("sadalp %s, %s", d.arr("4s"), n.arr("8h"))}
}

// scvtf: d.4s = float32(n.4s) (signed).
func scvtf(d, n V) ins {
	check(d, n)
	return ins{rr(0x4e21d800, d, n), fmt.Sprintf("scvtf %s, %s", d.arr("4s"), n.arr("4s"))}
}

// fadd: d.4s = n.4s + m.4s.
func fadd(d, n, m V) ins {
	check(d, n, m)
	return ins{rrr(0x4e20d400, d, n, m), fmt.Sprintf("fadd %s, %s, %s", d.arr("4s"), n.arr("4s"), m.arr("4s"))}
}

// faddp: d.4s = pairwise sums of n.4s then m.4s.
func faddp(d, n, m V) ins {
	check(d, n, m)
	return ins{rrr(0x6e20d400, d, n, m), fmt.Sprintf("faddp %s, %s, %s", d.arr("4s"), n.arr("4s"), m.arr("4s"))}
}

// faddps: s(d) = n.s[0] + n.s[1].
func faddps(d, n V) ins {
	check(d, n)
	return ins{rr(0x7e30d800, d, n), fmt.Sprintf("faddp s%d, %s", int(d), n.arr("2s"))}
}

// fmlae: d.4s += n.4s * m.s[i].
func fmlae(d, n, m V, i int) ins {
	check(d, n, m)
	return ins{relem(0x4f801000, d, n, m, i), fmt.Sprintf("fmla %s, %s, %s", d.arr("4s"), n.arr("4s"), m.lane(i))}
}

// fmlse: d.4s -= n.4s * m.s[i].
func fmlse(d, n, m V, i int) ins {
	check(d, n, m)
	return ins{relem(0x4f805000, d, n, m, i), fmt.Sprintf("fmls %s, %s, %s", d.arr("4s"), n.arr("4s"), m.lane(i))}
}

// fmule: d.4s = n.4s * m.s[i].
func fmule(d, n, m V, i int) ins {
	check(d, n, m)
	return ins{relem(0x4f809000, d, n, m, i), fmt.Sprintf("fmul %s, %s, %s", d.arr("4s"), n.arr("4s"), m.lane(i))}
}

// mule: d.4s = n.4s * m.s[i] (integer).
func mule(d, n, m V, i int) ins {
	check(d, n, m)
	return ins{relem(0x4f808000, d, n, m, i), fmt.Sprintf("mul %s, %s, %s", d.arr("4s"), n.arr("4s"), m.lane(i))}
}

// mlae: d.4s += n.4s * m.s[i] (integer).
func mlae(d, n, m V, i int) ins {
	check(d, n, m)
	return ins{relem(0x6f800000, d, n, m, i), fmt.Sprintf("mla %s, %s, %s", d.arr("4s"), n.arr("4s"), m.lane(i))}
}

// sxtl8: d.8h = n.8b sign-extended (sshll #0).
func sxtl8(d, n V) ins {
	check(d, n)
	return ins{rr(0x0f08a400, d, n), fmt.Sprintf("sshll %s, %s, #0", d.arr("8h"), n.arr("8b"))}
}

// sxtl28: d.8h = n.16b's high half sign-extended (sshll2 #0).
func sxtl28(d, n V) ins {
	check(d, n)
	return ins{rr(0x4f08a400, d, n), fmt.Sprintf("sshll2 %s, %s, #0", d.arr("8h"), n.arr("16b"))}
}

// sxtl16: d.4s = n.4h sign-extended.
func sxtl16(d, n V) ins {
	check(d, n)
	return ins{rr(0x0f10a400, d, n), fmt.Sprintf("sshll %s, %s, #0", d.arr("4s"), n.arr("4h"))}
}

// sxtl216: d.4s = n.8h's high half sign-extended.
func sxtl216(d, n V) ins {
	check(d, n)
	return ins{rr(0x4f10a400, d, n), fmt.Sprintf("sshll2 %s, %s, #0", d.arr("4s"), n.arr("8h"))}
}

// fcvtl: d.4s = float32(n.4h) (binary16 to binary32).
func fcvtl(d, n V) ins {
	check(d, n)
	return ins{rr(0x0e217800, d, n), fmt.Sprintf("fcvtl %s, %s", d.arr("4s"), n.arr("4h"))}
}

// fcvtl2: d.4s = float32(n.8h's high half).
func fcvtl2(d, n V) ins {
	check(d, n)
	return ins{rr(0x4e217800, d, n), fmt.Sprintf("fcvtl2 %s, %s", d.arr("4s"), n.arr("8h"))}
}

// smlal16: d.4s += n.4h * m.4h (low halves, signed).
func smlal16(d, n, m V) ins {
	check(d, n, m)
	return ins{rrr(0x0e608000, d, n, m), fmt.Sprintf("smlal %s, %s, %s", d.arr("4s"), n.arr("4h"), m.arr("4h"))}
}

// ushl: d.16b = n.16b shifted left by the signed bytes of m.16b (right,
// logically, where negative).
func ushl(d, n, m V) ins {
	check(d, n, m)
	return ins{rrr(0x6e204400, d, n, m), fmt.Sprintf("ushl %s, %s, %s", d.arr("16b"), n.arr("16b"), m.arr("16b"))}
}
