//go:build !purego

package kernels

import (
	"golang.org/x/sys/cpu"

	"github.com/qconv/qconv/gguf"
)

// initArch marks the amd64 tiers this CPU can run and registers their
// kernels. Types without an entry fall back to a lower tier.
func initArch() {
	x := cpu.X86
	if !(x.HasAVX2 && x.HasFMA && x.HasF16C) {
		return
	}
	tierAvailable[TierAVX2] = true
	bestTier = TierAVX2
	avx2 := &table[TierAVX2]
	avx2[gguf.TypeQ8_0].quant = avx2Q8_0
	avx2[gguf.TypeQ4_0].quant = avx2Q4_0
	registerKQuantsAVX2(avx2)

	// cpu leaves BW/VL set when AVX-512F is disabled via GODEBUG, so test
	// all of them.
	if !(x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI) {
		return
	}
	tierAvailable[TierAVX512] = true
	bestTier = TierAVX512
	avx512 := &table[TierAVX512]
	avx512[gguf.TypeQ8_0].quant = vnniQ8_0
	avx512[gguf.TypeQ4_0].quant = vnniQ4_0
	registerKQuantsAVX512(avx512)
}
