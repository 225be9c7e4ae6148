package quantize

import (
	"encoding/binary"

	"github.com/qconv/qconv/gguf"
)

// The 3-bit codebook types (ggml-quants.c dequantize_row_iq3_*). A
// super-block of 256 weights has an fp16 scale d and eight sub-blocks of
// 32, each four groups of 8 weights; a group is two grid points of 4
// magnitudes each (one index per half) and 8 sign bits, weight j being
// ±db·point[j].
//
// IQ3_XXS (98 bytes): d, 64 indices into iq3xxsGrid (8 per sub-block, two
// per group), then per sub-block a little-endian u32 with four 7-bit sign
// fields (bits 7l..7l+6, expanded by iq2Signs) and the 4-bit scale s in
// bits 28..31: db = d·(0.5+s)·0.5.
//
// IQ3_S (110 bytes): d, qs[64] (low 8 index bits, two per group), qh[8]
// (bits 2l and 2l+1 of qh[ib] are index bit 8 of the two points of group
// l; index into iq3sGrid), signs[32] (8 sign bits per group), scales[4]:
// sub-block ib's 4-bit scale s is the low (even ib) or high (odd ib)
// nibble of scales[ib/2], db = d·(1+2s).

const (
	iq3xxsBytes = 98
	iq3sBytes   = 110
)

// Dequantize only; see iq2.go.
func init() {
	register(&Traits{Type: gguf.TypeIQ3_XXS, BlockSize: qkK, BlockBytes: iq3xxsBytes, Imatrix: ImatrixOptional,
		DequantizeRow: dequantizeRowIQ3XXS})
	register(&Traits{Type: gguf.TypeIQ3_S, BlockSize: qkK, BlockBytes: iq3sBytes, Imatrix: ImatrixOptional,
		DequantizeRow: dequantizeRowIQ3S})
}

// iqGroup4x2 writes the 8 weights of a group made of the grid points g1
// (weights 0..3) and g2 (weights 4..7).
func iqGroup4x2(y []float32, db float32, g1, g2 uint32, signs uint32) {
	y = y[:8]
	for j := 0; j < 4; j++ {
		y[j] = iqSigned(db*float32(uint8(g1>>(8*j))), signs>>j&1)
		y[j+4] = iqSigned(db*float32(uint8(g2>>(8*j))), signs>>(j+4)&1)
	}
}

func dequantizeRowIQ3XXS(dst []float32, src []byte) {
	nb := len(dst) / qkK
	src = src[:nb*iq3xxsBytes]
	for i := 0; i < nb; i++ {
		b := src[i*iq3xxsBytes : (i+1)*iq3xxsBytes]
		y := dst[i*qkK : (i+1)*qkK]
		d := getFP16(b)
		qs := b[2:66]
		for ib := 0; ib < qkK/32; ib++ {
			ss := binary.LittleEndian.Uint32(b[66+4*ib:])
			db := d * (0.5 + float32(ss>>28)) * 0.5
			for l := 0; l < 4; l++ {
				iqGroup4x2(y[32*ib+8*l:], db, iq3xxsGrid[qs[8*ib+2*l]], iq3xxsGrid[qs[8*ib+2*l+1]], iq2Signs(ss>>(7*l)))
			}
		}
	}
}

func dequantizeRowIQ3S(dst []float32, src []byte) {
	nb := len(dst) / qkK
	src = src[:nb*iq3sBytes]
	for i := 0; i < nb; i++ {
		b := src[i*iq3sBytes : (i+1)*iq3sBytes]
		y := dst[i*qkK : (i+1)*qkK]
		d := getFP16(b)
		qs, qh, signs, scales := b[2:66], b[66:74], b[74:106], b[106:110]
		for ib := 0; ib < qkK/32; ib++ {
			s := uint32(scales[ib/2]) >> (4 * (ib % 2)) & 0xf
			db := d * float32(1+2*s)
			h := uint32(qh[ib])
			for l := 0; l < 4; l++ {
				i1 := uint32(qs[8*ib+2*l]) | h>>(2*l)&1<<8
				i2 := uint32(qs[8*ib+2*l+1]) | h>>(2*l+1)&1<<8
				iqGroup4x2(y[32*ib+8*l:], db, iq3sGrid[i1], iq3sGrid[i2], uint32(signs[4*ib+l]))
			}
		}
	}
}
