//go:build purego || !amd64

package quantize

// No conversion kernels here: the scalar loops run everywhere.
var simdConv = false

func f32ToF16AVX2(dst *byte, src *float32, n int)  { panic("quantize: no SIMD conversion") }
func f32ToBF16AVX2(dst *byte, src *float32, n int) { panic("quantize: no SIMD conversion") }
func bf16ToF32AVX2(dst *float32, src *byte, n int) { panic("quantize: no SIMD conversion") }
func dequantTQ1_0AVX2(dst *float32, src *byte, nb int, tab *float32) {
	panic("quantize: no SIMD conversion")
}
func dequantTQ2_0AVX2(dst *float32, src *byte, nb int, tab *float32) {
	panic("quantize: no SIMD conversion")
}
func dequantQ8_0AVX2(dst *float32, src *byte, nb int, tab *float32) {
	panic("quantize: no SIMD conversion")
}
func dequantQ4KAVX2(dst *float32, src *byte, nb int, tab *float32) {
	panic("quantize: no SIMD conversion")
}
func dequantQ5KAVX2(dst *float32, src *byte, nb int, tab *float32) {
	panic("quantize: no SIMD conversion")
}
func dequantQ6KAVX2(dst *float32, src *byte, nb int, tab *float32) {
	panic("quantize: no SIMD conversion")
}
func dequantQ2KAVX2(dst *float32, src *byte, nb int, tab *float32) {
	panic("quantize: no SIMD conversion")
}
func dequantQ3KAVX2(dst *float32, src *byte, nb int, tab *float32) {
	panic("quantize: no SIMD conversion")
}
func dequantQ4_0AVX2(dst *float32, src *byte, nb int, tab *float32) {
	panic("quantize: no SIMD conversion")
}
func dequantQ4_1AVX2(dst *float32, src *byte, nb int, tab *float32) {
	panic("quantize: no SIMD conversion")
}
func dequantQ5_0AVX2(dst *float32, src *byte, nb int, tab *float32) {
	panic("quantize: no SIMD conversion")
}
func dequantQ5_1AVX2(dst *float32, src *byte, nb int, tab *float32) {
	panic("quantize: no SIMD conversion")
}
func quantQ4_1AVX2(dst *byte, src *float32, nb int) { panic("quantize: no SIMD conversion") }
func quantQ5_1AVX2(dst *byte, src *float32, nb int) { panic("quantize: no SIMD conversion") }
