package convert

import (
	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/kernels"
)

// Block-major output and input (docs/layouts.md). A tensor is tiled in
// 2-D slices of Dims[1] rows (one per expert in a 3-D tensor); the rows of
// a slice past its last full tile stay row-major.

// sliceRows is the number of rows in one 2-D slice of t.
func (t *Tensor) sliceRows() int64 {
	if len(t.Dims) < 2 {
		return max(t.Rows(), 1)
	}
	return max(t.Dims[1], 1)
}

// untiledRows returns the row-major bytes of rows [row0, row0+n) of a
// block-major tensor, unpacking the tiles that hold them.
func (t *Tensor) untiledRows(row0, n int64) []byte {
	return kernels.UnpackRows(t.data, t.Type, int(t.rowLen), int(t.sliceRows()), kernels.BlockMajor(t.tile), int(row0), int(n))
}

// tileOutput reports the tile height an output tensor of type typ gets
// under layout l: only matrices of a type with native tile kernels
// (kernels.HasTileKernel) and at least one full tile per slice, and never
// token_embd.weight, which llama.cpp reads by row (get_rows) rather than
// multiplying.
func tileOutput(t *Tensor, typ gguf.Type, l kernels.Layout) int {
	R := l.TileRows()
	if R == 0 || len(t.Dims) < 2 || !kernels.HasTileKernel(typ) || t.Name == "token_embd.weight" {
		return 0
	}
	if t.sliceRows() < int64(R) {
		return 0
	}
	return R
}

// packRows writes the row-major bytes src of rows [row0, row0+n) of the
// output tensor into dst in its tiles; row0 is tile-aligned within its
// slice and n covers whole tiles or ends a slice.
func packRows(dst, src []byte, t *Tensor, typ gguf.Type, R int, row0, n, rb int64) {
	sr := t.sliceRows()
	for r := row0; r < row0+n; {
		end := min(row0+n, (r/sr+1)*sr)
		a, b := (r-row0)*rb, (end-row0)*rb
		kernels.Pack(dst[a:b], src[a:b], typ, int(end-r), int(t.rowLen), kernels.BlockMajor(R))
		r = end
	}
}

// pooledBytes returns a buffer of n bytes from bytePool and its release.
func pooledBytes(n int64) ([]byte, func()) {
	p := bytePool.Get().(*[]byte)
	if int64(cap(*p)) < n {
		*p = make([]byte, n)
	}
	return (*p)[:n], func() { bytePool.Put(p) }
}
