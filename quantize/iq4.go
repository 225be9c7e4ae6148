package quantize

import (
	"encoding/binary"

	"github.com/qconv/qconv/gguf"
)

// The 4-bit non-linear types IQ4_NL and IQ4_XS (ggml-quants.c
// quantize_row_iq4_nl_impl, quantize_iq4_nl, quantize_row_iq4_nl_ref,
// quantize_iq4_xs, dequantize_row_iq4_*). Each element is stored as a 4-bit
// index into iq4nlValues, scaled per 32 elements.
//
// IQ4_NL (18 bytes per 32): fp16 d, qs[16]; x = d·T[q].
// IQ4_XS (136 bytes per 256): fp16 d, u16 scales_h, scales_l[4], qs[128];
// sub-block ib of 32 has the 6-bit scale ls (low nibble in scales_l,
// 2 high bits in scales_h) and x = d·(ls-32)·T[q].
// Nibbles: byte j of a 32-element group holds element j low, j+16 high.
//
// The float32 operations follow ggml's order, one rounding each; products
// that feed additions are wrapped in float32() so Go cannot fuse them.

// iq4nlValues is ggml's kvalues_iq4nl (read-only).
var iq4nlValues = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

const (
	iq4nlBytes = 18
	iq4xsQK    = 256
	iq4xsBytes = 136
)

func init() {
	register(&Traits{
		Type: gguf.TypeIQ4_NL, BlockSize: qk, BlockBytes: iq4nlBytes, Imatrix: ImatrixOptional,
		QuantizeRow:    quantizeRowIQ4NL,
		QuantizeRowRef: quantizeRowIQ4NLRef,
		DequantizeRow:  dequantizeRowIQ4NL,
	})
	register(&Traits{
		Type: gguf.TypeIQ4_XS, BlockSize: iq4xsQK, BlockBytes: iq4xsBytes, Imatrix: ImatrixOptional,
		QuantizeRow:   quantizeRowIQ4XS,
		DequantizeRow: dequantizeRowIQ4XS,
	})
}

// bestIndexIQ4 is ggml's best_index_int8 over iq4nlValues: the index of
// the table value nearest to x, a tie going to the upper one, with ggml's
// float32 comparisons and subtractions. ggml bisects for mu, the first
// index whose value exceeds x; because the table holds integers, that
// index depends only on floor(x), so it is read from iq4nlUpper instead
// (same result, far fewer unpredictable branches; bestIndexIQ4Bisect in
// the tests is the literal bisection and checks the equivalence).
func bestIndexIQ4(x float32) uint8 {
	if x <= -127 {
		return 0
	}
	if !(x < 113) { // x >= 113, and NaN, which ggml's bisection also maps to 15
		return 15
	}
	fl := int32(x) // -127 < x < 113: truncation, then adjust to floor
	if float32(fl) > x {
		fl--
	}
	mu := iq4nlUpper[fl+127]
	if x-float32(iq4nlValues[mu-1]) < float32(iq4nlValues[mu])-x {
		return mu - 1
	}
	return mu
}

// iq4nlUpper[f+127], for integer f in [-127, 112], is the smallest index
// mu with iq4nlValues[mu] > f. Read-only after package initialisation.
var iq4nlUpper = func() (t [240]uint8) {
	for i := range t {
		f := i - 127
		mu := 0
		for int(iq4nlValues[mu]) <= f {
			mu++
		}
		t[i] = uint8(mu)
	}
	return t
}()

// iq4Scratch holds the per-call work arrays of iq4Quantize. L persists from
// one IQ4_NL block to the next within a row, as ggml's buffer does (see
// quantizeRowIQ4NLRef).
type iq4Scratch struct {
	L      [iq4xsQK]uint8
	scales [iq4xsQK / 32]float32
	weight [32]float32
}

// iq4Quantize is quantize_row_iq4_nl_impl for one super-block x of 32
// (IQ4_NL) or 256 (IQ4_XS) elements, writing the block into dst. qw is the
// importance vector of the super-block or nil. ntry is the half-width of the
// scale search: 7 for llama-quantize's path, -1 for quantize_row_iq4_nl_ref.
func iq4Quantize(dst []byte, x, qw []float32, ntry int, s *iq4Scratch) {
	n := len(x)
	nsub := n / 32

	// σ² = 2·Σx²/n, used by the importance weights.
	var sigma2 float32
	for _, v := range x {
		sigma2 += float32(v * v)
	}
	sigma2 *= 2 / float32(n)

	// For sub-blocks with max|x| < GROUP_MAX_EPS the scale is 0 and L is
	// left as it was; the IQ4_XS pass below rewrites it, and for IQ4_NL
	// with ntry > 0 so does the final pass.
	var maxScale, amaxScale float32
	values0 := float32(iq4nlValues[0])
	for ib := 0; ib < nsub; ib++ {
		xb := x[ib*32 : ib*32+32]
		Lb := s.L[ib*32 : ib*32+32]
		w := &s.weight
		if qw != nil {
			q := qw[ib*32 : ib*32+32]
			for j, v := range xb {
				w[j] = q[j] * sqrt32(sigma2+float32(v*v))
			}
		} else {
			for j, v := range xb {
				w[j] = v * v
			}
		}
		var amax, max float32
		for _, v := range xb {
			if ax := abs32(v); ax > amax {
				amax, max = ax, v
			}
		}
		if amax < groupMaxEps {
			s.scales[ib] = 0
			continue
		}
		// The search path maps max to +127 (d = -max/-127); the ref path
		// (ntry <= 0) maps it to -127.
		var d float32
		if ntry > 0 {
			d = -max / values0
		} else {
			d = max / values0
		}
		id := 1 / d
		var sumqx, sumq2 float32
		for j, v := range xb {
			l := bestIndexIQ4(id * v)
			Lb[j] = l
			q := float32(iq4nlValues[l])
			wq := w[j] * q
			sumqx += float32(wq * v) // (w*q)*x
			sumq2 += float32(wq * q) // (w*q)*q
		}
		d = 0
		if sumq2 > 0 {
			d = sumqx / sumq2
		}
		best := d * sumqx
		for itry := -ntry; itry <= ntry; itry++ {
			// C: (itry + values[0]) is an int sum, converted, then divided.
			id = float32(itry+int(iq4nlValues[0])) / max
			sumqx, sumq2 = 0, 0
			for j, v := range xb {
				q := float32(iq4nlValues[bestIndexIQ4(id*v)])
				wq := w[j] * q
				sumqx += float32(wq * v)
				sumq2 += float32(wq * q)
			}
			if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
				d = sumqx / sumq2
				best = d * sumqx
			}
		}
		s.scales[ib] = d
		if ad := abs32(d); ad > amaxScale {
			amaxScale, maxScale = ad, d
		}
	}

	var qs []byte
	if nsub > 1 {
		// IQ4_XS: the super-block scale maps the largest sub-block scale to
		// -32; each sub-block scale becomes a 6-bit code and the elements
		// are re-indexed against the scale actually stored (in float32:
		// d·l, not the fp16-rounded d).
		d := -maxScale / 32
		putFP16(dst, d)
		id := inverse(d)
		var scalesH uint16
		scalesL := dst[4:8]
		for ib := 0; ib < nsub; ib++ {
			l := clampInt32(nearestInt(id*s.scales[ib]), -32, 31)
			dl := d * float32(l)
			idl := inverse(dl)
			Lb := s.L[ib*32 : ib*32+32]
			for j, v := range x[ib*32 : ib*32+32] {
				Lb[j] = bestIndexIQ4(idl * v)
			}
			l += 32
			if ib%2 == 0 {
				scalesL[ib/2] = uint8(l & 0xf)
			} else {
				scalesL[ib/2] |= uint8(l&0xf) << 4
			}
			scalesH |= uint16(l>>4) << (2 * ib)
		}
		binary.LittleEndian.PutUint16(dst[2:], scalesH)
		qs = dst[8 : 8+n/2]
	} else {
		putFP16(dst, s.scales[0])
		if ntry > 0 {
			id := inverse(s.scales[0])
			for j, v := range x {
				s.L[j] = bestIndexIQ4(id * v)
			}
		}
		qs = dst[2 : 2+n/2]
	}
	for i := 0; i < n/32; i++ {
		for j := 0; j < 16; j++ {
			qs[16*i+j] = s.L[32*i+j] | s.L[32*i+16+j]<<4
		}
	}
}

// newIQ4Scratch returns scratch whose L starts as index 8 (value +1) so that
// a degenerate first block of a row gets the well-defined 0x88 bytes.
func newIQ4Scratch() iq4Scratch {
	var s iq4Scratch
	for i := range s.L {
		s.L[i] = 8
	}
	return s
}

func quantizeRowIQ4NL(dst []byte, src []float32, imatrix []float32) {
	nb := len(src) / qk
	dst = dst[:nb*iq4nlBytes]
	s := newIQ4Scratch()
	for i := 0; i < nb; i++ {
		var qw []float32
		if imatrix != nil {
			qw = imatrix[i*qk : i*qk+qk]
		}
		iq4Quantize(dst[i*iq4nlBytes:(i+1)*iq4nlBytes], src[i*qk:i*qk+qk], qw, 7, &s)
	}
}

// quantizeRowIQ4NLRef is quantize_row_iq4_nl_ref (ntry = -1: no scale
// search, and the codes come from the first fit). For blocks with
// max|x| < 1e-15 ggml writes d = 0 and leaves the nibbles of its index
// buffer as the previous block of the row left them; this does the same
// (the golden README calls those nibbles undefined; they dequantize to ±0).
func quantizeRowIQ4NLRef(dst []byte, src []float32) {
	nb := len(src) / qk
	dst = dst[:nb*iq4nlBytes]
	s := newIQ4Scratch()
	for i := 0; i < nb; i++ {
		iq4Quantize(dst[i*iq4nlBytes:(i+1)*iq4nlBytes], src[i*qk:i*qk+qk], nil, -1, &s)
	}
}

func dequantizeRowIQ4NL(dst []float32, src []byte) {
	nb := len(dst) / qk
	src = src[:nb*iq4nlBytes]
	for i := 0; i < nb; i++ {
		b := src[i*iq4nlBytes : (i+1)*iq4nlBytes]
		y := dst[i*qk : i*qk+qk]
		d := getFP16(b)
		for j := 0; j < 16; j++ {
			y[j] = d * float32(iq4nlValues[b[2+j]&0xf])
			y[j+16] = d * float32(iq4nlValues[b[2+j]>>4])
		}
	}
}

func quantizeRowIQ4XS(dst []byte, src []float32, imatrix []float32) {
	nb := len(src) / iq4xsQK
	dst = dst[:nb*iq4xsBytes]
	s := newIQ4Scratch()
	for i := 0; i < nb; i++ {
		var qw []float32
		if imatrix != nil {
			qw = imatrix[i*iq4xsQK : (i+1)*iq4xsQK]
		}
		iq4Quantize(dst[i*iq4xsBytes:(i+1)*iq4xsBytes], src[i*iq4xsQK:(i+1)*iq4xsQK], qw, 7, &s)
	}
}

func dequantizeRowIQ4XS(dst []float32, src []byte) {
	nb := len(dst) / iq4xsQK
	src = src[:nb*iq4xsBytes]
	for i := 0; i < nb; i++ {
		b := src[i*iq4xsBytes : (i+1)*iq4xsBytes]
		y := dst[i*iq4xsQK : (i+1)*iq4xsQK]
		d := getFP16(b)
		scalesH := binary.LittleEndian.Uint16(b[2:])
		for ib := 0; ib < iq4xsQK/32; ib++ {
			ls := int32(b[4+ib/2]>>(4*(ib%2)))&0xf | int32(scalesH>>(2*ib))&3<<4
			dl := d * float32(ls-32)
			qs := b[8+16*ib : 8+16*ib+16]
			yb := y[32*ib : 32*ib+32]
			for j := 0; j < 16; j++ {
				yb[j] = dl * float32(iq4nlValues[qs[j]&0xf])
				yb[j+16] = dl * float32(iq4nlValues[qs[j]>>4])
			}
		}
	}
}
