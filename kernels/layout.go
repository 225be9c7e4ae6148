package kernels

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/qconv/qconv/gguf"
)

// Block-major layouts (docs/layouts.md).
//
// A block-major matrix groups its rows into tiles of R consecutive rows
// (R = 4, 8 or 16). A tile stores, for each block column j in order, a
// tile block of R·BlockBytes bytes: first the R rows' scale fields of
// block j, field by field in the order the type's block lists them, each
// field's units (the fp16, or 4-byte pieces) interleaved across the rows
// (unit 0 of rows 0..R-1, unit 1 of rows 0..R-1, ...); then the R rows'
// quant bytes interleaved the same way in 4-byte chunks. The N mod R
// rows after the last full tile stay row-major, so the matrix has exactly
// the bytes of its row-major form, rearranged. A SIMD kernel then loads
// chunk c of R rows, or one scale field of R rows, with one load, and
// accumulates R outputs in the lanes of one register.

// interleave is the chunk size, in bytes, of the quant interleave.
const interleave = 4

// DefaultTileRows is the tile height convert and bench use for
// block-major output: 16 rows fill a 512-bit register with one 4-byte
// chunk per row.
const DefaultTileRows = 16

// BlockMajor returns the block-major layout with tiles of rows rows. It
// panics unless rows is 4, 8 or 16.
func BlockMajor(rows int) Layout {
	if rows != 4 && rows != 8 && rows != 16 {
		panic(fmt.Sprintf("kernels: block-major tiles of %d rows (want 4, 8 or 16)", rows))
	}
	return Layout(rows)
}

// TileRows returns the tile height of a block-major layout and 0 for
// row-major.
func (l Layout) TileRows() int {
	if l == 4 || l == 8 || l == 16 {
		return int(l)
	}
	return 0
}

// valid reports whether l is RowMajor or a block-major layout.
func (l Layout) valid() bool { return l == RowMajor || l.TileRows() != 0 }

// ParseLayout maps "row" (or "row-major") and "block" (or "block-major",
// which mean DefaultTileRows) and "block-major-R" to a Layout.
func ParseLayout(s string) (Layout, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "row", "row-major":
		return RowMajor, nil
	case "block", "block-major":
		return BlockMajor(DefaultTileRows), nil
	case "block-major-4", "block-major-8", "block-major-16":
		var r int
		fmt.Sscanf(v, "block-major-%d", &r)
		return BlockMajor(r), nil
	}
	return 0, fmt.Errorf("kernels: unknown layout %q (want row, block, or block-major-4/8/16)", s)
}

// blockSplit describes a type's block for tiling: the byte ranges of the
// scale fields (offset, length), the rest being quant bytes.
type blockSplit struct {
	hdr [][2]int
	bb  int // block bytes
	// units[R] is the order of a tile block of R rows (tileUnits).
	units map[int][]unit
}

// splits lists the types that have a block-major form and their scale
// fields, in the block's byte order (ggml's block structs). A field is an
// fp16 (2 bytes) or a multiple of 4 bytes.
var splits = func() map[gguf.Type]*blockSplit {
	m := map[gguf.Type][][2]int{
		gguf.TypeQ4_0:   {{0, 2}},                    // d, qs[16]
		gguf.TypeQ4_1:   {{0, 2}, {2, 2}},            // d, m, qs[16]
		gguf.TypeQ5_0:   {{0, 2}, {2, 4}},            // d, qh[4], qs[16]
		gguf.TypeQ5_1:   {{0, 2}, {2, 2}, {4, 4}},    // d, m, qh[4], qs[16]
		gguf.TypeQ8_0:   {{0, 2}},                    // d, qs[32]
		gguf.TypeIQ4_NL: {{0, 2}},                    // d, qs[16]
		gguf.TypeQ2_K:   {{0, 16}, {80, 2}, {82, 2}}, // scales[16], qs[64], d, dmin
		gguf.TypeQ3_K:   {{96, 12}, {108, 2}},        // hmask[32], qs[64], scales[12], d
		gguf.TypeQ4_K:   {{0, 2}, {2, 2}, {4, 12}},   // d, dmin, scales[12], qs[128]
		gguf.TypeQ5_K:   {{0, 2}, {2, 2}, {4, 12}},   // d, dmin, scales[12], qh[32], qs[128]
		gguf.TypeQ6_K:   {{192, 16}, {208, 2}},       // ql[128], qh[64], scales[16], d
		gguf.TypeIQ4_XS: {{0, 2}, {2, 2}, {4, 4}},    // d, scales_h, scales_l[4], qs[128]
		gguf.TypeTQ1_0:  {{52, 2}},                   // qs[48], qh[4], d
		gguf.TypeTQ2_0:  {{64, 2}},                   // qs[64], d
	}
	out := make(map[gguf.Type]*blockSplit, len(m))
	for t, hdr := range m {
		s := &blockSplit{hdr: hdr, bb: t.BlockBytes()}
		quant := s.bb
		for _, h := range hdr {
			quant -= h[1]
		}
		if quant <= 0 || quant%interleave != 0 {
			panic("kernels: bad block split for " + t.String())
		}
		s.units = map[int][]unit{}
		for _, R := range []int{4, 8, 16} {
			s.units[R] = s.tileUnits(R)
		}
		out[t] = s
	}
	return out
}()

// Tileable reports whether t has a block-major form: Pack, Unpack and
// MatMul handle it (unpacking tiles where no tile kernel exists).
func Tileable(t gguf.Type) bool { _, ok := splits[t]; return ok }

// tileKernelTypes are the types with native 16-row tile kernels.
var tileKernelTypes = map[gguf.Type]bool{
	gguf.TypeQ4_0: true, gguf.TypeQ8_0: true, gguf.TypeIQ4_NL: true, gguf.TypeQ4_K: true,
}

// HasTileKernel reports whether t has native SIMD kernels for
// DefaultTileRows-row tiles (at the AVX-512 tier), so that a block-major
// matrix of t is worth writing. It is a fixed list, the same on every
// CPU, so that what convert writes does not depend on the machine; other
// tileable types compute correctly in block-major form but by unpacking
// each tile, which is slower than their row-major kernels.
func HasTileKernel(t gguf.Type) bool { return tileKernelTypes[t] }

// checkTiled panics unless the arguments describe a tileable matrix.
func checkTiled(dst, src []byte, t gguf.Type, rows, cols int, l Layout) *blockSplit {
	s, ok := splits[t]
	if !ok {
		panic(fmt.Sprintf("kernels: type %s has no block-major form", t))
	}
	if l.TileRows() == 0 {
		panic(fmt.Sprintf("kernels: %s is not a block-major layout", l))
	}
	bs := t.BlockSize()
	if rows < 0 || cols <= 0 || cols%bs != 0 {
		panic(fmt.Sprintf("kernels: bad shape %d x %d for %s", rows, cols, t))
	}
	n := rows * (cols / bs) * s.bb
	if len(dst) != n || len(src) != n {
		panic(fmt.Sprintf("kernels: %d x %d %s needs %d bytes; dst has %d, src %d", rows, cols, t, n, len(dst), len(src)))
	}
	return s
}

// Pack rearranges a row-major matrix (src, rows x cols of type t) into
// layout l (block-major) in dst, which must not overlap src. Unpack is
// its exact inverse. Both panic on a type without a block-major form or
// on sizes that do not match.
func Pack(dst, src []byte, t gguf.Type, rows, cols int, l Layout) {
	s := checkTiled(dst, src, t, rows, cols, l)
	R := l.TileRows()
	rb := cols / t.BlockSize() * s.bb
	full := rows / R * R
	for r0 := 0; r0 < full; r0 += R {
		packTile(dst[r0*rb:(r0+R)*rb], src[r0*rb:(r0+R)*rb], s, R, rb)
	}
	copy(dst[full*rb:], src[full*rb:])
}

// Unpack is Pack's inverse: it rearranges a block-major matrix into
// row-major order.
func Unpack(dst, src []byte, t gguf.Type, rows, cols int, l Layout) {
	s := checkTiled(dst, src, t, rows, cols, l)
	R := l.TileRows()
	rb := cols / t.BlockSize() * s.bb
	full := rows / R * R
	for r0 := 0; r0 < full; r0 += R {
		unpackTile(dst[r0*rb:(r0+R)*rb], src[r0*rb:(r0+R)*rb], s, R, rb)
	}
	copy(dst[full*rb:], src[full*rb:])
}

// packTile tiles R row-major rows of rb bytes.
func packTile(dst, src []byte, s *blockSplit, R, rb int) {
	le := binary.LittleEndian
	nb := rb / s.bb
	tb := R * s.bb
	units := s.units[R]
	for j := range nb {
		out := dst[j*tb : (j+1)*tb]
		row := src[j*s.bb:]
		for _, u := range units {
			o := out[u.dst : u.dst+R*u.size]
			if u.size == 2 {
				for r := range R {
					le.PutUint16(o[2*r:], le.Uint16(row[r*rb+u.src:]))
				}
				continue
			}
			for r := range R {
				le.PutUint32(o[4*r:], le.Uint32(row[r*rb+u.src:]))
			}
		}
	}
}

// unpackTile is packTile's inverse.
func unpackTile(dst, src []byte, s *blockSplit, R, rb int) {
	le := binary.LittleEndian
	nb := rb / s.bb
	tb := R * s.bb
	units := s.units[R]
	for j := range nb {
		in := src[j*tb : (j+1)*tb]
		row := dst[j*s.bb:]
		for _, u := range units {
			o := in[u.dst : u.dst+R*u.size]
			if u.size == 2 {
				for r := range R {
					le.PutUint16(row[r*rb+u.src:], le.Uint16(o[2*r:]))
				}
				continue
			}
			for r := range R {
				le.PutUint32(row[r*rb+u.src:], le.Uint32(o[4*r:]))
			}
		}
	}
}

// unit is one interleaved piece of a block: size bytes (2 or 4) at src
// within each row's block, stored for rows 0..R-1 from dst within the
// tile block.
type unit struct{ src, dst, size int }

// tileUnits lists the units of a tile block of R rows in storage order:
// the scale fields unit by unit, then the quant chunks.
func (s *blockSplit) tileUnits(R int) []unit {
	var us []unit
	o := 0
	for _, h := range s.hdr {
		size := interleave
		if h[1] == 2 {
			size = 2
		}
		for p := h[0]; p < h[0]+h[1]; p += size {
			us = append(us, unit{p, o, size})
			o += R * size
		}
	}
	forQuant(s, func(a, b int) {
		for p := a; p < b; p += interleave {
			us = append(us, unit{p, o, interleave})
			o += R * interleave
		}
	})
	return us
}

// forQuant calls f(a, b) for each maximal run [a, b) of quant bytes in a
// block, in order. Runs are multiples of interleave (checked by the
// tests for every type).
func forQuant(s *blockSplit, f func(a, b int)) {
	p := 0
	for _, h := range s.hdr {
		if h[0] > p {
			f(p, h[0])
		}
		p = h[0] + h[1]
	}
	if p < s.bb {
		f(p, s.bb)
	}
}

// UnpackRows returns the row-major bytes of rows [row0, row0+n) of a
// tensor of type t with cols values per row, stored in layout l in 2-D
// slices of sliceRows rows each (one slice for a matrix; one per expert
// for a 3-D tensor), unpacking only the tiles that hold those rows. A
// row-major l returns a copy. It panics when the range or sizes do not
// fit data.
func UnpackRows(data []byte, t gguf.Type, cols, sliceRows int, l Layout, row0, n int) []byte {
	rb := cols / max(t.BlockSize(), 1) * t.BlockBytes()
	if row0 < 0 || n < 0 || sliceRows <= 0 || (row0+n)*rb > len(data) {
		panic(fmt.Sprintf("kernels: UnpackRows: rows [%d,%d) of %d bytes each do not fit %d bytes", row0, row0+n, rb, len(data)))
	}
	out := make([]byte, n*rb)
	R := l.TileRows()
	if R == 0 {
		copy(out, data[row0*rb:])
		return out
	}
	s := splits[t]
	if s == nil {
		panic(fmt.Sprintf("kernels: type %s has no block-major form", t))
	}
	tile := make([]byte, R*rb)
	for r := row0; r < row0+n; {
		s0 := r / sliceRows * sliceRows
		full := s0 + (sliceRows/R)*R // first row of the slice's row-major tail
		if r >= full {
			end := min(row0+n, s0+sliceRows)
			copy(out[(r-row0)*rb:], data[r*rb:end*rb])
			r = end
			continue
		}
		a := s0 + (r-s0)/R*R // the tile holding r
		unpackTile(tile, data[a*rb:(a+R)*rb], s, R, rb)
		end := min(row0+n, a+R)
		copy(out[(r-row0)*rb:], tile[(r-a)*rb:(end-a)*rb])
		r = end
	}
	return out
}
