package quantize

// cTrunc converts f to int32 the way a C cast compiled for x86-64 does
// (cvttss2si): truncation toward zero, and 0x80000000 for NaN and for
// values outside the int32 range. Narrower C casts keep the low bits of
// that result, which Go's int8/uint8 conversions of an int32 also do.
//
// On amd64 Go's own conversion is that very instruction (TestCTrunc checks
// the out-of-range cases), so no range test is needed.
func cTrunc(f float32) int32 { return int32(f) }
