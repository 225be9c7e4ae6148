package quantize

import "github.com/x448/float16"

// fp32ToFP16 rounds f to IEEE binary16 with round-to-nearest-even, as
// ggml's GGML_FP32_TO_FP16 does (F16C or its software twin).
func fp32ToFP16(f float32) uint16 { return float16.Fromfloat32(f).Bits() }

// fp16Table holds the float32 value of every binary16 bit pattern: one
// load per element instead of bit manipulation, as ggml's own table. It is
// filled once at package initialisation and only read afterwards.
var fp16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for h := range t {
		t[h] = float16.Frombits(uint16(h)).Float32()
	}
	return &t
}()

// fp16ToFP32 widens an IEEE binary16 value exactly.
func fp16ToFP32(h uint16) float32 { return fp16Table[h] }
