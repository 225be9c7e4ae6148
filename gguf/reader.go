package gguf

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"

	"github.com/qconv/qconv/internal/mmapfile"
)

// Format limits. Parse rejects files beyond them; the writer refuses to
// produce such files.
const (
	Magic            = "GGUF"
	DefaultAlignment = 32      // used when general.alignment is absent
	MaxStringLen     = 1 << 30 // bytes in one string (ggml's limit)
	MaxArrayLen      = 1 << 30 // elements in one array (ggml's limit)
	MaxArrayDepth    = 8       // arrays of arrays nest at most this deep
	MaxDims          = 4       // ggml's GGML_MAX_DIMS
	MaxTensorNameLen = 63      // bytes; ggml's GGML_MAX_NAME less the terminator
	KeyAlignment     = "general.alignment"
)

// TensorInfo describes one tensor. Dims are in ggml order: Dims[0] (ne0)
// is the innermost, contiguous dimension, the row length. A tensor with no
// dims is a scalar of one element.
type TensorInfo struct {
	Name   string
	Type   Type
	Dims   []int64
	Offset int64 // offset of the data from the start of the data section

	// Set by Parse and NewLayout.
	FileOffset int64 // absolute offset of the data in the file
	Size       int64 // data size in bytes
}

// NElements returns the number of elements (the product of Dims; 1 for a
// scalar). It assumes the dims were validated (as Parse and NewLayout do).
func (t *TensorInfo) NElements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// checkShape validates a type and a shape and returns the byte size of
// the tensor. The returned message does not name the tensor.
func checkShape(t Type, dims []int64, tiled bool) (int64, string) {
	if len(dims) > MaxDims {
		return 0, fmt.Sprintf("%d dims, at most %d allowed", len(dims), MaxDims)
	}
	ti, ok := t.storageInfo(tiled)
	if !ok {
		if name, removed := RemovedTypeName(t); removed {
			return 0, fmt.Sprintf("type %s (id %d) was removed from ggml", name, uint32(t))
		}
		if _, _, isTiled := t.Tiled(); isTiled {
			return 0, fmt.Sprintf("type %s (id %#x) is a qconv block-major type, but the file does not declare %s = %q", t, uint32(t), KeyLayout, LayoutBlockMajor)
		}
		return 0, fmt.Sprintf("unknown type id %d", uint32(t))
	}
	n := int64(1)
	for i, d := range dims {
		if d < 0 {
			return 0, fmt.Sprintf("dimension %d is negative (%d)", i, d)
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Sprintf("element count of shape %v overflows int64", dims)
		}
		n = int64(lo)
	}
	ne0 := int64(1)
	if len(dims) > 0 {
		ne0 = dims[0]
	}
	if ne0%int64(ti.BlockSize) != 0 {
		return 0, fmt.Sprintf("row length ne0=%d is not a multiple of %s's block size %d", ne0, ti.Name, ti.BlockSize)
	}
	blocks := uint64(n / int64(ti.BlockSize))
	hi, lo := bits.Mul64(blocks, uint64(ti.BlockBytes))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, fmt.Sprintf("byte size of %s shape %v overflows int64", ti.Name, dims)
	}
	return int64(lo), ""
}

// File is a parsed GGUF file. Metadata and tensor infos are decoded
// eagerly; tensor data stays in the underlying bytes (a memory mapping for
// Open) and is returned as zero-copy views by TensorData.
type File struct {
	name        string
	version     uint32
	alignment   int64
	dataOffset  int64
	kvs         []KV
	kvIndex     map[string]int
	tensors     []TensorInfo
	tensorIndex map[string]int
	data        []byte
	mm          *mmapfile.File
}

// Open memory-maps path read-only and parses it. The File must be closed;
// tensor data views are invalid after Close.
func Open(path string) (*File, error) {
	m, err := mmapfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	f, err := Parse(m.Data(), path)
	if err != nil {
		m.Close()
		return nil, err
	}
	f.mm = m
	return f, nil
}

// Parse parses and validates a whole GGUF file held in data. name is used
// in error messages only. The returned File refers to data for tensor
// views (metadata is copied). Parse never panics and never allocates more
// than a small multiple of len(data), whatever the content.
func Parse(data []byte, name string) (*File, error) {
	d := &decoder{b: data, name: name}
	return d.file()
}

// Release drops the memory pages inside b, a slice returned by
// TensorData, from the process's resident set: the bytes stay readable and
// are faulted back in from the page cache when read again. It does nothing
// for a File from Parse or a slice from elsewhere.
func (f *File) Release(b []byte) { f.mm.Release(b) }

// Close releases the mapping of a File from Open. It is a no-op for a File
// from Parse.
func (f *File) Close() error {
	if f.mm == nil {
		return nil
	}
	err := f.mm.Close()
	f.mm = nil
	f.data = nil
	return err
}

// Name returns the name or path the file was parsed or opened with.
func (f *File) Name() string { return f.name }

// Version returns the GGUF version (1, 2 or 3).
func (f *File) Version() uint32 { return f.version }

// Alignment returns the data alignment (general.alignment or 32).
func (f *File) Alignment() int64 { return f.alignment }

// DataOffset returns the absolute offset of the data section. For a file
// without tensors it may lie beyond the end of the file.
func (f *File) DataOffset() int64 { return f.dataOffset }

// Size returns the size of the file in bytes.
func (f *File) Size() int64 { return int64(len(f.data)) }

// KVs returns the metadata in file order. The slice must not be modified.
func (f *File) KVs() []KV { return f.kvs }

// KV returns the value of key.
func (f *File) KV(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.kvs[i].Value, true
}

func kvAs[T any](f *File, key string) (T, bool) {
	var zero T
	v, ok := f.KV(key)
	if !ok {
		return zero, false
	}
	x, ok := v.x.(T)
	return x, ok
}

// String returns the value of a string key; false when absent or not a string.
func (f *File) String(key string) (string, bool) { return kvAs[string](f, key) }

// Bool returns the value of a bool key.
func (f *File) Bool(key string) (bool, bool) { return kvAs[bool](f, key) }

// Uint32 returns the value of a u32 key (exactly u32).
func (f *File) Uint32(key string) (uint32, bool) { return kvAs[uint32](f, key) }

// Int32 returns the value of an i32 key (exactly i32).
func (f *File) Int32(key string) (int32, bool) { return kvAs[int32](f, key) }

// Uint64 returns the value of a u64 key (exactly u64).
func (f *File) Uint64(key string) (uint64, bool) { return kvAs[uint64](f, key) }

// Int64 returns the value of an i64 key (exactly i64).
func (f *File) Int64(key string) (int64, bool) { return kvAs[int64](f, key) }

// Float32 returns the value of an f32 key (exactly f32).
func (f *File) Float32(key string) (float32, bool) { return kvAs[float32](f, key) }

// Float64 returns the value of an f64 key (exactly f64).
func (f *File) Float64(key string) (float64, bool) { return kvAs[float64](f, key) }

// Uint returns the value of a key of any integer type that is nonnegative.
// Writers disagree on the integer types of some keys; use this when the
// type does not matter.
func (f *File) Uint(key string) (uint64, bool) {
	v, ok := f.KV(key)
	if !ok {
		return 0, false
	}
	return v.AsUint()
}

// Int returns the value of a key of any integer type that fits in int64.
func (f *File) Int(key string) (int64, bool) {
	v, ok := f.KV(key)
	if !ok {
		return 0, false
	}
	return v.AsInt()
}

// Strings returns an array-of-string key's elements (not to be modified).
func (f *File) Strings(key string) ([]string, bool) { return kvAs[[]string](f, key) }

// Float32s returns an array-of-f32 key's elements (not to be modified).
func (f *File) Float32s(key string) ([]float32, bool) { return kvAs[[]float32](f, key) }

// Int32s returns an array-of-i32 key's elements (not to be modified).
func (f *File) Int32s(key string) ([]int32, bool) { return kvAs[[]int32](f, key) }

// Tensors returns the tensor infos in file order. The slice must not be
// modified.
func (f *File) Tensors() []TensorInfo { return f.tensors }

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.tensors[i], true
}

// TensorIndex returns the index of the named tensor in Tensors, or -1.
func (f *File) TensorIndex(name string) int {
	if i, ok := f.tensorIndex[name]; ok {
		return i
	}
	return -1
}

// TensorData returns the bytes of tensor i, a view into the file (valid
// until Close; never modify it). It panics when i is out of range.
func (f *File) TensorData(i int) []byte {
	t := &f.tensors[i]
	if t.Size == 0 {
		return []byte{}
	}
	return f.data[t.FileOffset : t.FileOffset+t.Size : t.FileOffset+t.Size]
}

// TensorDataByName returns the bytes of the named tensor.
func (f *File) TensorDataByName(name string) ([]byte, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return nil, false
	}
	return f.TensorData(i), true
}

// decoder reads a GGUF file from a byte slice. Every read checks the bytes
// left first; every count is checked against the bytes left before it
// drives an allocation or a loop.
type decoder struct {
	b     []byte
	off   int64
	name  string
	v1    bool   // 32-bit counts and lengths
	where string // current key or tensor, for messages

	infoOff []int64 // offset of each tensor info, for layout errors
	tiled   bool    // the file declares qconv's block-major layout
}

func (d *decoder) fail(off int64, format string, args ...any) *FormatError {
	return &FormatError{File: d.name, Offset: off, Where: d.where, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) left() int64 { return int64(len(d.b)) - d.off }

// need checks that n more bytes are present for what.
func (d *decoder) need(n uint64, what string) error {
	if n > uint64(d.left()) {
		return d.fail(d.off, "truncated: %s needs %d bytes, only %d left", what, n, d.left())
	}
	return nil
}

func (d *decoder) take(n int64) []byte {
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) u32(what string) (uint32, error) {
	if err := d.need(4, what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(d.take(4)), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	if err := d.need(8, what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(d.take(8)), nil
}

// lenSize is the size of a count or string length field.
func (d *decoder) lenSize() uint64 {
	if d.v1 {
		return 4
	}
	return 8
}

// count reads a count or length: u32 in v1, u64 from v2 on.
func (d *decoder) count(what string) (uint64, error) {
	if d.v1 {
		v, err := d.u32(what)
		return uint64(v), err
	}
	return d.u64(what)
}

func (d *decoder) str(what string, maxLen uint64) (string, error) {
	start := d.off
	n, err := d.count(what + " length")
	if err != nil {
		return "", err
	}
	if n > maxLen {
		return "", d.fail(start, "%s length %d exceeds the limit of %d bytes", what, n, maxLen)
	}
	if err := d.need(n, what); err != nil {
		return "", err
	}
	return string(d.take(int64(n))), nil
}

func (d *decoder) file() (*File, error) {
	if len(d.b) < 4 {
		return nil, &FormatError{File: d.name, Offset: -1, Msg: fmt.Sprintf("file of %d bytes is too short to be GGUF", len(d.b)), kind: ErrNotGGUF}
	}
	if err := d.magic(); err != nil {
		return nil, err
	}
	d.off = 4
	vOff := d.off
	version, err := d.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case version == 0:
		return nil, d.fail(vOff, "invalid version 0")
	case version&0xFFFF == 0:
		e := d.fail(vOff, "big-endian GGUF file (version field is %#08x, version %d byte-swapped); only little-endian GGUF is supported",
			version, bits.ReverseBytes32(version))
		e.kind = ErrBigEndian
		return nil, e
	case version > 3:
		return nil, d.fail(vOff, "unsupported GGUF version %d (this reader knows versions 1 to 3)", version)
	}
	d.v1 = version == 1
	f := &File{name: d.name, version: version, data: d.b}

	ntOff := d.off
	nTensors, err := d.count("tensor count")
	if err != nil {
		return nil, err
	}
	nkOff := d.off
	nKV, err := d.count("metadata count")
	if err != nil {
		return nil, err
	}
	// Smallest possible KV: key length field, 1-byte key, type, 1-byte value.
	minKV := d.lenSize() + 1 + 4 + 1
	if nKV > uint64(d.left())/minKV {
		return nil, d.fail(nkOff, "metadata count %d is impossible: %d bytes left", nKV, d.left())
	}
	// Smallest tensor info: name length field, 1-byte name, n_dims, type, offset.
	minTI := d.lenSize() + 1 + 4 + 4 + 8
	if nTensors > uint64(d.left())/minTI {
		return nil, d.fail(ntOff, "tensor count %d is impossible: %d bytes left", nTensors, d.left())
	}

	if err := d.kvs(f, int(nKV)); err != nil {
		return nil, err
	}
	tiled, msg := tiledAllowed(f.kvs)
	if msg != "" {
		d.where = ""
		return nil, d.fail(d.off, "%s", msg)
	}
	d.tiled = tiled
	if err := d.tensorInfos(f, int(nTensors)); err != nil {
		return nil, err
	}
	if err := d.layout(f); err != nil {
		return nil, err
	}
	return f, nil
}

func (d *decoder) magic() error {
	m := string(d.b[:4])
	var msg string
	switch m {
	case Magic:
		return nil
	case "FUGG":
		msg = `magic "FUGG": a pre-release GGUF file (byte-swapped magic, written before GGUF v1 was final); regenerate it with a current converter`
	case "tjgg", "ggjt":
		msg = "magic " + strconv.Quote(m) + ": a legacy GGJT model file (llama.cpp's format before GGUF); convert it to GGUF first"
	case "fmgg", "ggmf":
		msg = "magic " + strconv.Quote(m) + ": a legacy GGMF model file (llama.cpp's format before GGUF); convert it to GGUF first"
	case "lmgg", "ggml":
		msg = "magic " + strconv.Quote(m) + ": a legacy unversioned GGML model file (before GGUF); convert it to GGUF first"
	case "algg", "ggla":
		msg = "magic " + strconv.Quote(m) + ": a legacy GGLA LoRA adapter file (before GGUF)"
	default:
		msg = fmt.Sprintf("bad magic %q (% x): not a GGUF file", m, d.b[:4])
	}
	return &FormatError{File: d.name, Offset: 0, Msg: msg, kind: ErrNotGGUF}
}

func (d *decoder) kvs(f *File, n int) error {
	f.kvs = make([]KV, 0, n)
	f.kvIndex = make(map[string]int, n)
	for i := range n {
		d.where = fmt.Sprintf("metadata entry %d", i)
		keyOff := d.off
		key, err := d.str("key", MaxStringLen)
		if err != nil {
			return err
		}
		if key == "" {
			return d.fail(keyOff, "empty key")
		}
		d.where = "key " + strconv.Quote(key)
		if _, dup := f.kvIndex[key]; dup {
			return d.fail(keyOff, "duplicate key")
		}
		tOff := d.off
		t, err := d.u32("value type")
		if err != nil {
			return err
		}
		vt := ValueType(t)
		if !vt.Valid() {
			return d.fail(tOff, "unknown value type %d", t)
		}
		vOff := d.off
		v, err := d.value(vt, 0)
		if err != nil {
			return err
		}
		if key == KeyAlignment {
			a, ok := v.x.(uint32)
			if !ok {
				return d.fail(vOff, "must be u32, not %s", vt)
			}
			if a == 0 || a&(a-1) != 0 {
				return d.fail(vOff, "alignment %d is not a non-zero power of two", a)
			}
		}
		f.kvIndex[key] = len(f.kvs)
		f.kvs = append(f.kvs, KV{Key: key, Value: v})
	}
	d.where = ""
	f.alignment = DefaultAlignment
	if a, ok := f.Uint32(KeyAlignment); ok {
		f.alignment = int64(a)
	}
	return nil
}

func (d *decoder) value(t ValueType, depth int) (Value, error) {
	if t == ValueArray {
		return d.array(depth)
	}
	if t == ValueString {
		s, err := d.str("string", MaxStringLen)
		return String(s), err
	}
	size := fixedSize[t]
	if err := d.need(uint64(size), t.String()+" value"); err != nil {
		return Value{}, err
	}
	off := d.off
	p := d.take(int64(size))
	switch t {
	case ValueUint8:
		return Uint8(p[0]), nil
	case ValueInt8:
		return Int8(int8(p[0])), nil
	case ValueUint16:
		return Uint16(binary.LittleEndian.Uint16(p)), nil
	case ValueInt16:
		return Int16(int16(binary.LittleEndian.Uint16(p))), nil
	case ValueUint32:
		return Uint32(binary.LittleEndian.Uint32(p)), nil
	case ValueInt32:
		return Int32(int32(binary.LittleEndian.Uint32(p))), nil
	case ValueFloat32:
		return Float32(math.Float32frombits(binary.LittleEndian.Uint32(p))), nil
	case ValueBool:
		if p[0] > 1 {
			return Value{}, d.fail(off, "bool byte is %d, must be 0 or 1", p[0])
		}
		return Bool(p[0] == 1), nil
	case ValueUint64:
		return Uint64(binary.LittleEndian.Uint64(p)), nil
	case ValueInt64:
		return Int64(int64(binary.LittleEndian.Uint64(p))), nil
	default: // ValueFloat64
		return Float64(math.Float64frombits(binary.LittleEndian.Uint64(p))), nil
	}
}

func (d *decoder) array(depth int) (Value, error) {
	start := d.off
	if depth >= MaxArrayDepth {
		return Value{}, d.fail(start, "arrays nested more than %d deep", MaxArrayDepth)
	}
	et, err := d.u32("array element type")
	if err != nil {
		return Value{}, err
	}
	elem := ValueType(et)
	if !elem.Valid() {
		return Value{}, d.fail(start, "unknown array element type %d", et)
	}
	nOff := d.off
	n64, err := d.count("array length")
	if err != nil {
		return Value{}, err
	}
	if n64 > MaxArrayLen {
		return Value{}, d.fail(nOff, "array of %d elements exceeds the limit of %d", n64, MaxArrayLen)
	}
	var minSize uint64
	switch elem {
	case ValueString:
		minSize = d.lenSize()
	case ValueArray:
		minSize = 4 + d.lenSize()
	default:
		minSize = uint64(fixedSize[elem])
	}
	// n64 <= 2^30 and minSize <= 12: no overflow.
	if n64*minSize > uint64(d.left()) {
		return Value{}, d.fail(nOff, "truncated: array of %d %s needs at least %d bytes, only %d left", n64, elem, n64*minSize, d.left())
	}
	n := int(n64)
	var x any
	switch elem {
	case ValueUint8:
		x = slices.Clone(d.take(int64(n)))
	case ValueInt8:
		x = decodeArr(d, n, 1, func(p []byte) int8 { return int8(p[0]) })
	case ValueUint16:
		x = decodeArr(d, n, 2, binary.LittleEndian.Uint16)
	case ValueInt16:
		x = decodeArr(d, n, 2, func(p []byte) int16 { return int16(binary.LittleEndian.Uint16(p)) })
	case ValueUint32:
		x = decodeArr(d, n, 4, binary.LittleEndian.Uint32)
	case ValueInt32:
		x = decodeArr(d, n, 4, func(p []byte) int32 { return int32(binary.LittleEndian.Uint32(p)) })
	case ValueFloat32:
		x = decodeArr(d, n, 4, func(p []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(p)) })
	case ValueUint64:
		x = decodeArr(d, n, 8, binary.LittleEndian.Uint64)
	case ValueInt64:
		x = decodeArr(d, n, 8, func(p []byte) int64 { return int64(binary.LittleEndian.Uint64(p)) })
	case ValueFloat64:
		x = decodeArr(d, n, 8, func(p []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(p)) })
	case ValueBool:
		p := d.b[d.off : d.off+int64(n)]
		out := make([]bool, n)
		for i, c := range p {
			if c > 1 {
				return Value{}, d.fail(d.off+int64(i), "bool array element %d is %d, must be 0 or 1", i, c)
			}
			out[i] = c == 1
		}
		d.off += int64(n)
		x = out
	case ValueString:
		out := make([]string, n)
		for i := range out {
			s, err := d.str("string", MaxStringLen)
			if err != nil {
				return Value{}, err
			}
			out[i] = s
		}
		x = out
	case ValueArray:
		out := make([]Value, n)
		for i := range out {
			v, err := d.array(depth + 1)
			if err != nil {
				return Value{}, err
			}
			out[i] = v
		}
		x = out
	}
	return Value{typ: ValueArray, elem: elem, x: x}, nil
}

// decodeArr decodes n fixed-size elements; the caller has checked that
// n*size bytes are left.
func decodeArr[T any](d *decoder, n, size int, conv func([]byte) T) []T {
	out := make([]T, n)
	p := d.take(int64(n * size))
	for i := range out {
		out[i] = conv(p[i*size:])
	}
	return out
}

func (d *decoder) tensorInfos(f *File, n int) error {
	f.tensors = make([]TensorInfo, 0, n)
	f.tensorIndex = make(map[string]int, n)
	d.infoOff = make([]int64, 0, n)
	for i := range n {
		d.where = fmt.Sprintf("tensor %d", i)
		nameOff := d.off
		name, err := d.str("tensor name", MaxStringLen)
		if err != nil {
			return err
		}
		if name == "" {
			return d.fail(nameOff, "empty tensor name")
		}
		d.where = "tensor " + strconv.Quote(name)
		if len(name) > MaxTensorNameLen {
			return d.fail(nameOff, "name of %d bytes exceeds ggml's limit of %d", len(name), MaxTensorNameLen)
		}
		if _, dup := f.tensorIndex[name]; dup {
			return d.fail(nameOff, "duplicate tensor name")
		}
		ndOff := d.off
		nd, err := d.u32("n_dims")
		if err != nil {
			return err
		}
		if nd > MaxDims {
			return d.fail(ndOff, "n_dims is %d, at most %d allowed", nd, MaxDims)
		}
		dims := make([]int64, nd)
		for j := range dims {
			dOff := d.off
			v, err := d.count("dimension")
			if err != nil {
				return err
			}
			if v > math.MaxInt64 {
				return d.fail(dOff, "dimension %d is negative (%d)", j, int64(v))
			}
			dims[j] = int64(v)
		}
		tOff := d.off
		typ, err := d.u32("tensor type")
		if err != nil {
			return err
		}
		oOff := d.off
		off, err := d.u64("tensor data offset")
		if err != nil {
			return err
		}
		size, msg := checkShape(Type(typ), dims, d.tiled)
		if msg != "" {
			at := ndOff
			if _, ok := Type(typ).storageInfo(d.tiled); !ok {
				at = tOff
			}
			return d.fail(at, "%s", msg)
		}
		if off > math.MaxInt64 {
			return d.fail(oOff, "data offset %d is too large", off)
		}
		if int64(off)%f.alignment != 0 {
			return d.fail(oOff, "data offset %d is not a multiple of the alignment %d", off, f.alignment)
		}
		f.tensorIndex[name] = len(f.tensors)
		f.tensors = append(f.tensors, TensorInfo{Name: name, Type: Type(typ), Dims: dims, Offset: int64(off), Size: size})
		d.infoOff = append(d.infoOff, nameOff)
	}
	d.where = ""
	return nil
}

// layout places the data section and checks every tensor's data lies in
// the file and that no two tensors overlap.
func (d *decoder) layout(f *File) error {
	// alignment <= 2^31 and d.off <= len: no overflow.
	f.dataOffset = (d.off + f.alignment - 1) / f.alignment * f.alignment
	size := int64(len(d.b))
	for i := range f.tensors {
		t := &f.tensors[i]
		t.FileOffset = f.dataOffset + t.Offset
		if t.FileOffset < f.dataOffset || t.FileOffset > size || t.Size > size-t.FileOffset {
			if t.Size == 0 && t.FileOffset >= f.dataOffset {
				continue // an empty tensor has no bytes to be missing
			}
			return &FormatError{File: d.name, Offset: d.infoOff[i], Where: "tensor " + strconv.Quote(t.Name),
				Msg: fmt.Sprintf("data [%d, %d) lies outside the file of %d bytes (data section at %d, offset %d, size %d)",
					t.FileOffset, uint64(t.FileOffset)+uint64(t.Size), size, f.dataOffset, t.Offset, t.Size)}
		}
	}
	order := make([]int, 0, len(f.tensors))
	for i := range f.tensors {
		if f.tensors[i].Size > 0 {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Compare(f.tensors[a].FileOffset, f.tensors[b].FileOffset)
	})
	for k := 1; k < len(order); k++ {
		a, b := &f.tensors[order[k-1]], &f.tensors[order[k]]
		if a.FileOffset+a.Size > b.FileOffset {
			return &FormatError{File: d.name, Offset: d.infoOff[order[k]], Where: "tensor " + strconv.Quote(b.Name),
				Msg: fmt.Sprintf("data [%d, %d) overlaps tensor %q at [%d, %d)",
					b.FileOffset, b.FileOffset+b.Size, a.Name, a.FileOffset, a.FileOffset+a.Size)}
		}
	}
	return nil
}
