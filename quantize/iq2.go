package quantize

import (
	"encoding/binary"

	"github.com/qconv/qconv/gguf"
)

// The 2-bit codebook types (ggml-quants.c dequantize_row_iq2_*). A
// super-block of 256 weights has an fp16 scale d and eight sub-blocks of
// 32; each sub-block holds four groups of 8 weights, each group a grid
// index (the grid's bytes are the magnitudes, one of 8, 25 or 43) and 8
// sign bits. Weight j of a group is ±db·grid[j], db = d·(0.5+s)·0.25 for
// the sub-block's (or half sub-block's) 4-bit scale s.
//
// IQ2_XXS (66 bytes): d, then per sub-block two little-endian u32: the
// first holds the four 8-bit indices into iq2xxsGrid, the second four
// 7-bit sign fields (bits 7l..7l+6, expanded by iq2Signs) and s in bits
// 28..31.
//
// IQ2_XS (74 bytes): d, 32 little-endian u16 (9-bit index into iq2xsGrid,
// 7-bit sign field above it), scales[8]: sub-block ib's groups 0 and 1 use
// the low nibble of scales[ib], groups 2 and 3 the high one.
//
// IQ2_S (82 bytes): d, qs[32] (low 8 index bits), signs[32] (8 full sign
// bits per group), qh[8] (bits 2l, 2l+1 of qh[ib] are index bits 8 and 9
// of group l; index into iq2sGrid), scales[8] as IQ2_XS.
//
// As in ggml, db is formed first (two roundings) and each weight is one
// product db·grid[j], negated when its sign bit is set.

const (
	iq2xxsBytes = 66
	iq2xsBytes  = 74
	iq2sBytes   = 82
)

// No QuantizeRow: ggml's quantizers for the codebook types need an
// importance matrix and neighbour searches over the grids. Imatrix records
// what ggml's quantizer does (ggml_quantize_requires_imatrix names IQ2_XXS,
// IQ2_XS and IQ1_S; the others use one when given).
func init() {
	register(&Traits{Type: gguf.TypeIQ2_XXS, BlockSize: qkK, BlockBytes: iq2xxsBytes, Imatrix: ImatrixRequired,
		DequantizeRow: dequantizeRowIQ2XXS})
	register(&Traits{Type: gguf.TypeIQ2_XS, BlockSize: qkK, BlockBytes: iq2xsBytes, Imatrix: ImatrixRequired,
		DequantizeRow: dequantizeRowIQ2XS})
	register(&Traits{Type: gguf.TypeIQ2_S, BlockSize: qkK, BlockBytes: iq2sBytes, Imatrix: ImatrixOptional,
		DequantizeRow: dequantizeRowIQ2S})
}

// iqScale2 is db = d·(0.5+s)·0.25 with ggml's float32 roundings.
func iqScale2(d float32, s uint32) float32 {
	return d * (0.5 + float32(s)) * 0.25
}

// iqGroup8 writes the 8 weights of one group: y[j] = ±db·byte j of g,
// negated where bit j of signs is set.
func iqGroup8(y []float32, db float32, g uint64, signs uint32) {
	y = y[:8]
	for j := range y {
		y[j] = iqSigned(db*float32(uint8(g>>(8*j))), signs>>j&1)
	}
}

func dequantizeRowIQ2XXS(dst []float32, src []byte) {
	nb := len(dst) / qkK
	src = src[:nb*iq2xxsBytes]
	for i := 0; i < nb; i++ {
		b := src[i*iq2xxsBytes : (i+1)*iq2xxsBytes]
		y := dst[i*qkK : (i+1)*qkK]
		d := getFP16(b)
		for ib := 0; ib < qkK/32; ib++ {
			idx := binary.LittleEndian.Uint32(b[2+8*ib:])
			ss := binary.LittleEndian.Uint32(b[2+8*ib+4:])
			db := iqScale2(d, ss>>28)
			for l := 0; l < 4; l++ {
				iqGroup8(y[32*ib+8*l:], db, iq2xxsGrid[uint8(idx>>(8*l))], iq2Signs(ss>>(7*l)))
			}
		}
	}
}

func dequantizeRowIQ2XS(dst []float32, src []byte) {
	nb := len(dst) / qkK
	src = src[:nb*iq2xsBytes]
	for i := 0; i < nb; i++ {
		b := src[i*iq2xsBytes : (i+1)*iq2xsBytes]
		y := dst[i*qkK : (i+1)*qkK]
		d := getFP16(b)
		scales := b[66:74]
		for ib := 0; ib < qkK/32; ib++ {
			db := [2]float32{iqScale2(d, uint32(scales[ib]&0xf)), iqScale2(d, uint32(scales[ib]>>4))}
			for l := 0; l < 4; l++ {
				q := uint32(binary.LittleEndian.Uint16(b[2+8*ib+2*l:]))
				iqGroup8(y[32*ib+8*l:], db[l/2], iq2xsGrid[q&511], iq2Signs(q>>9))
			}
		}
	}
}

func dequantizeRowIQ2S(dst []float32, src []byte) {
	nb := len(dst) / qkK
	src = src[:nb*iq2sBytes]
	for i := 0; i < nb; i++ {
		b := src[i*iq2sBytes : (i+1)*iq2sBytes]
		y := dst[i*qkK : (i+1)*qkK]
		d := getFP16(b)
		qs, signs, qh, scales := b[2:34], b[34:66], b[66:74], b[74:82]
		for ib := 0; ib < qkK/32; ib++ {
			db := [2]float32{iqScale2(d, uint32(scales[ib]&0xf)), iqScale2(d, uint32(scales[ib]>>4))}
			for l := 0; l < 4; l++ {
				idx := uint32(qs[4*ib+l]) | uint32(qh[ib])>>(2*l)&3<<8
				iqGroup8(y[32*ib+8*l:], db[l/2], iq2sGrid[idx], uint32(signs[4*ib+l]))
			}
		}
	}
}
