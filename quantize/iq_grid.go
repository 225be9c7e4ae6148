package quantize

import "github.com/qconv/qconv/gguf"

// The codebook types IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S and
// IQ1_M are not supported, not even for dequantization, because their
// codebooks (ggml-common.h iq2xxs_grid, iq2xs_grid, iq2s_grid,
// iq3xxs_grid, iq3s_grid, iq1s_grid) cannot be derived from a rule; they
// could only be transcribed from ggml's source, which this project does
// not do.
//
// What was checked (against the tables of ggml commit d99724f):
//
//   - Each grid lists its points in increasing order of the base-3 (IQ2,
//     IQ1) or base-8 (IQ3) number formed by the coordinate levels, first
//     coordinate least significant; so a grid is fixed by its point set.
//   - The IQ2 grids use the levels {8, 25, 43}, the IQ3 grids eight
//     levels ({4, 12, ..., 52, 62} and {1, 3, ..., 15}), IQ1 {-1, 0, 1}.
//     Every IQ2 and IQ3_XXS point has an even level sum (the sign parity
//     lives in the sign bits), the IQ3_S and IQ1 points do not.
//   - No grid is closed under permuting coordinates (IQ2_XXS: 219 of its
//     256 points have a permutation outside the grid; IQ2_XS 208/512,
//     IQ2_S 412/1024, IQ3_XXS 202/256, IQ3_S 481/512, IQ1_S 1817/2048), so
//     no rule on norms, level counts or parity selects them, and the
//     selection is not a ball: reading the IQ2 levels as 1, 3, 5,
//     IQ2_XXS has only 4 of the 70 even points of squared norm 40 but 89
//     of the 168 of norm 48. ggml documents no rule; the sets look
//     selected from data (e.g. how often points occurred in real models).
//
// The sign tables are derivable (ksigns_iq2xs[i] is i with an even-parity
// bit 7 added, kmask_iq2xs[j] is 1<<j), but they are of no use without
// the grids.
var unsupported = map[gguf.Type]string{
	gguf.TypeIQ2_XXS: "codebook type: its 256-point grid is data, not derivable",
	gguf.TypeIQ2_XS:  "codebook type: its 512-point grid is data, not derivable",
	gguf.TypeIQ3_XXS: "codebook type: its 256-point grid is data, not derivable",
	gguf.TypeIQ1_S:   "codebook type: its 2048-point grid is data, not derivable",
	gguf.TypeIQ3_S:   "codebook type: its 512-point grid is data, not derivable",
	gguf.TypeIQ2_S:   "codebook type: its 1024-point grid is data, not derivable",
	gguf.TypeIQ1_M:   "codebook type: shares IQ1_S's 2048-point grid, which is data, not derivable",
	gguf.TypeI8:      "integer tensor: never converted",
	gguf.TypeI16:     "integer tensor: never converted",
	gguf.TypeI32:     "integer tensor: never converted",
	gguf.TypeI64:     "integer tensor: never converted",
	gguf.TypeF64:     "f64 tensor: never converted",
}

// Unsupported reports why qconv cannot convert tensors of type t, for the
// known ggml types that have no DequantizeRow. It returns false for every
// type that can be dequantized and for unknown ids.
func Unsupported(t gguf.Type) (reason string, ok bool) {
	reason, ok = unsupported[t]
	return reason, ok
}
