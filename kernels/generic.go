package kernels

// The pure-Go tier. A row kernel computes out[r] = W_row · act_row(r0+r)
// for len(out) <= tileRows activation rows; each weight block is decoded
// once and used for all of them.

const tileRows = 4

// qKernel is a row kernel over quantized activations (rows r0.. of a).
type qKernel func(out []float32, w []byte, a *acts, r0 int, s *scratch)

// fKernel is a row kernel over float activations: x holds len(out) rows
// of k values.
type fKernel func(out []float32, w []byte, x []float32, k int, s *scratch)

// scratch is one worker's decode buffers. Kernels are called through func
// values, so stack arrays handed to them would escape to the heap on
// every call; a worker allocates one scratch instead.
type scratch struct {
	q      [256]int8
	sc, mn [16]int32
	buf    [256]float32
	acc    [tileRows]float32
}

// dotI8 returns Σ a[i]·b[i] over len(a) (a multiple of 4) values.
func dotI8(a, b []int8) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	for i := 0; i+4 <= len(a); i += 4 {
		s0 += int32(a[i]) * int32(b[i])
		s1 += int32(a[i+1]) * int32(b[i+1])
		s2 += int32(a[i+2]) * int32(b[i+2])
		s3 += int32(a[i+3]) * int32(b[i+3])
	}
	return s0 + s1 + s2 + s3
}

// dot32 returns Σ a[i]·b[i] over 32 values (arrays: no bounds checks).
func dot32(a, b *[32]int8) int32 {
	var s0, s1, s2, s3 int32
	for i := 0; i < 32; i += 4 {
		s0 += int32(a[i]) * int32(b[i])
		s1 += int32(a[i+1]) * int32(b[i+1])
		s2 += int32(a[i+2]) * int32(b[i+2])
		s3 += int32(a[i+3]) * int32(b[i+3])
	}
	return (s0 + s1) + (s2 + s3)
}

// dotF32 returns Σ a[i]·b[i] over len(a) values in float32.
func dotF32(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// goQ32 is the generic kernel for 32-blocks against Q8_0 or Q8_1
// activations. With Q8_1 the min term is m·s, s = d_a·Σq_a.
func goQ32(dec dec32, bb int) qKernel {
	return func(out []float32, w []byte, a *acts, r0 int, s *scratch) {
		q := (*[32]int8)(s.q[:32])
		acc := &s.acc
		clear(acc[:])
		nb := a.nb
		for i := range nb {
			d, m := dec(q, w[i*bb:(i+1)*bb])
			for r := range out {
				j := (r0+r)*nb + i
				si := dot32(q, (*[32]int8)(a.q[32*j:32*j+32]))
				acc[r] += d * a.d[j] * float32(si)
				if a.s != nil {
					acc[r] += m * a.s[j]
				}
			}
		}
		copy(out, acc[:])
	}
}

// goQK is the generic kernel for 256-blocks against Q8_K activations:
// per block, d_a·(d·Σ_j sc_j·(q·a)_j − dmin·Σ_j mn_j·bsum_j).
func goQK(dec decK, bb int) qKernel {
	return func(out []float32, w []byte, a *acts, r0 int, s *scratch) {
		q, sc, mn := &s.q, &s.sc, &s.mn
		acc := &s.acc
		clear(acc[:])
		nb := a.nb
		for i := range nb {
			d, dmin, hasMin := dec(q, sc, mn, w[i*bb:(i+1)*bb])
			for r := range out {
				j := (r0+r)*nb + i
				aq := a.q[256*j : 256*j+256]
				var sumi int32
				for g := range 16 {
					sumi += sc[g] * dotI8(q[16*g:16*g+16], aq[16*g:16*g+16])
				}
				v := d * float32(sumi)
				if hasMin {
					var summ int32
					for g, b := range a.bsum[16*j : 16*j+16] {
						summ += mn[g] * int32(b)
					}
					v -= dmin * float32(summ)
				}
				acc[r] += a.d[j] * v
			}
		}
		copy(out, acc[:])
	}
}

// goTernary is the generic kernel for TQ1_0/TQ2_0 (weights d·{-1,0,+1})
// against Q8_K: per block d_a·d·(Σ a where w=+1 − Σ a where w=−1), with
// masks instead of multiplies.
func goTernary(dec decK, bb int) qKernel {
	return func(out []float32, w []byte, a *acts, r0 int, s *scratch) {
		q, sc, mn := &s.q, &s.sc, &s.mn
		acc := &s.acc
		clear(acc[:])
		nb := a.nb
		for i := range nb {
			d, _, _ := dec(q, sc, mn, w[i*bb:(i+1)*bb])
			for r := range out {
				j := (r0+r)*nb + i
				aq := a.q[256*j : 256*j+256]
				var pos, neg int32
				for l, t := range q {
					v := int32(aq[l])
					pos += v & (-int32(t) >> 31) // t = +1 (or +2)
					neg += v & (int32(t) >> 31)  // t = -1
					if t > 1 {
						// TQ2_0's code 3 decodes to +2; ggml never writes it,
						// but a file may hold it and dequantization honours it.
						pos += v
					}
				}
				acc[r] += a.d[j] * d * float32(pos-neg)
			}
		}
		copy(out, acc[:])
	}
}

// goFloat is the float-activation kernel: each chunk of up to 256 weights
// is dequantized into a stack buffer and dotted with every activation row.
func goFloat(toFloat func(dst []float32, src []byte), bs, bb int) fKernel {
	return func(out []float32, w []byte, x []float32, k int, s *scratch) {
		buf, acc := &s.buf, &s.acc
		clear(acc[:])
		for c := 0; c < k; c += 256 {
			n := min(256, k-c)
			toFloat(buf[:n], w[c/bs*bb:(c+n)/bs*bb])
			for r := range out {
				acc[r] += dotF32(buf[:n], x[r*k+c:r*k+c+n])
			}
		}
		copy(out, acc[:])
	}
}
