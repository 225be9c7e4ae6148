//go:build !purego

package kernels

import "github.com/qconv/qconv/gguf"

// registerKQuantsAVX2 sets the AVX2 kernels of the K-quant family
// (Q2_K..Q6_K, IQ4_XS, TQ1_0, TQ2_0) in the AVX2 row of the table.
func registerKQuantsAVX2(t *[gguf.TypeCount]kernel) {}

// registerKQuantsAVX512 sets their AVX-512 (VNNI) kernels.
func registerKQuantsAVX512(t *[gguf.TypeCount]kernel) {}
