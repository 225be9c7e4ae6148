package safetensors

import (
	"fmt"
	"math"
	"strconv"
)

// DType is a safetensors element type. The zero value is not a valid dtype.
type DType uint8

// The dtypes of the safetensors format, named as in the file header.
const (
	Bool       DType = iota + 1 // BOOL, 1 byte, 0 = false
	U8                          // U8
	I8                          // I8
	U16                         // U16
	I16                         // I16
	U32                         // U32
	I32                         // I32
	U64                         // U64
	I64                         // I64
	F16                         // F16, IEEE 754 binary16
	BF16                        // BF16, bfloat16 (the top half of a float32)
	F32                         // F32
	F64                         // F64
	C64                         // C64, complex64: two float32 (real, imaginary)
	F8E4M3                      // F8_E4M3, OCP E4M3FN: bias 7, no infinity, NaN = S.1111.111
	F8E5M2                      // F8_E5M2, OCP E5M2: bias 15, with infinities and NaNs
	F8E8M0                      // F8_E8M0, OCP E8M0 scale: 2^(e-127), NaN = 0xff
	F8E4M3FNUZ                  // F8_E4M3FNUZ: bias 8, no infinity, no -0, NaN = 0x80
	F8E5M2FNUZ                  // F8_E5M2FNUZ: bias 16, no infinity, no -0, NaN = 0x80
	F6E2M3                      // F6_E2M3, 6 bits, packed
	F6E3M2                      // F6_E3M2, 6 bits, packed
	F4                          // F4 (E2M1), 4 bits, packed
	numDTypes
)

var dtypeNames = [numDTypes]string{
	Bool: "BOOL", U8: "U8", I8: "I8", U16: "U16", I16: "I16", U32: "U32", I32: "I32",
	U64: "U64", I64: "I64", F16: "F16", BF16: "BF16", F32: "F32", F64: "F64", C64: "C64",
	F8E4M3: "F8_E4M3", F8E5M2: "F8_E5M2", F8E8M0: "F8_E8M0",
	F8E4M3FNUZ: "F8_E4M3FNUZ", F8E5M2FNUZ: "F8_E5M2FNUZ",
	F6E2M3: "F6_E2M3", F6E3M2: "F6_E3M2", F4: "F4",
}

var dtypeBits = [numDTypes]uint8{
	Bool: 8, U8: 8, I8: 8, U16: 16, I16: 16, U32: 32, I32: 32, U64: 64, I64: 64,
	F16: 16, BF16: 16, F32: 32, F64: 64, C64: 64,
	F8E4M3: 8, F8E5M2: 8, F8E8M0: 8, F8E4M3FNUZ: 8, F8E5M2FNUZ: 8,
	F6E2M3: 6, F6E3M2: 6, F4: 4,
}

// DTypes returns every dtype the package knows, in a fixed order.
func DTypes() []DType {
	out := make([]DType, 0, numDTypes-1)
	for d := Bool; d < numDTypes; d++ {
		out = append(out, d)
	}
	return out
}

// ParseDType returns the dtype whose header name is s. Names are
// case-sensitive, as in the format ("F32", "BF16", "F8_E4M3", ...).
func ParseDType(s string) (DType, bool) {
	for d := Bool; d < numDTypes; d++ {
		if dtypeNames[d] == s {
			return d, true
		}
	}
	return 0, false
}

// Valid reports whether d is one of the defined dtypes.
func (d DType) Valid() bool { return d >= Bool && d < numDTypes }

// String returns the header name of d, or "DType(n)" for an invalid value.
func (d DType) String() string {
	if d.Valid() {
		return dtypeNames[d]
	}
	return "DType(" + strconv.Itoa(int(d)) + ")"
}

// Bits returns the storage size of one element in bits (4 for F4, 6 for the
// F6 types, 8 and up for the rest), or 0 for an invalid dtype.
func (d DType) Bits() int {
	if !d.Valid() {
		return 0
	}
	return int(dtypeBits[d])
}

// Size returns the storage size of one element in bytes, or 0 for the
// sub-byte dtypes (F4, F6_*) and invalid dtypes. Use ByteSize for a whole
// tensor.
func (d DType) Size() int {
	b := d.Bits()
	if b%8 != 0 {
		return 0
	}
	return b / 8
}

// IsFloat reports whether d is a real floating-point type (C64 is not).
func (d DType) IsFloat() bool {
	switch d {
	case F16, BF16, F32, F64, F8E4M3, F8E5M2, F8E8M0, F8E4M3FNUZ, F8E5M2FNUZ, F6E2M3, F6E3M2, F4:
		return true
	}
	return false
}

// ByteSize returns the number of bytes that n elements of d occupy. As in the
// reference implementation, packed sub-byte tensors must fill whole bytes:
// n*Bits() must be a multiple of 8, otherwise ByteSize fails. It also fails
// for an invalid dtype, a negative n, or a size that overflows int64.
func (d DType) ByteSize(n int64) (int64, error) {
	if !d.Valid() {
		return 0, fmt.Errorf("unknown dtype %v", d)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative element count %d", n)
	}
	bits := int64(d.Bits())
	if bits%8 == 0 {
		if n > math.MaxInt64/(bits/8) {
			return 0, fmt.Errorf("byte size of %d %v elements overflows int64", n, d)
		}
		return n * (bits / 8), nil
	}
	if n > math.MaxInt64/bits {
		return 0, fmt.Errorf("bit size of %d %v elements overflows int64", n, d)
	}
	total := n * bits
	if total%8 != 0 {
		return 0, fmt.Errorf("%d %v elements (%d bits) do not fill whole bytes", n, d, total)
	}
	return total / 8, nil
}
