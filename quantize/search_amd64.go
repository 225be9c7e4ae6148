//go:build !purego

package quantize

import "golang.org/x/sys/cpu"

// simdSearch enables the AVX2 scale searches of zsearch_amd64.s. Set once
// here; only tests change it (to compare against the scalar code).
var simdSearch = cpu.X86.HasAVX2

// qkxKernelFor reports whether qkxKernel and qkxRequant serve sub-blocks
// of n elements (with absolute errors if useMad).
func qkxKernelFor(n int, useMad bool) bool {
	return simdSearch && (n == 32 && !useMad || n == 16)
}

// qkxKernel runs the SIMD search on b. The calls are direct so that b,
// marked noescape, stays on the caller's stack.
func qkxKernel(n int, useMad bool, b *qkxBatch, ncand, nmax, qkx3 int) {
	switch {
	case n == 32 && !useMad:
		qkxSearch8x32AVX2(&b.x[0][0], ncand, nmax, qkx3)
	case n == 16 && !useMad:
		qkxSearch8x16AVX2(&b.x[0][0], ncand, nmax, qkx3)
	case n == 16 && useMad:
		qkxSearch8x16MadAVX2(&b.x[0][0], ncand, nmax, qkx3)
	default:
		panic("quantize: no SIMD search for this size")
	}
}

// qkxRequant runs the SIMD requantization on b.
func qkxRequant(n int, b *qkxBatch, lo, hi, add int) {
	switch n {
	case 32:
		qkxRequant8x32AVX2(&b.x[0][0], lo, hi, add)
	case 16:
		qkxRequant8x16AVX2(&b.x[0][0], lo, hi, add)
	default:
		panic("quantize: no SIMD requantization for this size")
	}
}

// qxKernelFor reports whether qxKernel serves sub-blocks of n elements.
func qxKernelFor(n int) bool { return simdSearch && n == 16 }

// qxKernel runs the SIMD makeQxQuants search on b.
func qxKernel(n int, b *qkxBatch, nmax int) {
	if n != 16 {
		panic("quantize: no SIMD search for this size")
	}
	qxSearch8x16AVX2(&b.x[0][0], nmax)
}
