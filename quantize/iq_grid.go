package quantize

import (
	"math/bits"

	"github.com/qconv/qconv/gguf"
)

// The codebook types IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S and
// IQ1_M (iq2.go, iq3.go, iq1.go) store, per group of 8 (IQ2, IQ1) or 4
// (IQ3) weights, an index into a fixed grid of points plus signs and
// scales. Their grids are format constants that no rule derives (each
// lists a data-selected subset of the lattice points in increasing order
// of the base-3 / base-8 number formed by the coordinate levels, and none
// is closed under permuting coordinates), so they are transcribed from
// ggml in iq_grid_tables.go and pinned by SHA-256 in the tests.
//
// qconv only dequantizes these types: ggml's quantizers for them need an
// importance matrix and neighbour searches over the grids.
//
// The sign tables are derived by rule instead: ggml's ksigns_iq2xs[i] is
// the 7-bit field i with bit 7 set when i has an odd number of ones (so
// the eight signs have even parity), and kmask_iq2xs[j] is 1<<j; the
// tests check both against ggml's tables.

// iq2Signs expands a 7-bit sign field (IQ2_XXS, IQ2_XS, IQ3_XXS) to the
// 8 sign bits of a group: bit j set means element j is negated.
func iq2Signs(s7 uint32) uint32 {
	s7 &= 127
	return s7 | uint32(bits.OnesCount32(s7)&1)<<7
}

var unsupported = map[gguf.Type]string{
	gguf.TypeI8:  "integer tensor: never converted",
	gguf.TypeI16: "integer tensor: never converted",
	gguf.TypeI32: "integer tensor: never converted",
	gguf.TypeI64: "integer tensor: never converted",
	gguf.TypeF64: "f64 tensor: never converted",
}

// Unsupported reports why qconv cannot convert tensors of type t, for the
// known ggml types that have no DequantizeRow. It returns false for every
// type that can be dequantized and for unknown ids.
func Unsupported(t gguf.Type) (reason string, ok bool) {
	reason, ok = unsupported[t]
	return reason, ok
}

// iqSigned is v, negated when neg is 1.
func iqSigned(v float32, neg uint32) float32 {
	if neg != 0 {
		return -v
	}
	return v
}
