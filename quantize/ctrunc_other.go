//go:build !amd64

package quantize

import "math"

// cTrunc converts f to int32 the way a C cast compiled for x86-64 does
// (cvttss2si): truncation toward zero, and 0x80000000 for NaN and for
// values outside the int32 range. Narrower C casts keep the low bits of
// that result, which Go's int8/uint8 conversions of an int32 also do.
// Other architectures' conversions saturate, hence the range test.
func cTrunc(f float32) int32 {
	if f >= -2147483648 && f < 2147483648 {
		return int32(f)
	}
	return math.MinInt32
}
