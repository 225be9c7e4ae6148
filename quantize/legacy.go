package quantize

import (
	"encoding/binary"
	"math"

	"github.com/qconv/qconv/gguf"
)

// The legacy 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the
// activation type Q8_1 (ggml-quants.c quantize_row_*_ref, quantize_*_impl
// and dequantize_row_*).
//
// Byte-exactness notes for the whole file:
//
//   - ggml's reference build performs every float32 operation with its own
//     rounding (no FMA). Go may fuse a product into a following addition,
//     even across statements, unless the product is converted explicitly,
//     so every product that feeds an addition is written float32(a*b).
//   - The reference quantizers turn floats into codes with C casts such as
//     (int8_t)(x + 8.5f), i.e. truncation toward zero, not rounding. For
//     NaN or out-of-range values (only reachable when 1/d overflows for a
//     subnormal block maximum) the x86-64 conversion the reference build
//     uses yields the "integer indefinite" 0x80000000, whose low byte is 0;
//     cTrunc reproduces that instead of relying on Go's
//     implementation-specific conversion of such values.
//   - Block scales are stored as IEEE half precision rounded to nearest even.

const qk = 32 // elements per legacy block

func init() {
	register(&Traits{
		Type: gguf.TypeQ4_0, BlockSize: qk, BlockBytes: 18, Imatrix: ImatrixOptional,
		QuantizeRow:   quantizeRowQ4_0,
		DequantizeRow: dequantizeRowQ4_0,
	})
	register(&Traits{
		Type: gguf.TypeQ4_1, BlockSize: qk, BlockBytes: 20, Imatrix: ImatrixOptional,
		QuantizeRow:   quantizeRowQ4_1,
		DequantizeRow: dequantizeRowQ4_1,
	})
	register(&Traits{
		Type: gguf.TypeQ5_0, BlockSize: qk, BlockBytes: 22, Imatrix: ImatrixOptional,
		QuantizeRow:   quantizeRowQ5_0,
		DequantizeRow: dequantizeRowQ5_0,
	})
	register(&Traits{
		Type: gguf.TypeQ5_1, BlockSize: qk, BlockBytes: 24, Imatrix: ImatrixOptional,
		QuantizeRow:   quantizeRowQ5_1,
		DequantizeRow: dequantizeRowQ5_1,
	})
	register(&Traits{
		Type: gguf.TypeQ8_0, BlockSize: qk, BlockBytes: 34, Imatrix: ImatrixIgnored,
		QuantizeRow:   quantizeRowQ8_0,
		DequantizeRow: dequantizeRowQ8_0,
	})
	// ggml has no to_float for Q8_1 (it only ever holds activations); the
	// dequantizer here is the obvious d·q, useful for tests and inspection.
	register(&Traits{
		Type: gguf.TypeQ8_1, BlockSize: qk, BlockBytes: 36, Imatrix: ImatrixIgnored,
		QuantizeRow:   quantizeRowQ8_1,
		DequantizeRow: dequantizeRowQ8_1,
	})
}

// roundf is C's roundf: nearest integer, halfway cases away from zero.
// The float64 detour is exact for every float32.
func roundf(f float32) float32 { return float32(math.Round(float64(f))) }

// inverse is ggml's "d ? 1.0f/d : 0.0f".
func inverse(d float32) float32 {
	if d != 0 {
		return 1 / d
	}
	return 0
}

func putFP16(dst []byte, f float32) { binary.LittleEndian.PutUint16(dst, fp32ToFP16(f)) }
func getFP16(src []byte) float32    { return fp16ToFP32(binary.LittleEndian.Uint16(src)) }

// absMaxSigned returns the largest magnitude of x and the element that has
// it, keeping its sign; the first of equal magnitudes wins, as in ggml.
func absMaxSigned(x []float32) (amax, max float32) {
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, max = a, v
		}
	}
	return amax, max
}

// minMax is the min/max scan of the asymmetric types, starting from
// ±FLT_MAX as ggml does.
func minMax(x []float32) (min, max float32) {
	min, max = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < min {
			min = v
		}
		if v > max {
			max = v
		}
	}
	return min, max
}

// rowSigma2 is Σx²/n over the whole row: the variance term of the
// importance weights of the legacy imatrix paths, summed in element order.
func rowSigma2(x []float32) float32 {
	var sum float32
	for _, v := range x {
		sum += float32(v * v)
	}
	return sum / float32(len(x))
}

// imatrixWeights fills w with qw·√(σ² + x²), each step rounded as in ggml.
func imatrixWeights(w *[qk]float32, x, qw []float32, sigma2 float32) {
	x, qw = x[:qk], qw[:qk]
	for j, v := range x {
		w[j] = qw[j] * sqrt32(sigma2+float32(v*v))
	}
}

// packQ5High builds the Q5 qh word: bit j holds the fifth bit of element j.
func packQ5High(qh *uint32, j int, xi0, xi1 uint8) {
	*qh |= uint32(xi0&0x10) >> 4 << j
	*qh |= uint32(xi1&0x10) >> 4 << (j + qk/2)
}

// ---- Q4_0: d (fp16), 16 bytes of nibbles; x = d·(q-8) ----

func quantizeRowQ4_0(dst []byte, src []float32, imatrix []float32) {
	nb := len(src) / qk
	dst = dst[:nb*18]
	if imatrix != nil {
		quantizeRowQ4_0Imatrix(dst, src, imatrix)
		return
	}
	for i := 0; i < nb; i++ {
		x := src[i*qk : i*qk+qk]
		y := dst[i*18 : i*18+18]
		_, max := absMaxSigned(x)
		// The signed extreme maps to code 0 (value -8·d = max).
		d := max / -8
		id := inverse(d)
		putFP16(y, d)
		for j := 0; j < qk/2; j++ {
			x0 := float32(x[j] * id) // rounded before the +8.5 (no FMA)
			x1 := float32(x[j+qk/2] * id)
			// (int8_t)(v + 8.5f): truncation, then MIN(15, ·) on the int8.
			xi0 := uint8(min(15, int8(cTrunc(x0+8.5))))
			xi1 := uint8(min(15, int8(cTrunc(x1+8.5))))
			y[2+j] = xi0 | xi1<<4
		}
	}
}

func quantizeRowQ4_0Imatrix(dst []byte, src, imatrix []float32) {
	sigma2 := rowSigma2(src)
	var weight [qk]float32
	var L [qk]int8
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : i*qk+qk]
		y := dst[i*18 : i*18+18]
		imatrixWeights(&weight, x, imatrix[i*qk:], sigma2)
		d := makeQxQuants(qk, 8, x, L[:], 1, weight[:])
		putFP16(y, d)
		for j := 0; j < qk/2; j++ {
			y[2+j] = uint8(L[j]) | uint8(L[j+qk/2])<<4
		}
	}
}

func dequantizeRowQ4_0(dst []float32, src []byte) {
	nb := len(dst) / qk
	src = src[:nb*18]
	if simdConv && nb > 0 {
		dequantQ4_0AVX2(&dst[0], &src[0], nb, &fp16Table[0])
		return
	}
	for i := 0; i < nb; i++ {
		b := src[i*18 : i*18+18]
		y := dst[i*qk : i*qk+qk]
		d := getFP16(b)
		for j := 0; j < qk/2; j++ {
			y[j] = float32(int32(b[2+j]&0x0f)-8) * d
			y[j+qk/2] = float32(int32(b[2+j]>>4)-8) * d
		}
	}
}

// ---- Q4_1: d, m (fp16), 16 bytes of nibbles; x = d·q + m ----

func quantizeRowQ4_1(dst []byte, src []float32, imatrix []float32) {
	nb := len(src) / qk
	dst = dst[:nb*20]
	if imatrix != nil {
		quantizeRowQ4_1Imatrix(dst, src, imatrix)
		return
	}
	if simdConv && nb > 0 {
		quantQ4_1AVX2(&dst[0], &src[0], nb)
		fixZeroMin(dst, src, 20, q4_1Block)
		return
	}
	for i := 0; i < nb; i++ {
		q4_1Block(dst[i*20:i*20+20], src[i*qk:i*qk+qk])
	}
}

// fixZeroMin redoes with the scalar block function the blocks (of
// blockBytes) whose stored minimum is ±0 in fp16: the SIMD min/max scan
// finds the right value but, for a zero, not necessarily the sign of the
// first zero element, which the scalar scan keeps (and fp16 stores).
func fixZeroMin(dst []byte, src []float32, blockBytes int, block func(y []byte, x []float32)) {
	nb := len(src) / qk
	dst = dst[:nb*blockBytes]
	for i := 0; i < nb; i++ {
		if binary.LittleEndian.Uint16(dst[i*blockBytes+2:])&0x7fff == 0 {
			block(dst[i*blockBytes:i*blockBytes+blockBytes], src[i*qk:i*qk+qk])
		}
	}
}

// q4_1Block quantizes one block of 32 as quantize_row_q4_1_ref.
func q4_1Block(y []byte, x []float32) {
	x, y = x[:qk], y[:20]
	min, max := minMax(x)
	d := (max - min) / 15
	id := inverse(d)
	putFP16(y, d)
	putFP16(y[2:], min)
	for j := 0; j < qk/2; j++ {
		x0 := float32((x[j] - min) * id)
		x1 := float32((x[j+qk/2] - min) * id)
		// (int8_t)(v + 0.5f): round half up by truncation, then MIN(15, ·).
		xi0 := uint8(minInt8(15, int8(cTrunc(x0+0.5))))
		xi1 := uint8(minInt8(15, int8(cTrunc(x1+0.5))))
		y[4+j] = xi0 | xi1<<4
	}
}

// minInt8 is min for int8 (named so that the local variables called min in
// the asymmetric quantizers do not shadow the builtin where it is needed).
func minInt8(a, b int8) int8 {
	if a < b {
		return a
	}
	return b
}

func quantizeRowQ4_1Imatrix(dst []byte, src, imatrix []float32) {
	sigma2 := rowSigma2(src)
	var weight [qk]float32
	var L [qk]uint8
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : i*qk+qk]
		y := dst[i*20 : i*20+20]
		imatrixWeights(&weight, x, imatrix[i*qk:], sigma2)
		var theMin float32
		d := makeQkx3Quants(qk, 15, x, weight[:], L[:], &theMin, -0.9, 0.05, 36, false)
		putFP16(y, d)
		putFP16(y[2:], -theMin)
		for j := 0; j < qk/2; j++ {
			y[4+j] = L[j] | L[j+qk/2]<<4
		}
	}
}

func dequantizeRowQ4_1(dst []float32, src []byte) {
	nb := len(dst) / qk
	src = src[:nb*20]
	if simdConv && nb > 0 {
		dequantQ4_1AVX2(&dst[0], &src[0], nb, &fp16Table[0])
		return
	}
	for i := 0; i < nb; i++ {
		b := src[i*20 : i*20+20]
		y := dst[i*qk : i*qk+qk]
		d, m := getFP16(b), getFP16(b[2:])
		for j := 0; j < qk/2; j++ {
			// x0*d + m: product rounded, then the add (no FMA).
			y[j] = float32(float32(b[4+j]&0x0f)*d) + m
			y[j+qk/2] = float32(float32(b[4+j]>>4)*d) + m
		}
	}
}

// ---- Q5_0: d (fp16), qh (u32 LE), 16 bytes of nibbles; x = d·(q-16) ----

func quantizeRowQ5_0(dst []byte, src []float32, imatrix []float32) {
	nb := len(src) / qk
	dst = dst[:nb*22]
	if imatrix != nil {
		quantizeRowQ5_0Imatrix(dst, src, imatrix)
		return
	}
	for i := 0; i < nb; i++ {
		x := src[i*qk : i*qk+qk]
		y := dst[i*22 : i*22+22]
		_, max := absMaxSigned(x)
		d := max / -16
		id := inverse(d)
		putFP16(y, d)
		var qh uint32
		for j := 0; j < qk/2; j++ {
			x0 := float32(x[j] * id)
			x1 := float32(x[j+qk/2] * id)
			xi0 := uint8(min(31, int8(cTrunc(x0+16.5))))
			xi1 := uint8(min(31, int8(cTrunc(x1+16.5))))
			y[6+j] = xi0&0x0f | (xi1&0x0f)<<4
			packQ5High(&qh, j, xi0, xi1)
		}
		binary.LittleEndian.PutUint32(y[2:], qh)
	}
}

func quantizeRowQ5_0Imatrix(dst []byte, src, imatrix []float32) {
	sigma2 := rowSigma2(src)
	var weight [qk]float32
	var L [qk]int8
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : i*qk+qk]
		y := dst[i*22 : i*22+22]
		imatrixWeights(&weight, x, imatrix[i*qk:], sigma2)
		d := makeQxQuants(qk, 16, x, L[:], 1, weight[:])
		putFP16(y, d)
		var qh uint32
		for j := 0; j < qk/2; j++ {
			xi0, xi1 := uint8(L[j]), uint8(L[j+qk/2])
			y[6+j] = xi0&0x0f | (xi1&0x0f)<<4
			packQ5High(&qh, j, xi0, xi1)
		}
		binary.LittleEndian.PutUint32(y[2:], qh)
	}
}

func dequantizeRowQ5_0(dst []float32, src []byte) {
	nb := len(dst) / qk
	src = src[:nb*22]
	if simdConv && nb > 0 {
		dequantQ5_0AVX2(&dst[0], &src[0], nb, &fp16Table[0])
		return
	}
	for i := 0; i < nb; i++ {
		b := src[i*22 : i*22+22]
		y := dst[i*qk : i*qk+qk]
		d := getFP16(b)
		qh := binary.LittleEndian.Uint32(b[2:])
		for j := 0; j < qk/2; j++ {
			h0 := int32(qh>>j<<4) & 0x10
			h1 := int32(qh>>(j+12)) & 0x10
			y[j] = float32((int32(b[6+j]&0x0f)|h0)-16) * d
			y[j+qk/2] = float32((int32(b[6+j]>>4)|h1)-16) * d
		}
	}
}

// ---- Q5_1: d, m (fp16), qh (u32 LE), 16 bytes of nibbles; x = d·q + m ----

func quantizeRowQ5_1(dst []byte, src []float32, imatrix []float32) {
	nb := len(src) / qk
	dst = dst[:nb*24]
	if imatrix != nil {
		quantizeRowQ5_1Imatrix(dst, src, imatrix)
		return
	}
	if simdConv && nb > 0 {
		quantQ5_1AVX2(&dst[0], &src[0], nb)
		fixZeroMin(dst, src, 24, q5_1Block)
		return
	}
	for i := 0; i < nb; i++ {
		q5_1Block(dst[i*24:i*24+24], src[i*qk:i*qk+qk])
	}
}

// q5_1Block quantizes one block of 32 as quantize_row_q5_1_ref.
func q5_1Block(y []byte, x []float32) {
	x, y = x[:qk], y[:24]
	min, max := minMax(x)
	d := (max - min) / 31
	id := inverse(d)
	putFP16(y, d)
	putFP16(y[2:], min)
	var qh uint32
	for j := 0; j < qk/2; j++ {
		x0 := float32((x[j] - min) * id)
		x1 := float32((x[j+qk/2] - min) * id)
		// (uint8_t)(v + 0.5f): truncation, no clamp in ggml.
		xi0 := uint8(cTrunc(x0 + 0.5))
		xi1 := uint8(cTrunc(x1 + 0.5))
		y[8+j] = xi0&0x0f | (xi1&0x0f)<<4
		packQ5High(&qh, j, xi0, xi1)
	}
	binary.LittleEndian.PutUint32(y[4:], qh)
}

func quantizeRowQ5_1Imatrix(dst []byte, src, imatrix []float32) {
	sigma2 := rowSigma2(src)
	var weight [qk]float32
	var L [qk]uint8
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : i*qk+qk]
		y := dst[i*24 : i*24+24]
		imatrixWeights(&weight, x, imatrix[i*qk:], sigma2)
		var theMin float32
		d := makeQkx3Quants(qk, 31, x, weight[:], L[:], &theMin, -0.9, 0.05, 36, false)
		putFP16(y, d)
		putFP16(y[2:], -theMin)
		var qh uint32
		for j := 0; j < qk/2; j++ {
			xi0, xi1 := L[j], L[j+qk/2]
			y[8+j] = xi0&0x0f | (xi1&0x0f)<<4
			packQ5High(&qh, j, xi0, xi1)
		}
		binary.LittleEndian.PutUint32(y[4:], qh)
	}
}

func dequantizeRowQ5_1(dst []float32, src []byte) {
	nb := len(dst) / qk
	src = src[:nb*24]
	if simdConv && nb > 0 {
		dequantQ5_1AVX2(&dst[0], &src[0], nb, &fp16Table[0])
		return
	}
	for i := 0; i < nb; i++ {
		b := src[i*24 : i*24+24]
		y := dst[i*qk : i*qk+qk]
		d, m := getFP16(b), getFP16(b[2:])
		qh := binary.LittleEndian.Uint32(b[4:])
		for j := 0; j < qk/2; j++ {
			h0 := uint8(qh>>j<<4) & 0x10
			h1 := uint8(qh>>(j+12)) & 0x10
			y[j] = float32(float32(b[8+j]&0x0f|h0)*d) + m
			y[j+qk/2] = float32(float32(b[8+j]>>4|h1)*d) + m
		}
	}
}

// ---- Q8_0: d (fp16), 32 int8; x = d·q ----

// q8Block quantizes one block of 32 to d and qs as quantize_row_q8_0_ref
// (and the first half of quantize_row_q8_1_ref) do.
func q8Block(qs []byte, x []float32) (d float32) {
	x = x[:qk]
	qs = qs[:qk]
	var amax float32
	for _, v := range x {
		// MAX(amax, fabsf(v)) as the C macro evaluates it.
		if a := abs32(v); !(amax > a) {
			amax = a
		}
	}
	d = amax / 127
	id := inverse(d)
	for j, v := range x {
		// roundf (half away from zero), then the implicit float→int8_t
		// conversion of the assignment.
		qs[j] = uint8(int8(cTrunc(roundf(v * id))))
	}
	return d
}

func quantizeRowQ8_0(dst []byte, src []float32, _ []float32) {
	nb := len(src) / qk
	dst = dst[:nb*34]
	for i := 0; i < nb; i++ {
		y := dst[i*34 : i*34+34]
		d := q8Block(y[2:], src[i*qk:i*qk+qk])
		putFP16(y, d)
	}
}

func dequantizeRowQ8_0(dst []float32, src []byte) {
	nb := len(dst) / qk
	src = src[:nb*34]
	if simdConv && nb > 0 {
		dequantQ8_0AVX2(&dst[0], &src[0], nb, &fp16Table[0])
		return
	}
	for i := 0; i < nb; i++ {
		b := src[i*34 : i*34+34]
		y := dst[i*qk : i*qk+qk]
		d := getFP16(b)
		for j := range y {
			y[j] = float32(int8(b[2+j])) * d
		}
	}
}

// ---- Q8_1: d, s (fp16), 32 int8; x = d·q, s = d·Σq ----

func quantizeRowQ8_1(dst []byte, src []float32, _ []float32) {
	nb := len(src) / qk
	dst = dst[:nb*36]
	for i := 0; i < nb; i++ {
		y := dst[i*36 : i*36+36]
		d := q8Block(y[4:], src[i*qk:i*qk+qk])
		var sum int32
		for _, q := range y[4:36] {
			sum += int32(int8(q))
		}
		putFP16(y, d)
		// C: sum*d converts the int sum (exact in float32) and multiplies
		// once; only the fp16 store rounds again.
		putFP16(y[2:], float32(sum)*d)
	}
}

func dequantizeRowQ8_1(dst []float32, src []byte) {
	nb := len(dst) / qk
	src = src[:nb*36]
	for i := 0; i < nb; i++ {
		b := src[i*36 : i*36+36]
		y := dst[i*qk : i*qk+qk]
		d := getFP16(b)
		for j := range y {
			y[j] = float32(int8(b[4+j])) * d
		}
	}
}
