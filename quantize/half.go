package quantize

import "github.com/x448/float16"

// fp32ToFP16 rounds f to IEEE binary16 with round-to-nearest-even, as
// ggml's GGML_FP32_TO_FP16 does (F16C or its software twin).
func fp32ToFP16(f float32) uint16 { return float16.Fromfloat32(f).Bits() }

// fp16ToFP32 widens an IEEE binary16 value exactly.
func fp16ToFP32(h uint16) float32 { return float16.Frombits(h).Float32() }
