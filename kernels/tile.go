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
// kernels' layout for 32-value blocks: 32 int8 values, the block scale d
// (float32) and the correction -m·Σq (int32). tileActBytesK is that of a
// Q8_K block: 256 int8 values, d (float32) at 256 and the 8 sums of its
// 32-value sub-blocks (float32) at 260, padded to 320.
const (
	tileActBytes  = 40
	tileActBytesK = 320
)

// tileRecordBytes is the record size for activations of kind k.
func tileRecordBytes(k actKind) int {
	if k == actQ8_K {
		return tileActBytesK
	}
	return tileActBytes
}

// prepareTiles fills a.tl for the tile kernels of weight type t: the
// activation rows in groups of rowsTile (the last group may be shorter);
// within a group, block by block, each row's record. The tile kernels
// then address every row of a group at a constant offset.
func (a *acts) prepareTiles(t gguf.Type) {
	rows := len(a.q) / a.k
	nb := a.nb
	bs := a.k / nb
	rec := tileRecordBytes(a.kind)
	m := tileCorr[t]
	a.tl = make([]byte, rows*nb*rec)
	le := binary.LittleEndian
	for g0 := 0; g0 < rows; g0 += rowsTile {
		ng := min(rowsTile, rows-g0)
		grp := a.tl[g0*nb*rec : (g0+ng)*nb*rec]
		for r := range ng {
			for j := range nb {
				out := grp[(j*ng+r)*rec:][:rec]
				q := a.q[(g0+r)*a.k+bs*j:][:bs]
				for i, v := range q {
					out[i] = byte(v)
				}
				le.PutUint32(out[bs:], math.Float32bits(a.d[(g0+r)*nb+j]))
				if a.kind == actQ8_K {
					for s := range 8 {
						var sum int32
						for _, v := range q[32*s : 32*s+32] {
							sum += int32(v)
						}
						le.PutUint32(out[260+4*s:], math.Float32bits(float32(sum)))
					}
					continue
				}
				var sum int32
				for _, v := range q {
					sum += int32(v)
				}
				le.PutUint32(out[36:], uint32(-m*sum))
			}
		}
	}
}
