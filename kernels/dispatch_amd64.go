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
	quantQ8Rows = quantQ8RowsAsm
	buildVXRow = buildVXRowAsm
	avx2 := &table[TierAVX2]
	avx2Q8_0.set(TierAVX2, gguf.TypeQ8_0)
	avx2Q4_0.set(TierAVX2, gguf.TypeQ4_0)
	avx2Q4_1.set(TierAVX2, gguf.TypeQ4_1)
	avx2Q5_0.set(TierAVX2, gguf.TypeQ5_0)
	avx2Q5_1.set(TierAVX2, gguf.TypeQ5_1)
	avx2IQ4_NL.set(TierAVX2, gguf.TypeIQ4_NL)
	avx2F32.set(TierAVX2, gguf.TypeF32)
	avx2F16.set(TierAVX2, gguf.TypeF16)
	avx2BF16.set(TierAVX2, gguf.TypeBF16)
	registerKQuantsAVX2(avx2)

	// cpu leaves BW/VL set when AVX-512F is disabled via GODEBUG, so test
	// all of them.
	if !(x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI) {
		return
	}
	tierAvailable[TierAVX512] = true
	vnniLayout = true
	bestTier = TierAVX512
	avx512 := &table[TierAVX512]
	vnniQ8_0.set(TierAVX512, gguf.TypeQ8_0)
	vnniQ4_0.set(TierAVX512, gguf.TypeQ4_0)
	vnniQ4_1.set(TierAVX512, gguf.TypeQ4_1)
	vnniQ5_0.set(TierAVX512, gguf.TypeQ5_0)
	vnniQ5_1.set(TierAVX512, gguf.TypeQ5_1)
	vnniIQ4_NL.set(TierAVX512, gguf.TypeIQ4_NL)
	avx512F32.set(TierAVX512, gguf.TypeF32)
	avx512F16.set(TierAVX512, gguf.TypeF16)
	avx512BF16.set(TierAVX512, gguf.TypeBF16)
	registerKQuantsAVX512(avx512)
	registerTilesAVX512()
}
