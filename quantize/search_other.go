//go:build purego || !amd64

package quantize

// No SIMD scale searches here: qkxBatch runs the scalar code.
var simdSearch = false

func qkxKernelFor(n int, useMad bool) bool { return false }

func qkxKernel(n int, useMad bool, b *qkxBatch, ncand, nmax, qkx3 int) {
	panic("quantize: no SIMD search")
}

func qkxRequant(n int, b *qkxBatch, lo, hi, add int) { panic("quantize: no SIMD requantization") }

func qxKernelFor(n int) bool { return false }

func qxKernel(n int, b *qkxBatch, nmax int) { panic("quantize: no SIMD search") }

func q3Search8x16x2AVX2(b0 *float32, b1 *float32) { panic("quantize: no SIMD search") }
