package kernels

import "math"

// fp16 reads an IEEE binary16 value (little-endian at b[0:2]) as float32.
func fp16(b []byte) float32 { return fp16ToFP32(uint16(b[0]) | uint16(b[1])<<8) }

// fp16ToFP32 widens an IEEE binary16 value exactly.
func fp16ToFP32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0x1f: // Inf, NaN (payload kept)
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case 0: // zero, subnormal: mant · 2⁻²⁴, exact in float32
		v := float32(mant) * 0x1p-24
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// fp32ToFP16 narrows f to binary16, rounding to nearest even; NaN becomes
// a quiet NaN (0x7e00) with f's sign.
func fp32ToFP16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 { // binary16 subnormal (or zero)
		if e < -10 {
			return sign
		}
		m := mant | 0x800000
		shift := uint(14 - e)
		r := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || rem == half && r&1 == 1 {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && r&1 == 1 {
		r++ // may carry into the exponent, up to Inf: both correct
	}
	return sign | uint16(r)
}

// fp16Round rounds f to the nearest binary16 value and widens it back.
func fp16Round(f float32) float32 { return fp16ToFP32(fp32ToFP16(f)) }

// bf16 reads a bfloat16 value (little-endian at b[0:2]) as float32.
func bf16(b []byte) float32 { return math.Float32frombits((uint32(b[0]) | uint32(b[1])<<8) << 16) }
