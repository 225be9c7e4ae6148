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
