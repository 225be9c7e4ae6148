// Package quantize converts float32 rows to ggml's block formats and back.
//
// Every quantizer is a pure function of its input row (and importance
// vector): no global state, no allocation per block, and output bytes
// identical to ggml's reference quantizers on every CPU. Each type family
// lives in its own file and registers its Traits at package initialisation;
// the table is read-only afterwards.
package quantize

import (
	"fmt"

	"github.com/qconv/qconv/gguf"
)

// ImatrixUse says how a type's quantizer treats an importance matrix.
type ImatrixUse int

const (
	ImatrixIgnored  ImatrixUse = iota // the quantizer never looks at it
	ImatrixOptional                   // used when given
	ImatrixRequired                   // quantizing without one is an error
)

func (u ImatrixUse) String() string {
	switch u {
	case ImatrixIgnored:
		return "ignored"
	case ImatrixOptional:
		return "optional"
	case ImatrixRequired:
		return "required"
	}
	return fmt.Sprintf("ImatrixUse(%d)", int(u))
}

// Traits describes one ggml type and the row functions that implement it.
type Traits struct {
	Type       gguf.Type
	Name       string // ggml's name, as gguf.Type.String
	BlockSize  int    // elements per block
	BlockBytes int    // bytes per block
	Imatrix    ImatrixUse

	// QuantizeRow quantizes one row. len(src) is a multiple of BlockSize,
	// len(dst) is len(src)/BlockSize*BlockBytes, and imatrix is nil or has
	// len(src) entries. Without an imatrix the bytes equal what
	// llama-quantize writes (ggml_quantize_chunk with a NULL imatrix); with
	// one, ggml_quantize_chunk with that imatrix. Nil for dequantize-only
	// types.
	QuantizeRow func(dst []byte, src []float32, imatrix []float32)

	// QuantizeRowRef is ggml's quantize_row_<type>_ref where it differs from
	// QuantizeRow without an imatrix (only IQ4_NL); nil elsewhere.
	QuantizeRowRef func(dst []byte, src []float32)

	// DequantizeRow expands len(dst)/BlockSize blocks from src into dst,
	// exactly as ggml's to_float does.
	DequantizeRow func(dst []float32, src []byte)
}

// CanQuantize reports whether rows can be quantized to this type.
func (tr *Traits) CanQuantize() bool { return tr.QuantizeRow != nil }

// RowBytes is the byte size of a row of n elements (n a multiple of BlockSize).
func (tr *Traits) RowBytes(n int) int { return n / tr.BlockSize * tr.BlockBytes }

var registry [gguf.TypeCount]*Traits

// register is called from the init functions of the type family files.
func register(tr *Traits) {
	if registry[tr.Type] != nil {
		panic("quantize: type registered twice: " + tr.Name)
	}
	ti, ok := tr.Type.Info()
	if !ok || ti.BlockSize != tr.BlockSize || ti.BlockBytes != tr.BlockBytes {
		panic("quantize: traits disagree with gguf's type table: " + tr.Name)
	}
	if tr.Name == "" {
		tr.Name = ti.Name
	}
	registry[tr.Type] = tr
}

// Lookup returns the traits of t, or false when qconv cannot handle t.
func Lookup(t gguf.Type) (*Traits, bool) {
	if t >= gguf.TypeCount || registry[t] == nil {
		return nil, false
	}
	return registry[t], true
}

// Registered returns every type with traits, in id order.
func Registered() []*Traits {
	var out []*Traits
	for _, tr := range registry {
		if tr != nil {
			out = append(out, tr)
		}
	}
	return out
}

// Quantize quantizes nrows rows of nPerRow elements from src into dst.
func Quantize(t gguf.Type, dst []byte, src []float32, nPerRow int, imatrix []float32) error {
	tr, ok := Lookup(t)
	if !ok || tr.QuantizeRow == nil {
		return fmt.Errorf("quantize: cannot quantize to %s", t)
	}
	if nPerRow <= 0 || nPerRow%tr.BlockSize != 0 {
		return fmt.Errorf("quantize: %s: row of %d elements is not a multiple of the block size %d", tr.Name, nPerRow, tr.BlockSize)
	}
	if len(src)%nPerRow != 0 {
		return fmt.Errorf("quantize: %s: %d values do not make whole rows of %d", tr.Name, len(src), nPerRow)
	}
	nrows := len(src) / nPerRow
	rb := tr.RowBytes(nPerRow)
	if len(dst) != nrows*rb {
		return fmt.Errorf("quantize: %s: destination has %d bytes, want %d", tr.Name, len(dst), nrows*rb)
	}
	if imatrix != nil && len(imatrix) != nPerRow {
		return fmt.Errorf("quantize: %s: importance matrix has %d entries, rows have %d", tr.Name, len(imatrix), nPerRow)
	}
	if imatrix == nil && tr.Imatrix == ImatrixRequired {
		return fmt.Errorf("quantize: %s requires an importance matrix", tr.Name)
	}
	if tr.Imatrix == ImatrixIgnored {
		imatrix = nil
	}
	for r := 0; r < nrows; r++ {
		tr.QuantizeRow(dst[r*rb:(r+1)*rb], src[r*nPerRow:(r+1)*nPerRow], imatrix)
	}
	return nil
}

// Dequantize expands whole rows of type t from src into dst.
func Dequantize(t gguf.Type, dst []float32, src []byte) error {
	tr, ok := Lookup(t)
	if !ok || tr.DequantizeRow == nil {
		return fmt.Errorf("quantize: cannot dequantize %s", t)
	}
	if len(dst)%tr.BlockSize != 0 || len(src) != len(dst)/tr.BlockSize*tr.BlockBytes {
		return fmt.Errorf("quantize: %s: %d bytes do not hold %d values", tr.Name, len(src), len(dst))
	}
	tr.DequantizeRow(dst, src)
	return nil
}
