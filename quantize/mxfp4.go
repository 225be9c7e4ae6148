package quantize

import (
	"math"

	"github.com/qconv/qconv/gguf"
)

// The FP4 micro-scaled types MXFP4 and NVFP4 (ggml-quants.c
// quantize_row_{mxfp4,nvfp4}_ref, dequantize_row_{mxfp4,nvfp4}; scale
// helpers from ggml-impl.h). Every element is an E2M1 code (sign, 2-bit
// exponent, 1-bit mantissa); ggml stores the code's value doubled as a small
// integer (fp4Values) and halves the block scale instead.
//
// MXFP4 (17 bytes per 32): e (E8M0 scale, u8), qs[16]; x = 2^(e-128)·F[q].
// NVFP4 (36 bytes per 64): d[4] (one UE4M3 scale per 16 elements),
// qs[32]; sub-block s of 16 uses qs[8s:8s+8] and x = ½·UE4M3(d[s])·F[q].
// Nibbles: byte j of a group holds element j low and element j+n/2 high
// (n = 32 for MXFP4, 16 for an NVFP4 sub-block).
//
// Neither quantizer uses an importance matrix (ggml's quantize_mxfp4 and
// quantize_nvfp4 ignore it), and ggml_quantize_chunk equals the _ref
// quantizer for both. Every product here is exact (a power of two, or a
// value with at most 4 significant bits, times a small integer), so no
// float32 operation can be fused into a different result.

const (
	mxfp4QK     = 32
	mxfp4Bytes  = 17
	nvfp4QK     = 64
	nvfp4Sub    = 16 // elements per UE4M3 scale
	nvfp4NSub   = nvfp4QK / nvfp4Sub
	nvfp4Bytes  = nvfp4NSub + nvfp4QK/2
	fp4MaxScale = 448 // largest finite UE4M3 value
)

// fp4Values is twice the value of each E2M1 code (OCP Microscaling
// Formats spec v1.0, FP4 E2M1: codes 0-7 are 0, 0.5, 1, 1.5, 2, 3, 4, 6;
// bit 3 is the sign). ggml's kvalues_mxfp4 stores the same doubled values,
// so the negative zero (code 8) is an integer 0 and dequantizes to +0.
// Read-only.
var fp4Values = [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

func init() {
	register(&Traits{
		Type: gguf.TypeMXFP4, BlockSize: mxfp4QK, BlockBytes: mxfp4Bytes, Imatrix: ImatrixIgnored,
		QuantizeRow:   quantizeRowMXFP4,
		DequantizeRow: dequantizeRowMXFP4,
	})
	register(&Traits{
		Type: gguf.TypeNVFP4, BlockSize: nvfp4QK, BlockBytes: nvfp4Bytes, Imatrix: ImatrixIgnored,
		QuantizeRow:   quantizeRowNVFP4,
		DequantizeRow: dequantizeRowNVFP4,
	})
}

// e8m0Half is half the value of an E8M0 scale: 2^(e-128), for every e.
// E8M0 is a bare biased exponent (bias 127). ggml does not treat 0xFF as
// NaN: it decodes to 2^127 like any other exponent. The two smallest
// results are float32 subnormals.
func e8m0Half(e uint8) float32 {
	if e < 2 {
		return math.Float32frombits(0x00200000 << e)
	}
	return math.Float32frombits(uint32(e-1) << 23)
}

// ue4m3Half holds half the value of every UE4M3 byte: an unsigned E4M3
// with exponent bias 7 and 3 mantissa bits, subnormal at exponent 0. Bit 7
// is ignored; 0x7F (E4M3's NaN) decodes to 0, as in ggml, while 0xFF
// decodes like an ordinary code (480·½). Read-only after initialisation.
var ue4m3Half = func() (t [256]float32) {
	for i := range t {
		x := uint8(i)
		if x == 0 || x == 0x7F {
			continue
		}
		exp, man := int(x>>3)&0xF, float32(x&7)
		var raw float32
		if exp == 0 {
			raw = man * (1.0 / 512) // man·2^-9
		} else {
			raw = (1 + man/8) * float32(math.Ldexp(1, exp-7))
		}
		t[i] = raw * 0.5
	}
	return t
}()

// fp32ToUE4M3 is ggml_fp32_to_ue4m3: x clamped to 448, the mantissa
// rounded to 3 bits by its next bit (ties away from zero), carrying into
// the exponent; values below the normal range become subnormal codes
// rounded from x·512 (0 below half the smallest one); NaN and x ≤ 0 give 0.
// Two ggml quirks are kept, since they decide the bytes: every x that
// rounds to 256 or more (x ≥ 248, exponent field 15) gives 0x7E (448), so
// codes 0x78-0x7D are never written; and x just below 2^-6 that rounds to 8·2^-9 gives the largest
// subnormal 0x07 instead of the smallest normal 0x08.
func fp32ToUE4M3(x float32) uint8 {
	if !(x > 0) {
		return 0
	}
	if x > fp4MaxScale {
		x = fp4MaxScale
	}
	bits := math.Float32bits(x)
	exp := int(bits>>23&0xFF) - 127 + 7
	man := int(bits >> 20 & 7)
	if exp <= 0 {
		m := cTrunc(x*512 + 0.5) // x·512 is exact: no fusion can change it
		if m > 7 {
			m = 7
		}
		if m < 1 {
			return 0
		}
		return uint8(m)
	}
	if exp >= 15 {
		return 0x7E
	}
	man += int(bits >> 19 & 1)
	if man > 7 {
		man = 0
		exp++
		if exp >= 15 {
			return 0x7E
		}
	}
	return uint8(exp<<3 | man)
}

// bestIndexFP4 is ggml's best_index_mxfp4: the code whose value times d is
// nearest to x, the first of equal errors winning (NaN x gives code 0).
func bestIndexFP4(x, d float32) uint8 {
	best := uint8(0)
	// float32(v*d) is rounded before the subtraction, as in ggml's C:
	// without the conversion Go may fuse the two into one FMA (it does on
	// arm64), which changes near-ties.
	bestErr := abs32(float32(float32(fp4Values[0])*d) - x)
	for i := 1; i < 16; i++ {
		if err := abs32(float32(float32(fp4Values[i])*d) - x); err < bestErr {
			best, bestErr = uint8(i), err
		}
	}
	return best
}

// mxfp4Exponent is ggml's (uint8_t)(floorf(log2f(amax)) - 2 + 127) for
// amax > 0, and 0 for amax = 0. log2f is correctly rounded where it
// matters (log2 of a float32 just below a power of two rounds up to the
// integer for large exponents, so this is not simply amax's exponent);
// float32(math.Log2) gives the same float32. Results outside 0..255 (amax
// below 2^-125 or infinite) wrap as the C conversion does on x86-64.
func mxfp4Exponent(amax float32) uint8 {
	if !(amax > 0) {
		return 0
	}
	l := float32(math.Floor(float64(float32(math.Log2(float64(amax))))))
	return uint8(cTrunc(l - 2 + 127))
}

func quantizeRowMXFP4(dst []byte, src []float32, _ []float32) {
	nb := len(src) / mxfp4QK
	dst = dst[:nb*mxfp4Bytes]
	for i := 0; i < nb; i++ {
		x := src[i*mxfp4QK : (i+1)*mxfp4QK]
		y := dst[i*mxfp4Bytes : (i+1)*mxfp4Bytes]
		var amax float32
		for _, v := range x {
			if a := abs32(v); amax < a {
				amax = a
			}
		}
		e := mxfp4Exponent(amax)
		d := e8m0Half(e)
		y[0] = e
		for j := 0; j < mxfp4QK/2; j++ {
			y[1+j] = bestIndexFP4(x[j], d) | bestIndexFP4(x[j+mxfp4QK/2], d)<<4
		}
	}
}

func dequantizeRowMXFP4(dst []float32, src []byte) {
	nb := len(dst) / mxfp4QK
	for i := 0; i < nb; i++ {
		b := src[i*mxfp4Bytes : (i+1)*mxfp4Bytes]
		y := dst[i*mxfp4QK : (i+1)*mxfp4QK]
		d := e8m0Half(b[0])
		for j, q := range b[1:] {
			y[j] = float32(fp4Values[q&0xF]) * d
			y[j+mxfp4QK/2] = float32(fp4Values[q>>4]) * d
		}
	}
}

func quantizeRowNVFP4(dst []byte, src []float32, _ []float32) {
	nb := len(src) / nvfp4QK
	dst = dst[:nb*nvfp4Bytes]
	for i := 0; i < nb; i++ {
		y := dst[i*nvfp4Bytes : (i+1)*nvfp4Bytes]
		for s := 0; s < nvfp4NSub; s++ {
			x := src[i*nvfp4QK+s*nvfp4Sub : i*nvfp4QK+(s+1)*nvfp4Sub]
			var amax float32
			for _, v := range x {
				if a := abs32(v); amax < a {
					amax = a
				}
			}
			ue := fp32ToUE4M3(amax / 6)
			y[s] = ue
			d := ue4m3Half[ue]
			qs := y[nvfp4NSub+s*nvfp4Sub/2 : nvfp4NSub+(s+1)*nvfp4Sub/2]
			for j := range qs {
				qs[j] = bestIndexFP4(x[j], d) | bestIndexFP4(x[j+nvfp4Sub/2], d)<<4
			}
		}
	}
}

func dequantizeRowNVFP4(dst []float32, src []byte) {
	nb := len(dst) / nvfp4QK
	for i := 0; i < nb; i++ {
		b := src[i*nvfp4Bytes : (i+1)*nvfp4Bytes]
		for s := 0; s < nvfp4NSub; s++ {
			d := ue4m3Half[b[s]]
			y := dst[i*nvfp4QK+s*nvfp4Sub : i*nvfp4QK+(s+1)*nvfp4Sub]
			for j, q := range b[nvfp4NSub+s*nvfp4Sub/2 : nvfp4NSub+(s+1)*nvfp4Sub/2] {
				y[j] = float32(fp4Values[q&0xF]) * d
				y[j+nvfp4Sub/2] = float32(fp4Values[q>>4]) * d
			}
		}
	}
}
