//go:build !purego

package kernels

import "github.com/qconv/qconv/gguf"

// tileAsmFunc is the signature of the generated 16-row tile kernels (see
// _asm/tile.go): nb block columns of one tile from w against the
// activation records at at; stores y[r*ys + i].
type tileAsmFunc func(w *byte, nb int, at *byte, y *float32, ys int)

// tile16 wraps the generated kernels of one type as a tileKernel.
type tile16 struct {
	bb  int
	fns [rowsTile]tileAsmFunc
}

func (k *tile16) run(y []float32, n int, w []byte, rb int, a *acts, r0, nr int) {
	if nr == 0 {
		return
	}
	nb := a.nb
	if rb != nb*k.bb {
		panic("kernels: row size does not match the activations")
	}
	w = w[:16*rb]
	rec := tileRecordBytes(a.kind)
	at := a.tl[r0*nb*rec : (r0+nr)*nb*rec]
	y = y[r0*n : (r0+nr-1)*n+16]
	k.fns[nr-1](&w[0], nb, &at[0], &y[0], n)
}

// registerTilesAVX512 sets the AVX-512 tile kernels.
func registerTilesAVX512() {
	for _, k := range []struct {
		typ  gguf.Type
		corr int32
		fns  [rowsTile]tileAsmFunc
	}{
		{gguf.TypeQ4_0, 8, [rowsTile]tileAsmFunc{q4_0tile16R1, q4_0tile16R2, q4_0tile16R3, q4_0tile16R4, q4_0tile16R5, q4_0tile16R6, q4_0tile16R7, q4_0tile16R8}},
		{gguf.TypeQ8_0, 128, [rowsTile]tileAsmFunc{q8_0tile16R1, q8_0tile16R2, q8_0tile16R3, q8_0tile16R4, q8_0tile16R5, q8_0tile16R6, q8_0tile16R7, q8_0tile16R8}},
		{gguf.TypeIQ4_NL, 128, [rowsTile]tileAsmFunc{iq4_nltile16R1, iq4_nltile16R2, iq4_nltile16R3, iq4_nltile16R4, iq4_nltile16R5, iq4_nltile16R6, iq4_nltile16R7, iq4_nltile16R8}},
		{gguf.TypeQ4_K, 0, [rowsTile]tileAsmFunc{q4_Ktile16R1, q4_Ktile16R2, q4_Ktile16R3, q4_Ktile16R4, q4_Ktile16R5, q4_Ktile16R6, q4_Ktile16R7, q4_Ktile16R8}},
	} {
		tileKernels[tileKey{TierAVX512, k.typ, 16}] = (&tile16{bb: k.typ.BlockBytes(), fns: k.fns}).run
		tileCorr[k.typ] = k.corr
	}
}
