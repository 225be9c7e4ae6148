//go:build !purego

package kernels

import (
	"unsafe"

	"github.com/qconv/qconv/gguf"
)

// neonFunc is the signature of the generated NEON kernels (see _asmneon):
// nrows >= 1 weight rows of nb >= 1 blocks, back to back from w, against
// nr = 1..4 activation rows (aq: values, k per row; ad: block scales, nb
// per row; ax: the Q8_1 sums s, nb per row, or the Q8_K per-16 sums,
// k/16 per row, or unused); the result for weight row i and activation
// row r is stored at y[r*ys + i].
type neonFunc func(w *byte, aq *int8, ad *float32, ax unsafe.Pointer, nb int, k int, y *float32, ys int, nrows int)

// neonQuant wraps the generated kernels of one weight type (fns[r] serves
// r+1 activation rows) as a row kernel and a task kernel.
type neonQuant struct {
	bb  int // block bytes
	fns [tileRows]neonFunc
}

// call checks the ranges the assembly reads and writes (slicing panics
// outside them) and runs it.
func (k *neonQuant) call(y []float32, ys int, w []byte, nrows int, a *acts, r0, nr int) {
	nb := a.nb
	w = w[:nrows*nb*k.bb]
	aq := a.q[r0*a.k : (r0+nr)*a.k]
	ad := a.d[r0*nb : (r0+nr)*nb]
	var ax unsafe.Pointer
	switch a.kind {
	case actQ8_1:
		s := a.s[r0*nb : (r0+nr)*nb]
		ax = unsafe.Pointer(&s[0])
	case actQ8_K:
		bs := a.bsum[r0*a.k/16 : (r0+nr)*a.k/16]
		ax = unsafe.Pointer(&bs[0])
	}
	y = y[:(nr-1)*ys+nrows]
	k.fns[nr-1](&w[0], &aq[0], &ad[0], ax, nb, a.k, &y[0], ys, nrows)
}

func (k *neonQuant) row(out []float32, w []byte, a *acts, r0 int, _ *scratch) {
	if len(out) == 0 {
		return
	}
	k.call(out, 1, w, 1, a, r0, len(out))
}

func (k *neonQuant) rows(y []float32, n int, w []byte, rb, n0, n1 int, a *acts, r0, nr int) {
	if n1 <= n0 || nr == 0 {
		return
	}
	if rb != a.nb*k.bb {
		panic("kernels: row size does not match the activations")
	}
	for ; nr > 0; nr, r0 = nr-tileRows, r0+tileRows {
		k.call(y[r0*n+n0:], n, w[n0*rb:n1*rb], n1-n0, a, r0, min(nr, tileRows))
	}
}

// set registers k as the quant kernel of t at tier.
func (k *neonQuant) set(tier Tier, t gguf.Type) {
	table[tier][t].quant = k.row
	rowKernels[tier][t] = k.rows
}

// neonKernels is one variant's kernel set, by weight type.
type neonKernels map[gguf.Type]*neonQuant

func (ks neonKernels) register(tier Tier) {
	for t, k := range ks {
		k.set(tier, t)
	}
}

// neonBase runs on every ARMv8 CPU (SMULL/SMLAL2/SADALP products);
// neonDot needs the dot-product extension (SDOT).
var (
	neonBase = neonKernels{
		gguf.TypeQ8_0:   {34, [tileRows]neonFunc{q8_0neonR1, q8_0neonR2, q8_0neonR3, q8_0neonR4}},
		gguf.TypeQ4_0:   {18, [tileRows]neonFunc{q4_0neonR1, q4_0neonR2, q4_0neonR3, q4_0neonR4}},
		gguf.TypeQ4_1:   {20, [tileRows]neonFunc{q4_1neonR1, q4_1neonR2, q4_1neonR3, q4_1neonR4}},
		gguf.TypeQ5_0:   {22, [tileRows]neonFunc{q5_0neonR1, q5_0neonR2, q5_0neonR3, q5_0neonR4}},
		gguf.TypeQ5_1:   {24, [tileRows]neonFunc{q5_1neonR1, q5_1neonR2, q5_1neonR3, q5_1neonR4}},
		gguf.TypeIQ4_NL: {18, [tileRows]neonFunc{iq4_nlneonR1, iq4_nlneonR2, iq4_nlneonR3, iq4_nlneonR4}},
		gguf.TypeQ4_K:   {144, [tileRows]neonFunc{q4_KneonR1, q4_KneonR2, q4_KneonR3, q4_KneonR4}},
		gguf.TypeQ5_K:   {176, [tileRows]neonFunc{q5_KneonR1, q5_KneonR2, q5_KneonR3, q5_KneonR4}},
		gguf.TypeQ6_K:   {210, [tileRows]neonFunc{q6_KneonR1, q6_KneonR2, q6_KneonR3, q6_KneonR4}},
		gguf.TypeQ2_K:   {84, [tileRows]neonFunc{q2_KneonR1, q2_KneonR2, q2_KneonR3, q2_KneonR4}},
		gguf.TypeQ3_K:   {110, [tileRows]neonFunc{q3_KneonR1, q3_KneonR2, q3_KneonR3, q3_KneonR4}},
		gguf.TypeIQ4_XS: {136, [tileRows]neonFunc{iq4_xsneonR1, iq4_xsneonR2, iq4_xsneonR3, iq4_xsneonR4}},
	}
	neonDot = neonKernels{
		gguf.TypeQ8_0:   {34, [tileRows]neonFunc{q8_0dotR1, q8_0dotR2, q8_0dotR3, q8_0dotR4}},
		gguf.TypeQ4_0:   {18, [tileRows]neonFunc{q4_0dotR1, q4_0dotR2, q4_0dotR3, q4_0dotR4}},
		gguf.TypeQ4_1:   {20, [tileRows]neonFunc{q4_1dotR1, q4_1dotR2, q4_1dotR3, q4_1dotR4}},
		gguf.TypeQ5_0:   {22, [tileRows]neonFunc{q5_0dotR1, q5_0dotR2, q5_0dotR3, q5_0dotR4}},
		gguf.TypeQ5_1:   {24, [tileRows]neonFunc{q5_1dotR1, q5_1dotR2, q5_1dotR3, q5_1dotR4}},
		gguf.TypeIQ4_NL: {18, [tileRows]neonFunc{iq4_nldotR1, iq4_nldotR2, iq4_nldotR3, iq4_nldotR4}},
		gguf.TypeQ4_K:   {144, [tileRows]neonFunc{q4_KdotR1, q4_KdotR2, q4_KdotR3, q4_KdotR4}},
		gguf.TypeQ5_K:   {176, [tileRows]neonFunc{q5_KdotR1, q5_KdotR2, q5_KdotR3, q5_KdotR4}},
		gguf.TypeQ6_K:   {210, [tileRows]neonFunc{q6_KdotR1, q6_KdotR2, q6_KdotR3, q6_KdotR4}},
		gguf.TypeQ2_K:   {84, [tileRows]neonFunc{q2_KdotR1, q2_KdotR2, q2_KdotR3, q2_KdotR4}},
		gguf.TypeQ3_K:   {110, [tileRows]neonFunc{q3_KdotR1, q3_KdotR2, q3_KdotR3, q3_KdotR4}},
		gguf.TypeIQ4_XS: {136, [tileRows]neonFunc{iq4_xsdotR1, iq4_xsdotR2, iq4_xsdotR3, iq4_xsdotR4}},
	}
)

// neonFloatFunc is the signature of the generated float kernels: nrows
// weight rows (w + i*rb) against nr = 1..4 float32 rows of x (stride k)
// over their first n values (a multiple of 16, at least 16), each result
// added to y[r*ys + i].
type neonFloatFunc func(w *byte, rb int, x *float32, k int, n int, y *float32, ys int, nrows int)

// neonFloat wraps them for weights of size bytes per value; the last k
// mod 16 values go through toFloat and dotF32.
type neonFloat struct {
	size    int
	toFloat func(dst []float32, src []byte)
	fns     [tileRows]neonFloatFunc
}

// call computes rows n0..n1-1 of w (rb bytes each) against rows 0..nr-1
// of x (stride k) into y[r*ys + i - n0], K in chunks that keep the
// activation tile in L1.
func (f *neonFloat) call(y []float32, ys int, w []byte, rb, n0, n1 int, x []float32, k, nr int, s *scratch) {
	nrows := n1 - n0
	if nrows <= 0 || nr == 0 {
		return
	}
	if rb != k*f.size {
		panic("kernels: row size does not match the activations")
	}
	w = w[n0*rb : n1*rb]
	x = x[:nr*k]
	y = y[:(nr-1)*ys+nrows]
	for r := range nr {
		clear(y[r*ys : r*ys+nrows])
	}
	n := k - k%16
	step := n
	if nr*4*n > 32<<10 {
		step = max(16, (32<<10)/(nr*4)/16*16)
	}
	for c0 := 0; c0 < n; c0 += step {
		f.fns[nr-1](&w[c0*f.size], rb, &x[c0], k, min(step, n-c0), &y[0], ys, nrows)
	}
	if n < k {
		buf := s.buf[:k-n]
		for i := range nrows {
			f.toFloat(buf, w[i*rb+n*f.size:(i+1)*rb])
			for r := range nr {
				y[r*ys+i] += dotF32(buf, x[r*k+n:r*k+k])
			}
		}
	}
}

func (f *neonFloat) row(out []float32, w []byte, x []float32, k int, s *scratch) {
	f.call(out, 1, w, k*f.size, 0, 1, x, k, len(out), s)
}

func (f *neonFloat) rows(y []float32, n int, w []byte, rb, n0, n1 int, x []float32, k, r0, nr int, s *scratch) {
	for ; nr > 0; nr, r0 = nr-tileRows, r0+tileRows {
		f.call(y[r0*n+n0:], n, w, rb, n0, n1, x[r0*k:], k, min(nr, tileRows), s)
	}
}

func (f *neonFloat) set(tier Tier, t gguf.Type) {
	table[tier][t].float = f.row
	floatRowKernels[tier][t] = f.rows
}

// neonFloats are the float-weight kernels (base Advanced SIMD only).
var neonFloats = map[gguf.Type]*neonFloat{
	gguf.TypeF32:  {4, dequantF32, [tileRows]neonFloatFunc{f32neonR1, f32neonR2, f32neonR3, f32neonR4}},
	gguf.TypeF16:  {2, dequantF16, [tileRows]neonFloatFunc{f16neonR1, f16neonR2, f16neonR3, f16neonR4}},
	gguf.TypeBF16: {2, dequantBF16, [tileRows]neonFloatFunc{bf16neonR1, bf16neonR2, bf16neonR3, bf16neonR4}},
}
