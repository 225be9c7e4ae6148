package quantize

import (
	"encoding/binary"

	"github.com/qconv/qconv/gguf"
)

// The 1-bit codebook types (ggml-quants.c dequantize_row_iq1_s/_m). A
// super-block of 256 weights is eight sub-blocks of 32, each four groups
// of 8 weights; a group is an 11-bit index into iq1sGrid (coordinates -1,
// 0, 1) and a shift delta = ±iq1Delta, weight j being dl·(grid[j]+delta)
// for the scale dl = d·(2s+1) of its 3-bit scale s.
//
// IQ1_S (50 bytes): fp16 d, qs[32] (low 8 index bits per group),
// qh[8] little-endian u16 per sub-block: bits 3l..3l+2 are index bits
// 8..10 of group l, bits 12..14 are s, bit 15 set makes delta negative.
//
// IQ1_M (56 bytes): qs[32] (as IQ1_S), qh[16] (two bytes per sub-block,
// one nibble per group in group order: bits 0..2 are index bits 8..10,
// bit 3 the delta sign), scales[8] read as four little-endian u16 w[0..3]:
// sub-block ib's groups 0 and 1 take s from bits 6(ib%2)..+2 of w[ib/2],
// groups 2 and 3 from the 3 bits above; the top nibbles of w[0], w[1],
// w[2], w[3] are bits 0..3, 4..7, 8..11, 12..15 of the fp16 d.

const (
	iq1sBytes = 50
	iq1mBytes = 56

	// iq1Delta is ggml's IQ1S_DELTA (IQ1M_DELTA has the same value).
	iq1Delta float32 = 0.125
)

// Dequantize only; see iq2.go.
func init() {
	register(&Traits{Type: gguf.TypeIQ1_S, BlockSize: qkK, BlockBytes: iq1sBytes, Imatrix: ImatrixRequired,
		DequantizeRow: dequantizeRowIQ1S})
	register(&Traits{Type: gguf.TypeIQ1_M, BlockSize: qkK, BlockBytes: iq1mBytes, Imatrix: ImatrixOptional,
		DequantizeRow: dequantizeRowIQ1M})
}

// iq1Group writes y[j] = dl·(grid[j]+delta) for the grid point g.
func iq1Group(y []float32, dl float32, g uint64, delta float32) {
	y = y[:8]
	for j := range y {
		y[j] = dl * (float32(int8(g>>(8*j))) + delta)
	}
}

// iq1DeltaFor is -iq1Delta when neg is nonzero, else iq1Delta.
func iq1DeltaFor(neg uint32) float32 {
	if neg != 0 {
		return -iq1Delta
	}
	return iq1Delta
}

func dequantizeRowIQ1S(dst []float32, src []byte) {
	nb := len(dst) / qkK
	src = src[:nb*iq1sBytes]
	for i := 0; i < nb; i++ {
		b := src[i*iq1sBytes : (i+1)*iq1sBytes]
		y := dst[i*qkK : (i+1)*qkK]
		d := getFP16(b)
		qs := b[2:34]
		for ib := 0; ib < qkK/32; ib++ {
			h := uint32(binary.LittleEndian.Uint16(b[34+2*ib:]))
			dl := d * float32(2*(h>>12&7)+1)
			delta := iq1DeltaFor(h & 0x8000)
			for l := 0; l < 4; l++ {
				idx := uint32(qs[4*ib+l]) | h>>(3*l)&7<<8
				iq1Group(y[32*ib+8*l:], dl, iq1sGrid[idx], delta)
			}
		}
	}
}

func dequantizeRowIQ1M(dst []float32, src []byte) {
	nb := len(dst) / qkK
	src = src[:nb*iq1mBytes]
	for i := 0; i < nb; i++ {
		b := src[i*iq1mBytes : (i+1)*iq1mBytes]
		y := dst[i*qkK : (i+1)*qkK]
		var w [4]uint32
		var h16 uint16
		for k := range w {
			w[k] = uint32(binary.LittleEndian.Uint16(b[48+2*k:]))
			h16 |= uint16(w[k]>>12) << (4 * k)
		}
		d := fp16ToFP32(h16)
		qs, qh := b[0:32], b[32:48]
		for ib := 0; ib < qkK/32; ib++ {
			sh := 6 * uint(ib%2)
			dl := [2]float32{
				d * float32(2*(w[ib/2]>>sh&7)+1),
				d * float32(2*(w[ib/2]>>(sh+3)&7)+1),
			}
			for l := 0; l < 4; l++ {
				nib := uint32(qh[2*ib+l/2]) >> (4 * uint(l%2)) & 0xf
				idx := uint32(qs[4*ib+l]) | (nib&7)<<8
				iq1Group(y[32*ib+8*l:], dl[l/2], iq1sGrid[idx], iq1DeltaFor(nib&8))
			}
		}
	}
}
