package kernels

import (
	"encoding/binary"
	"math"

	"github.com/qconv/qconv/gguf"
)

// actKind is the format activations are quantized to for a weight type.
type actKind int

const (
	actNone actKind = iota // float activations
	actQ8_0                // 32-blocks, d = amax/127 rounded to fp16
	actQ8_1                // as Q8_0, plus s = d·Σq rounded to fp16
	actQ8_K                // 256-blocks, f32 d, per-16 sums of q
)

// acts holds rows of quantized activations in a struct-of-arrays form
// (this package's own; not the GGUF block bytes): the int8 values of all
// rows back to back, then per-block scales, and where the kind needs them
// per-block sums. The values equal what ggml's x86 CPU backend computes
// for the same row.
type acts struct {
	kind actKind
	k    int       // values per row
	nb   int       // blocks per row (k/32 or k/256)
	q    []int8    // rows*k
	d    []float32 // rows*nb block scales (fp16-exact for Q8_0/Q8_1)
	s    []float32 // Q8_1: rows*nb, d·Σq rounded to fp16
	bsum []int16   // Q8_K: rows*k/16, Σq per 16 values

	// vx is the AVX-512 kernels' layout of Q8_0/Q8_1 rows (nil unless
	// vnniLayout is set): vxs bytes per row, 3*k. Per pair of blocks (and
	// per odd last block, halved) 192 bytes: the 64 int8 values; each
	// block's d repeated 8 times (16 float32); then 16 32-bit x, which for
	// Q8_0 are -128 times the sums of each 4 consecutive values (int32)
	// and for Q8_1 each block's s repeated 8 times (float32).
	vx  []byte
	vxs int

	// tl is the tile kernels' layout (prepareTiles), nil until a
	// block-major MatMul with a native tile kernel needs it.
	tl []byte
}

// vnniLayout makes quantizeActs fill acts.vx; set once at initialisation
// where the AVX-512 kernels are registered.
var vnniLayout bool

// Assembly forms of quantizeBlock32 over whole rows and of buildVX's
// per-row layout, set at initialisation where available; they give the
// same bytes as the Go code (TestQuantizeActsAsm).
var (
	// quantQ8Rows quantizes len(x)/32 blocks into q, d and, if s is not
	// nil, s (Q8_1), as quantizeActs does.
	quantQ8Rows func(x []float32, q []int8, d, s []float32)
	// buildVXRow writes one row's VNNI layout.
	buildVXRow func(vx []byte, q []int8, d, s []float32)
)

// buildVX fills a.vx from a.q, a.d and a.s.
func (a *acts) buildVX(rows int) {
	nb := a.nb
	a.vxs = 3 * a.k
	a.vx = make([]byte, rows*a.vxs)
	if buildVXRow != nil {
		for r := range rows {
			var s []float32
			if a.s != nil {
				s = a.s[r*nb : (r+1)*nb]
			}
			buildVXRow(a.vx[r*a.vxs:(r+1)*a.vxs], a.q[r*a.k:(r+1)*a.k], a.d[r*nb:(r+1)*nb], s)
		}
		return
	}
	le := binary.LittleEndian
	for r := range rows {
		row := a.vx[r*a.vxs : (r+1)*a.vxs]
		for i := 0; i < nb; i += 2 {
			n := min(2, nb-i) // blocks in this group
			g := row[96*i : 96*i+96*n]
			j := r*nb + i // first block's index in q, d, s
			for l, v := range a.q[32*j : 32*(j+n)] {
				g[l] = byte(v)
			}
			for l := range 8 * n {
				b := j + l/8
				le.PutUint32(g[32*n+4*l:], math.Float32bits(a.d[b]))
				if a.s != nil {
					le.PutUint32(g[64*n+4*l:], math.Float32bits(a.s[b]))
				} else {
					q := a.q[32*j+4*l : 32*j+4*l+4]
					sum := int32(q[0]) + int32(q[1]) + int32(q[2]) + int32(q[3])
					le.PutUint32(g[64*n+4*l:], uint32(-128*sum))
				}
			}
		}
	}
}

// quantizeActs quantizes rows rows of k values of x to kind.
func quantizeActs(kind actKind, x []float32, rows, k int) *acts {
	a := &acts{kind: kind, k: k, q: make([]int8, rows*k)}
	switch kind {
	case actQ8_0, actQ8_1:
		a.nb = k / 32
		a.d = make([]float32, rows*a.nb)
		if kind == actQ8_1 {
			a.s = make([]float32, rows*a.nb)
		}
		if quantQ8Rows != nil {
			quantQ8Rows(x[:rows*k], a.q, a.d, a.s)
			if vnniLayout {
				a.buildVX(rows)
			}
			break
		}
		for i := range rows * a.nb {
			d, s := quantizeBlock32(a.q[32*i:32*i+32], x[32*i:32*i+32])
			a.d[i] = fp16Round(d)
			if kind == actQ8_1 {
				a.s[i] = fp16Round(d * float32(s)) // unrounded d, as ggml
			}
		}
		if vnniLayout {
			a.buildVX(rows)
		}
	case actQ8_K:
		a.nb = k / 256
		a.d = make([]float32, rows*a.nb)
		a.bsum = make([]int16, rows*k/16)
		for i := range rows * a.nb {
			quantizeBlockK(a.q[256*i:256*i+256], x[256*i:256*i+256], &a.d[i], a.bsum[16*i:16*i+16])
		}
	default:
		panic("kernels: no activation format")
	}
	return a
}

// quantizeBlock32 quantizes 32 values to int8 with d = amax/127 stored
// rounded to fp16, scaling by the unrounded 127/amax and rounding to
// nearest even (what ggml's AVX2 row quantizer does). It returns the
// unrounded d and Σq.
func quantizeBlock32(q []int8, x []float32) (d float32, sum int32) {
	q = q[:32]
	x = x[:32]
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	var id float32
	if amax != 0 {
		id = 127 / amax
	}
	for i, v := range x {
		qi := int32(math.RoundToEven(float64(v * id)))
		q[i] = int8(qi)
		sum += qi
	}
	return amax / 127, sum
}

// quantizeBlockK quantizes 256 values as ggml's Q8_K reference does: the
// value of largest magnitude (first one on ties) maps to -127 via
// iscale = -127/max, values round to nearest even and clamp at 127, and
// d = 1/iscale.
func quantizeBlockK(q []int8, x []float32, d *float32, bsum []int16) {
	q = q[:256]
	x = x[:256]
	bsum = bsum[:16]
	var amax, mx float32
	for _, v := range x {
		if av := abs32(v); av > amax {
			amax, mx = av, v
		}
	}
	if amax == 0 {
		*d = 0
		clear(q)
		clear(bsum)
		return
	}
	iscale := -127 / mx
	for i, v := range x {
		qi := min(127, int32(math.RoundToEven(float64(iscale*v))))
		q[i] = int8(qi)
	}
	for j := range 16 {
		var s int16
		for _, v := range q[16*j : 16*j+16] {
			s += int16(v)
		}
		bsum[j] = s
	}
	*d = 1 / iscale
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// ActivationValues returns the activations the quantized path of MatMul
// multiplies W by, as float32: x (rows x k) quantized to the format ggml
// pairs with weight type t (Q8_0, Q8_1 or Q8_K) and expanded again
// (q·d per block). For F32, F16 and BF16 weights it returns a copy of x.
// A float64 matmul over these values and the dequantized weights differs
// from MatMul only by summation order (and, for Q8_1 partners, by the fp16
// rounding of the block sums s), which lets callers check the quantized
// path tightly. It panics when t has no kernel or k does not fit.
func ActivationValues(t gguf.Type, x []float32, rows, k int) []float32 {
	if t >= gguf.TypeCount || table[TierGo][t].float == nil {
		panic("kernels: no kernel for " + t.String())
	}
	kind := table[TierGo][t].act
	if len(x) != rows*k {
		panic("kernels: ActivationValues: len(x) != rows*k")
	}
	out := make([]float32, len(x))
	if kind == actNone {
		copy(out, x)
		return out
	}
	a := quantizeActs(kind, x, rows, k)
	bs := k / a.nb
	for i, q := range a.q {
		out[i] = float32(q) * a.d[i/bs]
	}
	return out
}
