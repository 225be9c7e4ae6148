package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Layout is the complete placement of a GGUF v3 file, computed before any
// byte is written: the encoded header (magic, version, counts, metadata
// and tensor infos, in the order given), the data section start and each
// tensor's absolute offset and size. Tensors are placed in the order given,
// each starting on an alignment boundary, with zero padding after the
// header and after every tensor (the last one included, as ggml does).
//
// A Layout can be written sequentially with NewWriter, or concurrently:
// WriteHeader at offset 0 and WriteTensorAt for each tensor, in any order
// and from any goroutines, into a file (an io.WriterAt). Both give the
// same bytes.
type Layout struct {
	Alignment  int64
	HeaderSize int64        // bytes of header, metadata and tensor infos, before padding
	DataOffset int64        // HeaderSize rounded up to Alignment
	FileSize   int64        // total size of the file
	Tensors    []TensorInfo // copies of the given infos with Offset, FileOffset and Size set

	header []byte
}

// NewLayout validates kvs and tensors and lays the file out. Only Name,
// Type and Dims of the tensors are used; offsets are assigned afresh. The
// alignment is kvs' general.alignment (which must be a u32 power of two)
// or 32. NewLayout rejects anything Parse would reject: empty or duplicate
// keys, malformed values, duplicate or over-long tensor names, bad types
// and shapes.
func NewLayout(kvs []KV, tensors []TensorInfo) (*Layout, error) {
	l := &Layout{Alignment: DefaultAlignment}
	seen := make(map[string]bool, len(kvs))
	for _, kv := range kvs {
		if kv.Key == "" {
			return nil, errors.New("gguf: empty metadata key")
		}
		if len(kv.Key) > MaxStringLen {
			return nil, fmt.Errorf("gguf: key of %d bytes is too long", len(kv.Key))
		}
		if seen[kv.Key] {
			return nil, fmt.Errorf("gguf: duplicate key %q", kv.Key)
		}
		seen[kv.Key] = true
		if err := checkWritable(kv.Value, 0); err != nil {
			return nil, fmt.Errorf("gguf: key %q: %w", kv.Key, err)
		}
		if kv.Key == KeyAlignment {
			a, ok := kv.Value.x.(uint32)
			if !ok {
				return nil, fmt.Errorf("gguf: key %q must be u32, not %s", kv.Key, kv.Value.typ)
			}
			if a == 0 || a&(a-1) != 0 {
				return nil, fmt.Errorf("gguf: key %q: alignment %d is not a non-zero power of two", kv.Key, a)
			}
			l.Alignment = int64(a)
		}
	}

	tiled, msg := tiledAllowed(kvs)
	if msg != "" {
		return nil, fmt.Errorf("gguf: %s", msg)
	}
	l.Tensors = make([]TensorInfo, len(tensors))
	names := make(map[string]bool, len(tensors))
	var off int64
	for i, t := range tensors {
		if t.Name == "" {
			return nil, fmt.Errorf("gguf: tensor %d has an empty name", i)
		}
		if len(t.Name) > MaxTensorNameLen {
			return nil, fmt.Errorf("gguf: tensor %q: name of %d bytes exceeds ggml's limit of %d", t.Name, len(t.Name), MaxTensorNameLen)
		}
		if names[t.Name] {
			return nil, fmt.Errorf("gguf: duplicate tensor name %q", t.Name)
		}
		names[t.Name] = true
		size, msg := checkShape(t.Type, t.Dims, tiled)
		if msg != "" {
			return nil, fmt.Errorf("gguf: tensor %q: %s", t.Name, msg)
		}
		padded, ok := alignUp(size, l.Alignment)
		if !ok || off > math.MaxInt64-padded {
			return nil, errors.New("gguf: total tensor data size overflows int64")
		}
		l.Tensors[i] = TensorInfo{Name: t.Name, Type: t.Type, Dims: append([]int64(nil), t.Dims...), Offset: off, Size: size}
		off += padded
	}

	e := encoder{}
	e.raw([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(tensors)))
	e.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.typ))
		e.value(kv.Value)
	}
	for _, t := range l.Tensors {
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(uint64(d))
		}
		e.u32(uint32(t.Type))
		e.u64(uint64(t.Offset))
	}
	l.header = e.b
	l.HeaderSize = int64(len(e.b))
	l.DataOffset, _ = alignUp(l.HeaderSize, l.Alignment)
	if l.DataOffset > math.MaxInt64-off {
		return nil, errors.New("gguf: file size overflows int64")
	}
	for i := range l.Tensors {
		l.Tensors[i].FileOffset = l.DataOffset + l.Tensors[i].Offset
	}
	l.FileSize = l.DataOffset + off
	return l, nil
}

// alignUp rounds n up to a multiple of a (a power of two).
func alignUp(n, a int64) (int64, bool) {
	if n > math.MaxInt64-(a-1) {
		return 0, false
	}
	return (n + a - 1) &^ (a - 1), true
}

// checkWritable checks a value against the format limits before encoding.
func checkWritable(v Value, depth int) error {
	if err := v.check(); err != nil {
		return err
	}
	if v.typ == ValueArray && depth >= MaxArrayDepth {
		return fmt.Errorf("arrays nested more than %d deep", MaxArrayDepth)
	}
	switch x := v.x.(type) {
	case string:
		if len(x) > MaxStringLen {
			return fmt.Errorf("string of %d bytes exceeds the limit of %d", len(x), MaxStringLen)
		}
	case []string:
		for i, s := range x {
			if len(s) > MaxStringLen {
				return fmt.Errorf("array element %d: string of %d bytes exceeds the limit of %d", i, len(s), MaxStringLen)
			}
		}
	case []Value:
		for i, e := range x {
			if err := checkWritable(e, depth+1); err != nil {
				return fmt.Errorf("array element %d: %w", i, err)
			}
		}
	}
	if v.typ == ValueArray && v.Len() > MaxArrayLen {
		return fmt.Errorf("array of %d elements exceeds the limit of %d", v.Len(), MaxArrayLen)
	}
	return nil
}

// Header returns the encoded header without padding (HeaderSize bytes).
// The slice must not be modified.
func (l *Layout) Header() []byte { return l.header }

// WriteHeader writes the header and its zero padding: the first
// DataOffset bytes of the file.
func (l *Layout) WriteHeader(w io.Writer) error {
	if _, err := w.Write(l.header); err != nil {
		return fmt.Errorf("gguf: writing header: %w", err)
	}
	if err := writeZeros(w, l.DataOffset-l.HeaderSize); err != nil {
		return fmt.Errorf("gguf: writing header padding: %w", err)
	}
	return nil
}

// WriteTensorAt writes tensor i's data and the zero padding after it at
// their offsets in w. It may be called concurrently for different
// tensors. data must be exactly the tensor's size.
func (l *Layout) WriteTensorAt(w io.WriterAt, i int, data []byte) error {
	if i < 0 || i >= len(l.Tensors) {
		return fmt.Errorf("gguf: tensor index %d out of range [0, %d)", i, len(l.Tensors))
	}
	t := &l.Tensors[i]
	if int64(len(data)) != t.Size {
		return fmt.Errorf("gguf: tensor %q: %d bytes of data, its %s shape %v needs %d", t.Name, len(data), t.Type, t.Dims, t.Size)
	}
	if _, err := w.WriteAt(data, t.FileOffset); err != nil {
		return fmt.Errorf("gguf: writing tensor %q: %w", t.Name, err)
	}
	if pad := l.padAfter(i); pad > 0 {
		if _, err := w.WriteAt(make([]byte, pad), t.FileOffset+t.Size); err != nil {
			return fmt.Errorf("gguf: writing padding after tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// padAfter returns the number of zero bytes after tensor i.
func (l *Layout) padAfter(i int) int64 {
	t := &l.Tensors[i]
	end, _ := alignUp(t.Offset+t.Size, l.Alignment)
	return end - t.Offset - t.Size
}

var zeros [4096]byte

func writeZeros(w io.Writer, n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := w.Write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// Writer streams a file of a Layout sequentially: the header, then each
// tensor's data in layout order, with the padding inserted.
type Writer struct {
	l    *Layout
	w    io.Writer
	next int
	err  error
}

// NewWriter writes the header of l to w and returns a Writer for the
// tensor data.
func (l *Layout) NewWriter(w io.Writer) (*Writer, error) {
	if err := l.WriteHeader(w); err != nil {
		return nil, err
	}
	return &Writer{l: l, w: w}, nil
}

func (w *Writer) nextTensor(name string, size int64) (*TensorInfo, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.next >= len(w.l.Tensors) {
		return nil, fmt.Errorf("gguf: tensor %q: all %d tensors were already written", name, len(w.l.Tensors))
	}
	t := &w.l.Tensors[w.next]
	if t.Name != name {
		return nil, fmt.Errorf("gguf: tensor %q written out of order: next is %q", name, t.Name)
	}
	if size >= 0 && size != t.Size {
		return nil, fmt.Errorf("gguf: tensor %q: %d bytes of data, its %s shape %v needs %d", t.Name, size, t.Type, t.Dims, t.Size)
	}
	return t, nil
}

func (w *Writer) finish(t *TensorInfo, err error) error {
	if err == nil {
		err = writeZeros(w.w, w.l.padAfter(w.next))
	}
	if err != nil {
		w.err = fmt.Errorf("gguf: writing tensor %q: %w", t.Name, err)
		return w.err
	}
	w.next++
	return nil
}

// WriteTensor writes the data of the next tensor, which must be named
// name and have exactly the size its type and shape require.
func (w *Writer) WriteTensor(name string, data []byte) error {
	t, err := w.nextTensor(name, int64(len(data)))
	if err != nil {
		return err
	}
	_, err = w.w.Write(data)
	return w.finish(t, err)
}

// CopyTensor writes the data of the next tensor from r, which must supply
// at least the tensor's size in bytes; exactly that many are read.
func (w *Writer) CopyTensor(name string, r io.Reader) error {
	t, err := w.nextTensor(name, -1)
	if err != nil {
		return err
	}
	n, err := io.CopyN(w.w, r, t.Size)
	if err == io.EOF {
		err = fmt.Errorf("reader ended after %d of %d bytes", n, t.Size)
	}
	return w.finish(t, err)
}

// Close reports an error if not every tensor was written. It does not
// close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.next != len(w.l.Tensors) {
		return fmt.Errorf("gguf: only %d of %d tensors were written (next is %q)", w.next, len(w.l.Tensors), w.l.Tensors[w.next].Name)
	}
	return nil
}

// encoder appends little-endian GGUF v3 encodings to a buffer.
type encoder struct{ b []byte }

func (e *encoder) raw(p []byte) { e.b = append(e.b, p...) }
func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.b = append(e.b, s...) }

// value encodes v's payload (without its type id); v was checked.
func (e *encoder) value(v Value) {
	switch x := v.x.(type) {
	case uint8:
		e.b = append(e.b, x)
	case int8:
		e.b = append(e.b, byte(x))
	case uint16:
		e.b = binary.LittleEndian.AppendUint16(e.b, x)
	case int16:
		e.b = binary.LittleEndian.AppendUint16(e.b, uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		if x {
			e.b = append(e.b, 1)
		} else {
			e.b = append(e.b, 0)
		}
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	default: // array
		e.u32(uint32(v.elem))
		n := v.Len()
		e.u64(uint64(n))
		if s, ok := x.([]uint8); ok {
			e.raw(s)
			return
		}
		for i := range n {
			e.value(v.Index(i))
		}
	}
}

// String formats the layout for debugging.
func (l *Layout) String() string {
	return "gguf.Layout{header " + strconv.FormatInt(l.HeaderSize, 10) + ", data at " + strconv.FormatInt(l.DataOffset, 10) +
		", " + strconv.Itoa(len(l.Tensors)) + " tensors, " + strconv.FormatInt(l.FileSize, 10) + " bytes}"
}
