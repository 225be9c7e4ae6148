package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// ErrWrite is matched by errors about what a caller asked Write to write
// (as opposed to errors from the io.Writer).
var ErrWrite = errors.New("safetensors: invalid write request")

// WriteTensor is one tensor for Write. Its bytes come from Data or, when
// WriteData is set, from WriteData, which must write exactly the tensor's
// byte size to w (so large tensors need not be held in memory).
type WriteTensor struct {
	Name      string
	DType     DType
	Shape     []int64
	Data      []byte
	WriteData func(w io.Writer) error
}

// Write writes a safetensors file to w: the metadata (omitted when empty)
// and the tensors, laid out in the order given, with no padding between
// them. The output is deterministic: the header is compact JSON with
// "__metadata__" first (keys sorted), then the tensors in the order given,
// each as {"dtype","shape","data_offsets"}, padded with spaces so that its
// length is a multiple of 8, as the reference writer does. Names and
// metadata must be valid UTF-8; tensor names must be unique, non-empty and
// not "__metadata__". Requests that break these rules, or whose data do not
// match dtype x shape, fail with an error matching ErrWrite; nothing is
// written to w when the request is invalid, except that a WriteData that
// writes the wrong number of bytes is only detected afterwards.
func Write(w io.Writer, meta map[string]string, tensors []WriteTensor) error {
	hdr, sizes, err := buildHeader(meta, tensors)
	if err != nil {
		return err
	}
	var lenField [8]byte
	binary.LittleEndian.PutUint64(lenField[:], uint64(len(hdr)))
	if _, err := w.Write(lenField[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for i, t := range tensors {
		if t.WriteData == nil {
			if _, err := w.Write(t.Data); err != nil {
				return err
			}
			continue
		}
		cw := &countingWriter{w: w}
		if err := t.WriteData(cw); err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if cw.n != sizes[i] {
			return fmt.Errorf("%w: tensor %q: WriteData wrote %d bytes, %v x shape %s needs %d",
				ErrWrite, t.Name, cw.n, t.DType, shapeString(t.Shape), sizes[i])
		}
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// buildHeader validates the request and returns the padded JSON header and
// each tensor's byte size.
func buildHeader(meta map[string]string, tensors []WriteTensor) ([]byte, []int64, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrWrite}, args...)...)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	if len(meta) > 0 {
		b.WriteString(`"` + metadataKey + `":{`)
		for i, k := range slices.Sorted(maps.Keys(meta)) {
			if !utf8.ValidString(k) || !utf8.ValidString(meta[k]) {
				return nil, nil, bad("metadata %q: not valid UTF-8", k)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, meta[k])
		}
		b.WriteByte('}')
	}
	sizes := make([]int64, len(tensors))
	seen := make(map[string]bool, len(tensors))
	var off int64
	for i, t := range tensors {
		switch {
		case t.Name == "" || t.Name == metadataKey:
			return nil, nil, bad("tensor name %q is not allowed", t.Name)
		case !utf8.ValidString(t.Name):
			return nil, nil, bad("tensor name %q is not valid UTF-8", t.Name)
		case seen[t.Name]:
			return nil, nil, bad("tensor %q appears twice", t.Name)
		case !t.DType.Valid():
			return nil, nil, bad("tensor %q: unknown dtype %v", t.Name, t.DType)
		}
		seen[t.Name] = true
		n, ok := elements(t.Shape)
		if !ok {
			return nil, nil, bad("tensor %q: shape %s has a negative dimension or too many elements",
				t.Name, shapeString(t.Shape))
		}
		size, err := t.DType.ByteSize(n)
		if err != nil {
			return nil, nil, bad("tensor %q: %v", t.Name, err)
		}
		if t.WriteData == nil && int64(len(t.Data)) != size {
			return nil, nil, bad("tensor %q: %d bytes of data, %v x shape %s needs %d",
				t.Name, len(t.Data), t.DType, shapeString(t.Shape), size)
		}
		if off > 1<<63-1-size {
			return nil, nil, bad("tensor %q: total data size overflows int64", t.Name)
		}
		sizes[i] = size
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":"` + t.DType.String() + `","shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(d, 10))
		}
		b.WriteString(`],"data_offsets":[` + strconv.FormatInt(off, 10) + "," +
			strconv.FormatInt(off+size, 10) + "]}")
		off += size
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > MaxHeaderSize {
		return nil, nil, bad("header of %d bytes exceeds the limit of %d", b.Len(), MaxHeaderSize)
	}
	return b.Bytes(), sizes, nil
}

// writeJSONString writes s as a JSON string, escaping only what JSON
// requires (no HTML escaping), so names survive byte for byte.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // cannot fail for a string
	b.Truncate(b.Len() - 1) // drop Encode's newline
}
