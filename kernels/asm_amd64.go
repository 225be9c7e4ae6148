//go:build !purego

package kernels

// asmRowFunc is the signature of the generated row kernels (see _asm).
type asmRowFunc func(w *byte, aq *int8, ad *float32, nb int, k int, out *[4]float32)

// asmQ8_0Act wraps generated kernels for 32-element weight blocks against
// Q8_0 activations; fns[r] serves r+1 activation rows.
func asmQ8_0Act(bb int, fns [tileRows]asmRowFunc) qKernel {
	return func(out []float32, w []byte, a *acts, r0 int, s *scratch) {
		nr := len(out)
		nb := a.nb
		// The assembly reads exactly these ranges; slicing checks them.
		w = w[:nb*bb]
		aq := a.q[r0*a.k : (r0+nr)*a.k]
		ad := a.d[r0*nb : (r0+nr)*nb]
		fns[nr-1](&w[0], &aq[0], &ad[0], nb, a.k, &s.acc)
		copy(out, s.acc[:nr])
	}
}

var (
	avx2Q8_0 = asmQ8_0Act(34, [tileRows]asmRowFunc{q8_0avx2R1, q8_0avx2R2, q8_0avx2R3, q8_0avx2R4})
	avx2Q4_0 = asmQ8_0Act(18, [tileRows]asmRowFunc{q4_0avx2R1, q4_0avx2R2, q4_0avx2R3, q4_0avx2R4})
	vnniQ8_0 = asmQ8_0Act(34, [tileRows]asmRowFunc{q8_0vnniR1, q8_0vnniR2, q8_0vnniR3, q8_0vnniR4})
	vnniQ4_0 = asmQ8_0Act(18, [tileRows]asmRowFunc{q4_0vnniR1, q4_0vnniR2, q4_0vnniR3, q4_0vnniR4})
)
