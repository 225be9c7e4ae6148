//go:build !purego

package kernels

import "github.com/qconv/qconv/gguf"

// asmRowFunc is the signature of the generated quantized kernels (see
// _asm): nrows >= 1 weight rows of nb >= 1 32-element blocks, back to back
// from w, against 1..4 rows of Q8_0 (as unused) or Q8_1 activations; the
// result for weight row i and activation row r goes to y[r*ys + i].
type asmRowFunc func(w *byte, aq *int8, ad *float32, as *float32, nb int, k int, y *float32, ys int, nrows int)

// asm32 wraps generated kernels for 32-element weight blocks of bb bytes
// (fns[r] serves r+1 activation rows) as a row kernel and a task kernel.
type asm32 struct {
	bb  int
	fns [tileRows]asmRowFunc
}

// call checks the ranges the assembly reads and writes (slicing panics
// outside them) and runs it.
func (k *asm32) call(y []float32, ys int, w []byte, nrows int, a *acts, r0, nr int) {
	nb := a.nb
	w = w[:nrows*nb*k.bb]
	aq := a.q[r0*a.k : (r0+nr)*a.k]
	ad := a.d[r0*nb : (r0+nr)*nb]
	var as *float32
	if a.s != nil {
		as = &a.s[r0*nb : (r0+nr)*nb][0]
	}
	y = y[:(nr-1)*ys+nrows]
	k.fns[nr-1](&w[0], &aq[0], &ad[0], as, nb, a.k, &y[0], ys, nrows)
}

func (k *asm32) row(out []float32, w []byte, a *acts, r0 int, s *scratch) {
	if len(out) == 0 {
		return
	}
	k.call(out, 1, w, 1, a, r0, len(out))
}

func (k *asm32) rows(y []float32, n int, w []byte, rb, n0, n1 int, a *acts, r0, nr int) {
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

func asmAct32(bb int, fns [tileRows]asmRowFunc) *asm32 { return &asm32{bb, fns} }

// vnniFunc is the signature of the generated AVX-512 kernels: nb blocks
// from w of each of nrows weight rows rb bytes apart, against activations
// in the acts.vx layout (row stride as), each result added to
// y[r*ys + i].
type vnniFunc func(w *byte, rb int, ax *byte, as int, nb int, y *float32, ys int, nrows int)

// vnni32 wraps them as asm32 does the AVX2 ones; fns[r] serves r+1 <=
// tile activation rows.
type vnni32 struct {
	bb   int
	tile int // activation rows per call, <= rowsTile
	fns  [rowsTile]vnniFunc
}

// kChunk returns how many of k values the AVX-512 and float kernels take
// per call, a multiple of 64, for activations of size bytes per value
// and nr rows: the tile's chunk then stays in L1 (budget bytes of it)
// while the weight rows of a task stream past it. Small tiles take all of
// k, which keeps each weight row one sequential read. (Budgets measured on
// Zen 5, 48 KiB L1: 24 KiB for the VNNI layout, 16 KiB for float32.)
func kChunk(k, size, nr, budget int) int {
	if nr*size*k <= budget {
		return k
	}
	return max(64, budget/(nr*size)/64*64)
}

// call adds to y[r*ys + i] the products of weight rows i < nrows (rb
// bytes apart from the start of w) and activation rows r0..r0+nr-1, K in
// chunks; the slicing checks the ranges the assembly reads and writes.
func (k *vnni32) call(y []float32, ys int, w []byte, rb, nrows int, a *acts, r0, nr int) {
	nb := a.nb
	if rb != nb*k.bb {
		panic("kernels: row size does not match the activations")
	}
	w = w[:nrows*rb]
	vx := a.vx[r0*a.vxs : (r0+nr)*a.vxs]
	y = y[:(nr-1)*ys+nrows]
	step := kChunk(a.k, 3, nr, 24<<10) / 32
	for b0 := 0; b0 < nb; b0 += step {
		nbc := min(step, nb-b0)
		k.fns[nr-1](&w[b0*k.bb], rb, &vx[96*b0], a.vxs, nbc, &y[0], ys, nrows)
	}
}

func (k *vnni32) row(out []float32, w []byte, a *acts, r0 int, s *scratch) {
	if len(out) == 0 {
		return
	}
	clear(out)
	k.call(out, 1, w, len(w), 1, a, r0, len(out))
}

func (k *vnni32) rows(y []float32, n int, w []byte, rb, n0, n1 int, a *acts, r0, nr int) {
	if n1 <= n0 || nr == 0 {
		return
	}
	for r := r0; r < r0+nr; r++ {
		clear(y[r*n+n0 : r*n+n1])
	}
	for ; nr > 0; nr, r0 = nr-k.tile, r0+k.tile {
		k.call(y[r0*n+n0:], n, w[n0*rb:n1*rb], rb, n1-n0, a, r0, min(nr, k.tile))
	}
}

func (k *vnni32) set(tier Tier, t gguf.Type) {
	table[tier][t].quant = k.row
	rowKernels[tier][t] = k.rows
}

func vnniAct32(bb, tile int, fns [rowsTile]vnniFunc) *vnni32 { return &vnni32{bb, tile, fns} }

// set registers k as the quant kernel of t at tier.
func (k *asm32) set(tier Tier, t gguf.Type) {
	table[tier][t].quant = k.row
	rowKernels[tier][t] = k.rows
}

var (
	avx2Q8_0   = asmAct32(34, [tileRows]asmRowFunc{q8_0avx2R1, q8_0avx2R2, q8_0avx2R3, q8_0avx2R4})
	avx2Q4_0   = asmAct32(18, [tileRows]asmRowFunc{q4_0avx2R1, q4_0avx2R2, q4_0avx2R3, q4_0avx2R4})
	avx2Q4_1   = asmAct32(20, [tileRows]asmRowFunc{q4_1avx2R1, q4_1avx2R2, q4_1avx2R3, q4_1avx2R4})
	avx2Q5_0   = asmAct32(22, [tileRows]asmRowFunc{q5_0avx2R1, q5_0avx2R2, q5_0avx2R3, q5_0avx2R4})
	avx2Q5_1   = asmAct32(24, [tileRows]asmRowFunc{q5_1avx2R1, q5_1avx2R2, q5_1avx2R3, q5_1avx2R4})
	avx2IQ4_NL = asmAct32(18, [tileRows]asmRowFunc{iq4_nlavx2R1, iq4_nlavx2R2, iq4_nlavx2R3, iq4_nlavx2R4})
	vnniQ8_0   = vnniAct32(34, 8, [rowsTile]vnniFunc{q8_0vnniR1, q8_0vnniR2, q8_0vnniR3, q8_0vnniR4, q8_0vnniR5, q8_0vnniR6, q8_0vnniR7, q8_0vnniR8})
	vnniQ4_0   = vnniAct32(18, 4, [rowsTile]vnniFunc{q4_0vnniR1, q4_0vnniR2, q4_0vnniR3, q4_0vnniR4})
	vnniQ4_1   = vnniAct32(20, 4, [rowsTile]vnniFunc{q4_1vnniR1, q4_1vnniR2, q4_1vnniR3, q4_1vnniR4})
	vnniQ5_0   = vnniAct32(22, 4, [rowsTile]vnniFunc{q5_0vnniR1, q5_0vnniR2, q5_0vnniR3, q5_0vnniR4})
	vnniQ5_1   = vnniAct32(24, 4, [rowsTile]vnniFunc{q5_1vnniR1, q5_1vnniR2, q5_1vnniR3, q5_1vnniR4})
	vnniIQ4_NL = vnniAct32(18, 4, [rowsTile]vnniFunc{iq4_nlvnniR1, iq4_nlvnniR2, iq4_nlvnniR3, iq4_nlvnniR4})
)

// asmFloatFunc is the signature of the generated float kernels: nrows
// weight rows (w + i*rb) against nr = 1..4 float32 rows of stride k over
// the first n elements (a multiple of the kernel's chunk), the result for
// weight row i and row r stored at y[r*ys + i].
type asmFloatFunc func(w *byte, rb int, x *float32, k int, n int, y *float32, ys int, nrows int)

// asmFloat wraps float kernels for weights of size bytes per element,
// chunk elements per loop step; the last k mod chunk elements go through
// toFloat and dotF32.
type asmFloat struct {
	size, chunk int
	toFloat     func(dst []float32, src []byte)
	fns         [tileRows]asmFloatFunc
}

// call computes rows n0..n1-1 of w (rb bytes each) against rows 0..nr-1
// of x (stride k) into y[r*ys + i - n0], K in chunks.
func (f *asmFloat) call(y []float32, ys int, w []byte, rb, n0, n1 int, x []float32, k, nr int, s *scratch) {
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
	n := k - k%f.chunk
	step := kChunk(n, 4, nr, 16<<10)
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

func (f *asmFloat) row(out []float32, w []byte, x []float32, k int, s *scratch) {
	f.call(out, 1, w, k*f.size, 0, 1, x, k, len(out), s)
}

func (f *asmFloat) rows(y []float32, n int, w []byte, rb, n0, n1 int, x []float32, k, r0, nr int, s *scratch) {
	f.call(y[r0*n+n0:], n, w, rb, n0, n1, x[r0*k:], k, nr, s)
}

func (f *asmFloat) set(tier Tier, t gguf.Type) {
	table[tier][t].float = f.row
	floatRowKernels[tier][t] = f.rows
}

var (
	avx2F32    = &asmFloat{4, 32, dequantF32, [tileRows]asmFloatFunc{f32avx2R1, f32avx2R2, f32avx2R3, f32avx2R4}}
	avx2F16    = &asmFloat{2, 32, dequantF16, [tileRows]asmFloatFunc{f16avx2R1, f16avx2R2, f16avx2R3, f16avx2R4}}
	avx2BF16   = &asmFloat{2, 32, dequantBF16, [tileRows]asmFloatFunc{bf16avx2R1, bf16avx2R2, bf16avx2R3, bf16avx2R4}}
	avx512F32  = &asmFloat{4, 64, dequantF32, [tileRows]asmFloatFunc{f32avx512R1, f32avx512R2, f32avx512R3, f32avx512R4}}
	avx512F16  = &asmFloat{2, 64, dequantF16, [tileRows]asmFloatFunc{f16avx512R1, f16avx512R2, f16avx512R3, f16avx512R4}}
	avx512BF16 = &asmFloat{2, 64, dequantBF16, [tileRows]asmFloatFunc{bf16avx512R1, bf16avx512R2, bf16avx512R3, bf16avx512R4}}
)

func quantQ8RowsAsm(x []float32, q []int8, d, s []float32) {
	nb := len(x) / 32
	if nb == 0 {
		return
	}
	q = q[:32*nb]
	d = d[:nb]
	var sp *float32
	if s != nil {
		sp = &s[:nb][0]
	}
	quantQ8avx2(&x[0], nb, &q[0], &d[0], sp)
}

func buildVXRowAsm(vx []byte, q []int8, d, s []float32) {
	nb := len(d)
	if nb == 0 {
		return
	}
	vx = vx[:96*nb]
	q = q[:32*nb]
	var sp *float32
	if s != nil {
		sp = &s[:nb][0]
	}
	buildVXavx2(&q[0], &d[0], sp, nb, &vx[0])
}
