package kernels

import (
	"encoding/binary"
	"math"

	"github.com/qconv/qconv/gguf"
)

// tileKernel computes one block-major tile against activation rows
// r0..r0+nr-1 (nr <= rowsTile): w holds the tile's R rows (R·rb bytes),
// and the output of tile row i for activation row r goes to y[r*n + i].
type tileKernel func(y []float32, n int, w []byte, rb int, a *acts, r0, nr int)

// tileKernels holds the native block-major kernels by tile height, filled
// at initialisation where the CPU has them; other (type, height) pairs
// unpack each tile and run the row-major kernels.
var tileKernels = map[tileKey]tileKernel{}

type tileKey struct {
	tier Tier
	typ  gguf.Type
	rows int
}

// tileCorr is, per type with a tile kernel, the multiplier m of the
// per-block correction -m·Σq the kernel adds to its integer dot products
// (the offset of its unsigned weight codes).
var tileCorr = map[gguf.Type]int32{}

// pickTile returns the best native tile kernel at or below tier for type
// t in tiles of R rows on the quantized path k, or nil.
func pickTile(tier Tier, t gguf.Type, R int, k kernel) tileKernel {
	if k.quant == nil {
		return nil
	}
	for tt := tier; tt > TierGo; tt-- {
		if tk := tileKernels[tileKey{tt, t, R}]; tk != nil {
			return tk
		}
	}
	return nil
}

// tileActBytes is the size of one activation row's block in the tile
// kernels' layout: 32 int8 values, the block scale d (float32) and the
// correction -m·Σq (int32).
const tileActBytes = 40

// prepareTiles fills a.tl for the tile kernels of weight type t: the
// activation rows in groups of rowsTile (the last group may be shorter);
// within a group, block by block, each row's 40-byte record. The tile
// kernels then address every row of a group at a constant offset.
func (a *acts) prepareTiles(t gguf.Type) {
	if a.nb*32 != a.k {
		panic("kernels: tile kernels need 32-value activation blocks")
	}
	m := tileCorr[t]
	rows := len(a.q) / a.k
	nb := a.nb
	a.tl = make([]byte, rows*nb*tileActBytes)
	le := binary.LittleEndian
	for g0 := 0; g0 < rows; g0 += rowsTile {
		ng := min(rowsTile, rows-g0)
		grp := a.tl[g0*nb*tileActBytes : (g0+ng)*nb*tileActBytes]
		for r := range ng {
			for j := range nb {
				rec := grp[(j*ng+r)*tileActBytes:][:tileActBytes]
				q := a.q[(g0+r)*a.k+32*j:][:32]
				var sum int32
				for i, v := range q {
					rec[i] = byte(v)
					sum += int32(v)
				}
				le.PutUint32(rec[32:], math.Float32bits(a.d[(g0+r)*nb+j]))
				le.PutUint32(rec[36:], uint32(-m*sum))
			}
		}
	}
}
