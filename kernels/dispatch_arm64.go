//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// neonDotProduct records whether the NEON tier uses the SDOT kernels
// (set once at initialisation).
var neonDotProduct bool

// initArch marks TierNEON available where the CPU has Advanced SIMD
// (every ARMv8-A CPU) and registers its kernels: the SDOT variants where
// the dot-product extension is present, the baseline ones otherwise.
// F32, F16 and BF16 weights get float kernels. Types without a NEON
// kernel fall back to the Go tier.
func initArch() {
	if !cpu.ARM64.HasASIMD {
		return
	}
	tierAvailable[TierNEON] = true
	bestTier = TierNEON
	neonDotProduct = cpu.ARM64.HasASIMDDP
	if neonDotProduct {
		neonDot.register(TierNEON)
	} else {
		neonBase.register(TierNEON)
	}
	for t, f := range neonFloats {
		f.set(TierNEON, t)
	}
}
