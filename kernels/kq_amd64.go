//go:build !purego

package kernels

import "unsafe"

// kqFunc is the signature of the generated K-quant row kernels (see
// _asmkq): one weight row of nb super-blocks against 1..4 Q8_K activation
// rows. p holds, per row r, the row's int8 values (p[r]), block scales
// (p[4+r]) and per-16 sums (p[8+r]).
type kqFunc func(w *byte, nb int, p *[12]*byte, out *[4]float32)

// asmQ8_KAct wraps generated kernels for 256-element super-blocks of bb
// bytes against Q8_K activations; fns[r] serves r+1 activation rows.
func asmQ8_KAct(bb int, fns [tileRows]kqFunc) qKernel {
	return func(out []float32, w []byte, a *acts, r0 int, s *scratch) {
		nr := len(out)
		nb := a.nb
		// The assembly reads exactly these ranges; slicing checks them.
		w = w[:nb*bb]
		var p [12]*byte
		for r := range nr {
			j := r0 + r
			aq := a.q[j*a.k : j*a.k+nb*256]
			ad := a.d[j*nb : (j+1)*nb]
			bs := a.bsum[j*nb*16 : (j+1)*nb*16]
			p[r] = (*byte)(unsafe.Pointer(&aq[0]))
			p[4+r] = (*byte)(unsafe.Pointer(&ad[0]))
			p[8+r] = (*byte)(unsafe.Pointer(&bs[0]))
		}
		fns[nr-1](&w[0], nb, &p, &s.acc)
		copy(out, s.acc[:nr])
	}
}

// kqTaskFunc is the signature of the generated whole-task kernels (see
// taskKernel in _asmkq): nrows weight rows (a multiple of the kernel's
// pass, rb bytes apart) of nb >= 1 super-blocks against one Q8_K
// activation row, row i's result stored at y[i].
type kqTaskFunc func(w *byte, rb, nrows, nb int, aq *int8, ad *float32, bs *int16, y *float32)

// kqTask is the task kernel of a K-quant type: the whole-task assembly
// for one activation row, the row kernels otherwise (and for the rows
// left over by the assembly's pass). Without t1 (AVX2) it runs the row
// kernels over the whole task, with the activation pointers set up once.
type kqTask struct {
	bb   int
	pass int        // weight rows per pass of t1
	t1   kqTaskFunc // nil: row kernels only
	fns  [tileRows]kqFunc
}

func (k *kqTask) rows(y []float32, n int, w []byte, rb, n0, n1 int, a *acts, r0, nr int) {
	if n1 <= n0 || nr == 0 {
		return
	}
	nb := a.nb
	if rb != nb*k.bb {
		panic("kernels: row size does not match the activations")
	}
	if nr == 1 && k.t1 != nil {
		aq := a.q[r0*a.k : r0*a.k+nb*256]
		ad := a.d[r0*nb : (r0+1)*nb]
		bs := a.bsum[r0*nb*16 : (r0+1)*nb*16]
		if m := (n1 - n0) / k.pass * k.pass; m > 0 {
			// The assembly reads and writes exactly these ranges.
			ww := w[n0*rb : (n0+m)*rb]
			yy := y[r0*n+n0 : r0*n+n0+m]
			k.t1(&ww[0], rb, m, nb, &aq[0], &ad[0], &bs[0], &yy[0])
			n0 += m
		}
	}
	var p [12]*byte
	var out [4]float32
	for ; nr > 0; nr, r0 = nr-tileRows, r0+tileRows {
		t := min(nr, tileRows)
		for r := range t {
			j := r0 + r
			aq := a.q[j*a.k : j*a.k+nb*256]
			ad := a.d[j*nb : (j+1)*nb]
			bs := a.bsum[j*nb*16 : (j+1)*nb*16]
			p[r] = (*byte)(unsafe.Pointer(&aq[0]))
			p[4+r] = (*byte)(unsafe.Pointer(&ad[0]))
			p[8+r] = (*byte)(unsafe.Pointer(&bs[0]))
		}
		for i := n0; i < n1; i++ {
			wr := w[i*rb : (i+1)*rb]
			k.fns[t-1](&wr[0], nb, &p, &out)
			for r := range t {
				y[(r0+r)*n+i] = out[r]
			}
		}
	}
}
