package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ToFloat32 decodes src, the little-endian bytes of elements of dtype dt,
// into dst, which must have exactly one slot per element. src needs no
// alignment.
//
// Every conversion is exact where float32 can hold the value: F16, BF16,
// the F8 types and F32 are widened exactly (signed zeros, subnormals and
// infinities kept; BF16 is bits<<16 and F32 is copied, NaN payloads
// included; F16 NaNs keep their payload and come out quiet, as with F16C
// hardware and x448/float16). F64 and the 32- and 64-bit integers round to
// nearest even, as Go's float32 conversion does. BOOL gives 0 or 1 (any
// non-zero byte is 1). The F8 types decode NaN as a quiet NaN with the
// input's sign bit.
//
// C64 and the packed sub-byte types (F4, F6_E2M3, F6_E3M2) are not
// supported; the error then matches errors.ErrUnsupported.
func ToFloat32(dst []float32, src []byte, dt DType) error {
	size := dt.Size()
	if dt == C64 || size == 0 {
		return fmt.Errorf("converting %v to float32: %w", dt, errors.ErrUnsupported)
	}
	if len(src)%size != 0 {
		return fmt.Errorf("converting %v to float32: %d bytes is not a whole number of %d-byte elements",
			dt, len(src), size)
	}
	n := len(src) / size
	if len(dst) != n {
		return fmt.Errorf("converting %v to float32: destination holds %d values, source has %d",
			dt, len(dst), n)
	}
	le := binary.LittleEndian
	switch dt {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = math.Float32frombits(f16Bits(le.Uint16(src[2*i:])))
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(le.Uint16(src[2*i:])) << 16)
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(src[8*i:])))
		}
	case F8E4M3, F8E5M2, F8E8M0, F8E4M3FNUZ, F8E5M2FNUZ:
		tab := f8Tables[dt-F8E4M3]
		for i, b := range src {
			dst[i] = tab[b]
		}
	case Bool:
		for i, b := range src {
			dst[i] = 0
			if b != 0 {
				dst[i] = 1
			}
		}
	case U8:
		for i, b := range src {
			dst[i] = float32(b)
		}
	case I8:
		for i, b := range src {
			dst[i] = float32(int8(b))
		}
	case U16:
		for i := range dst {
			dst[i] = float32(le.Uint16(src[2*i:]))
		}
	case I16:
		for i := range dst {
			dst[i] = float32(int16(le.Uint16(src[2*i:])))
		}
	case U32:
		for i := range dst {
			dst[i] = float32(le.Uint32(src[4*i:]))
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(le.Uint32(src[4*i:])))
		}
	case U64:
		for i := range dst {
			dst[i] = float32(le.Uint64(src[8*i:]))
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(le.Uint64(src[8*i:])))
		}
	default:
		return fmt.Errorf("converting %v to float32: %w", dt, errors.ErrUnsupported)
	}
	return nil
}

// f16Bits widens IEEE binary16 bits to the bits of the equal float32.
func f16Bits(h uint16) uint32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f && mant == 0: // infinity
		return sign | 0x7f800000
	case exp == 0x1f: // NaN: payload kept, made quiet as F16C hardware does
		return sign | 0x7fc00000 | mant<<13
	case exp != 0: // normal: rebias 15 -> 127
		return sign | (exp+127-15)<<23 | mant<<13
	case mant == 0: // signed zero
		return sign
	}
	// Subnormal mant x 2^-24: shift until the implicit bit appears.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return sign | e<<23 | (mant&0x3ff)<<13
}

// f8Tables holds the float32 value of every byte for F8E4M3, F8E5M2,
// F8E8M0, F8E4M3FNUZ and F8E5M2FNUZ, in that (dtype) order.
var f8Tables = func() (t [5][256]float32) {
	for i := range 256 {
		b := uint8(i)
		t[0][i] = e4m3fn(b)
		t[1][i] = math.Float32frombits(f16Bits(uint16(b) << 8)) // E5M2 is the top byte of an F16
		t[2][i] = e8m0(b)
		t[3][i] = fnuz(b, 3, 8)
		t[4][i] = fnuz(b, 2, 16)
	}
	return t
}()

func signed(neg bool, v float64) float32 {
	if neg {
		v = -v
	}
	return float32(v)
}

func quietNaN(neg bool) float32 {
	bits := uint32(0x7fc00000)
	if neg {
		bits |= 1 << 31
	}
	return math.Float32frombits(bits)
}

// e4m3fn decodes OCP FP8 E4M3 (the "fn" variant): bias 7, no infinities,
// S.1111.111 is NaN, largest finite 448.
func e4m3fn(b uint8) float32 {
	neg := b&0x80 != 0
	exp, mant := int(b>>3)&0xf, int(b&7)
	if exp == 0xf && mant == 7 {
		return quietNaN(neg)
	}
	if exp == 0 {
		return signed(neg, math.Ldexp(float64(mant), -9)) // mant/8 x 2^(1-7)
	}
	return signed(neg, math.Ldexp(float64(8+mant), exp-7-3))
}

// e8m0 decodes the OCP E8M0 scale: 2^(b-127), 0xff is NaN. It has no sign
// and no zero; 0x00 is 2^-127, a float32 subnormal.
func e8m0(b uint8) float32 {
	if b == 0xff {
		return quietNaN(false)
	}
	return float32(math.Ldexp(1, int(b)-127))
}

// fnuz decodes the FNUZ 8-bit floats (E4M3FNUZ: 3 mantissa bits, bias 8;
// E5M2FNUZ: 2 mantissa bits, bias 16): no infinities, no negative zero,
// 0x80 is the only NaN, and the all-ones exponent holds ordinary numbers.
func fnuz(b uint8, mantBits, bias int) float32 {
	if b == 0x80 {
		return quietNaN(true)
	}
	neg := b&0x80 != 0
	mask := 1<<mantBits - 1
	exp, mant := int(b&0x7f)>>mantBits, int(b)&mask
	if exp == 0 {
		return signed(neg, math.Ldexp(float64(mant), 1-bias-mantBits))
	}
	return signed(neg, math.Ldexp(float64(1<<mantBits+mant), exp-bias-mantBits))
}
