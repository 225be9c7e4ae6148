package quantize

// K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (256-element super-blocks with
// quantized sub-block scales) and the activation type Q8_K. Go versions of
// ggml's quantize_row_qX_K_ref (no importance matrix),
// quantize_row_qX_K_impl (ggml_quantize_chunk with one) and
// dequantize_row_qX_K. The per-type code lives in kquant_*.go; the
// rounding rules are those listed at the top of search.go.

import (
	"encoding/binary"

	"github.com/qconv/qconv/gguf"
)

// qkK is ggml's QK_K, the super-block size.
const qkK = 256

const (
	q2KBytes = 84
	q3KBytes = 110
	q4KBytes = 144
	q5KBytes = 176
	q6KBytes = 210
	q8KBytes = 292
)

func init() {
	register(&Traits{Type: gguf.TypeQ2_K, BlockSize: qkK, BlockBytes: q2KBytes, Imatrix: ImatrixOptional,
		QuantizeRow: quantizeRowQ2K, DequantizeRow: dequantizeRowQ2K})
	register(&Traits{Type: gguf.TypeQ3_K, BlockSize: qkK, BlockBytes: q3KBytes, Imatrix: ImatrixOptional,
		QuantizeRow: quantizeRowQ3K, DequantizeRow: dequantizeRowQ3K})
	register(&Traits{Type: gguf.TypeQ4_K, BlockSize: qkK, BlockBytes: q4KBytes, Imatrix: ImatrixOptional,
		QuantizeRow: quantizeRowQ4K, DequantizeRow: dequantizeRowQ4K})
	register(&Traits{Type: gguf.TypeQ5_K, BlockSize: qkK, BlockBytes: q5KBytes, Imatrix: ImatrixOptional,
		QuantizeRow: quantizeRowQ5K, DequantizeRow: dequantizeRowQ5K})
	register(&Traits{Type: gguf.TypeQ6_K, BlockSize: qkK, BlockBytes: q6KBytes, Imatrix: ImatrixOptional,
		QuantizeRow: quantizeRowQ6K, DequantizeRow: dequantizeRowQ6K})
	register(&Traits{Type: gguf.TypeQ8_K, BlockSize: qkK, BlockBytes: q8KBytes, Imatrix: ImatrixIgnored,
		QuantizeRow: quantizeRowQ8K, DequantizeRow: dequantizeRowQ8K})
}

// kBlockFunc quantizes one super-block into y (exactly one block long);
// qw is nil without an imatrix.
type kBlockFunc func(y []byte, x, qw *[qkK]float32)

// quantizeKRow runs block over every super-block of a row. The imatrix,
// when given, has one weight per row element, so block i uses
// imatrix[256i:256i+256] (ggml: quant_weights + QK_K*i).
func quantizeKRow(dst []byte, src, imatrix []float32, size int, block kBlockFunc) {
	nb := len(src) / qkK
	if len(dst) < nb*size {
		panic("quantize: destination too short")
	}
	if imatrix != nil && len(imatrix) < len(src) {
		panic("quantize: importance matrix shorter than the row")
	}
	for i := 0; i < nb; i++ {
		x := (*[qkK]float32)(src[i*qkK:])
		var qw *[qkK]float32
		if imatrix != nil {
			qw = (*[qkK]float32)(imatrix[i*qkK:])
		}
		block(dst[i*size:(i+1)*size], x, qw)
	}
}

func putHalf(b []byte, h uint16) { binary.LittleEndian.PutUint16(b, h) }
func getHalf(b []byte) float32   { return fp16ToFP32(binary.LittleEndian.Uint16(b)) }

// pack2Bit stores 2-bit codes as Q2_K and Q3_K do: per 128 elements, byte
// l (0..31) holds elements l, l+32, l+64, l+96 at shifts 0, 2, 4, 6.
func pack2Bit(qs *[64]byte, L *[qkK]uint8) {
	for j := 0; j < qkK; j += 128 {
		q := (*[32]byte)(qs[j/4:])
		a := (*[128]uint8)(L[j:])
		for l := 0; l < 32; l++ {
			q[l] = a[l] | a[l+32]<<2 | a[l+64]<<4 | a[l+96]<<6
		}
	}
}

// setScaleMinK4 packs the 6-bit scale ls and min lm of sub-block j into
// the 12-byte Q4_K/Q5_K scale array (the inverse of getScaleMinK4). It
// must be called for j = 0..7 in order on a zeroed array. The byte
// arithmetic truncates exactly like ggml's uint8_t stores.
func setScaleMinK4(s *[12]byte, j int, ls, lm uint8) {
	if j < 4 {
		s[j] = ls
		s[j+4] = lm
	} else {
		s[j+4] = ls&0xF | (lm&0xF)<<4
		s[j-4] |= (ls >> 4) << 6
		s[j] |= (lm >> 4) << 6
	}
}

// getScaleMinK4 is ggml's get_scale_min_k4.
func getScaleMinK4(j int, s *[12]byte) (sc, m uint8) {
	if j < 4 {
		return s[j] & 63, s[j+4] & 63
	}
	return s[j+4]&0xF | (s[j-4]>>6)<<4, s[j+4]>>4 | (s[j]>>6)<<4
}
