package quantize

import (
	"encoding/binary"
	"math"

	"github.com/qconv/qconv/gguf"
)

// Plain floating-point storage types. "Quantizing" to them is a per-element
// conversion and the importance matrix is meaningless, so it is ignored.

func init() {
	register(&Traits{
		Type: gguf.TypeF32, BlockSize: 1, BlockBytes: 4, Imatrix: ImatrixIgnored,
		QuantizeRow:   quantizeRowF32,
		DequantizeRow: dequantizeRowF32,
	})
	register(&Traits{
		Type: gguf.TypeF16, BlockSize: 1, BlockBytes: 2, Imatrix: ImatrixIgnored,
		QuantizeRow:   quantizeRowF16,
		DequantizeRow: dequantizeRowF16,
	})
	register(&Traits{
		Type: gguf.TypeBF16, BlockSize: 1, BlockBytes: 2, Imatrix: ImatrixIgnored,
		QuantizeRow:   quantizeRowBF16,
		DequantizeRow: dequantizeRowBF16,
	})
}

func quantizeRowF32(dst []byte, src []float32, _ []float32) {
	dst = dst[:4*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func dequantizeRowF32(dst []float32, src []byte) {
	src = src[:4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func quantizeRowF16(dst []byte, src []float32, _ []float32) {
	dst = dst[:2*len(src)]
	if n := len(src) &^ 31; simdConv && n > 0 {
		f32ToF16AVX2(&dst[0], &src[0], n)
		dst, src = dst[2*n:], src[n:]
	}
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], fp32ToFP16(v))
	}
}

func dequantizeRowF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	t := fp16Table
	for i := range dst {
		s := src[2*i : 2*i+2 : 2*i+2]
		dst[i] = t[uint16(s[0])|uint16(s[1])<<8]
	}
}

// fp32ToBF16 narrows f to bfloat16 the way ggml's reference converter does:
// NaNs keep their top 16 bits with the quiet bit (0x40 of the high half)
// forced on; everything else, subnormals and infinities included, is
// rounded to nearest with ties to even by adding 0x7fff plus the lowest
// kept bit and truncating. Values that round past the largest bfloat16
// become infinity, as in ggml.
func fp32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// bf16ToFP32 widens a bfloat16 value exactly (it is the top half of an f32).
func bf16ToFP32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

func quantizeRowBF16(dst []byte, src []float32, _ []float32) {
	dst = dst[:2*len(src)]
	if n := len(src) &^ 15; simdConv && n > 0 {
		f32ToBF16AVX2(&dst[0], &src[0], n)
		dst, src = dst[2*n:], src[n:]
	}
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], fp32ToBF16(v))
	}
}

func dequantizeRowBF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	if n := len(dst) &^ 31; simdConv && n > 0 {
		bf16ToF32AVX2(&dst[0], &src[0], n)
		dst, src = dst[n:], src[2*n:]
	}
	for i := range dst {
		dst[i] = bf16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}
