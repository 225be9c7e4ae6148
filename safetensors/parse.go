package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxHeaderSize is the largest JSON header accepted, in bytes, as in the
// reference implementation.
const MaxHeaderSize = 100_000_000

const metadataKey = "__metadata__"

// Tensor describes one tensor of a safetensors file. Offset and Size locate
// its bytes inside the file's data area (which starts at 8+HeaderSize).
// The Shape slice of a Tensor returned by this package must not be modified.
type Tensor struct {
	Name   string
	DType  DType
	Shape  []int64 // row-major; empty for a scalar
	Offset int64   // begin of the tensor's bytes within the data area
	Size   int64   // byte size: DType bits x elements / 8
}

// Elements returns the number of elements: the product of Shape, 1 for a
// scalar (shape []) and 0 when a dimension is 0. It returns -1 if a
// dimension is negative or the product overflows int64, which cannot happen
// for a Tensor read by this package.
func (t Tensor) Elements() int64 {
	n, ok := elements(t.Shape)
	if !ok {
		return -1
	}
	return n
}

func elements(shape []int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// header is a parsed and validated safetensors header.
type header struct {
	size    int64 // JSON length N; the data area starts at 8+N
	meta    map[string]string
	tensors []Tensor // header order
	byName  map[string]int
}

// parseHeader parses and validates the whole file image data. path is used
// in error messages only. It never retains data.
func parseHeader(data []byte, path string) (*header, error) {
	fail := func(format string, args ...any) error {
		return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) < 8 {
		return nil, fail("file is %d bytes, too short for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return nil, fail("header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fail("header length %d exceeds the %d bytes after the length field (file is %d bytes)",
			n, len(data)-8, len(data))
	}
	js := data[8 : 8+n]
	if !utf8.Valid(js) {
		return nil, fail("header is not valid UTF-8")
	}
	if len(js) == 0 || js[0] != '{' {
		return nil, fail("header does not start with '{'")
	}

	p := &parser{dec: json.NewDecoder(bytes.NewReader(js)), path: path}
	p.dec.UseNumber()
	h := &header{size: int64(n), byName: map[string]int{}}
	if _, err := p.delim('{', "", "header"); err != nil {
		return nil, err
	}
	sawMeta := false
	for p.dec.More() {
		key, err := p.key("")
		if err != nil {
			return nil, err
		}
		if key == metadataKey {
			if sawMeta {
				return nil, fail("%s appears twice", metadataKey)
			}
			sawMeta = true
			if h.meta, err = p.metadata(); err != nil {
				return nil, err
			}
			continue
		}
		if key == "" {
			return nil, fail("tensor name is empty")
		}
		if _, dup := h.byName[key]; dup {
			return nil, &Error{Path: path, Tensor: key, Msg: "duplicate tensor name"}
		}
		t, err := p.tensor(key)
		if err != nil {
			return nil, err
		}
		h.byName[key] = len(h.tensors)
		h.tensors = append(h.tensors, t)
	}
	if _, err := p.delim('}', "", "header"); err != nil {
		return nil, err
	}
	if rest := js[p.dec.InputOffset():]; len(bytes.TrimRight(rest, " ")) != 0 {
		return nil, fail("header has %s after its JSON object; only trailing spaces are allowed",
			strconv.Quote(truncate(string(bytes.TrimRight(rest, " ")), 32)))
	}

	dataLen := int64(len(data)) - 8 - int64(n)
	if err := checkLayout(h.tensors, dataLen, path); err != nil {
		return nil, err
	}
	return h, nil
}

// checkLayout verifies that the tensors' byte ranges tile [0, dataLen)
// exactly: each range is in bounds and as long as its dtype and shape say,
// and in offset order they start at 0, follow each other without gap or
// overlap, and end at the end of the data area (the end of the file).
func checkLayout(ts []Tensor, dataLen int64, path string) error {
	for _, t := range ts {
		if t.Offset+t.Size > dataLen {
			return &Error{Path: path, Tensor: t.Name, Msg: fmt.Sprintf(
				"data_offsets [%d,%d] extend past the end of the data area (%d bytes)",
				t.Offset, t.Offset+t.Size, dataLen)}
		}
	}
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ta, tb := &ts[a], &ts[b]
		return cmp.Or(cmp.Compare(ta.Offset, tb.Offset), cmp.Compare(ta.Size, tb.Size))
	})
	var end int64
	prev := -1
	for _, i := range order {
		t := &ts[i]
		switch {
		case t.Offset < end:
			pt := &ts[prev]
			return &Error{Path: path, Tensor: t.Name, Msg: fmt.Sprintf(
				"data_offsets [%d,%d] overlap tensor %q [%d,%d]",
				t.Offset, t.Offset+t.Size, pt.Name, pt.Offset, pt.Offset+pt.Size)}
		case t.Offset > end:
			after := "the start of the data area"
			if prev >= 0 {
				after = strconv.Quote(ts[prev].Name)
			}
			return &Error{Path: path, Tensor: t.Name, Msg: fmt.Sprintf(
				"data_offsets [%d,%d] leave a gap of %d bytes after %s (offset %d)",
				t.Offset, t.Offset+t.Size, t.Offset-end, after, end)}
		}
		end = t.Offset + t.Size
		prev = i
	}
	if end != dataLen {
		return &Error{Path: path, Msg: fmt.Sprintf(
			"%d trailing bytes: tensors cover %d of the %d bytes of the data area",
			dataLen-end, end, dataLen)}
	}
	return nil
}

// parser walks the header's JSON token stream, so that duplicate keys can
// be detected and the header order is kept.
type parser struct {
	dec  *json.Decoder
	path string
}

func (p *parser) errf(tensor, format string, args ...any) error {
	return &Error{Path: p.path, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) token(tensor string) (json.Token, error) {
	tok, err := p.dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, &Error{Path: p.path, Tensor: tensor, Msg: "header is not valid JSON", Err: err}
	}
	return tok, nil
}

// delim reads the delimiter d; what names the value for the error message.
func (p *parser) delim(d json.Delim, tensor, what string) (json.Token, error) {
	tok, err := p.token(tensor)
	if err != nil {
		return nil, err
	}
	if tok != d {
		want := "a JSON object"
		switch d {
		case '[':
			want = "a JSON array"
		case ']', '}':
			want = "closed with " + string(d)
		}
		return nil, p.errf(tensor, "%s must be %s, got %s", what, want, describe(tok))
	}
	return tok, nil
}

func (p *parser) key(tensor string) (string, error) {
	tok, err := p.token(tensor)
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok { // the decoder guarantees object keys are strings
		return "", p.errf(tensor, "expected an object key, got %s", describe(tok))
	}
	return s, nil
}

func (p *parser) metadata() (map[string]string, error) {
	tok, err := p.token("")
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil // null: no metadata
	}
	if tok != json.Delim('{') {
		return nil, p.errf("", "%s must be an object of strings, got %s", metadataKey, describe(tok))
	}
	m := map[string]string{}
	for p.dec.More() {
		k, err := p.key("")
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, p.errf("", "%s key %q appears twice", metadataKey, k)
		}
		tok, err := p.token("")
		if err != nil {
			return nil, err
		}
		v, ok := tok.(string)
		if !ok {
			return nil, p.errf("", "%s value of %q must be a string, got %s", metadataKey, k, describe(tok))
		}
		m[k] = v
	}
	if _, err := p.delim('}', "", metadataKey); err != nil {
		return nil, err
	}
	return m, nil
}

func (p *parser) tensor(name string) (Tensor, error) {
	t := Tensor{Name: name}
	if _, err := p.delim('{', name, "entry"); err != nil {
		return t, err
	}
	var haveDType, haveShape, haveOffsets bool
	var offsets []int64
	for p.dec.More() {
		k, err := p.key(name)
		if err != nil {
			return t, err
		}
		var dup bool
		switch k {
		case "dtype":
			dup, haveDType = haveDType, true
			if dup {
				break
			}
			tok, err := p.token(name)
			if err != nil {
				return t, err
			}
			s, ok := tok.(string)
			if !ok {
				return t, p.errf(name, "dtype must be a string, got %s", describe(tok))
			}
			if t.DType, ok = ParseDType(s); !ok {
				return t, p.errf(name, "unknown dtype %q", truncate(s, 32))
			}
		case "shape":
			dup, haveShape = haveShape, true
			if dup {
				break
			}
			if t.Shape, err = p.uints(name, "shape"); err != nil {
				return t, err
			}
		case "data_offsets":
			dup, haveOffsets = haveOffsets, true
			if dup {
				break
			}
			if offsets, err = p.uints(name, "data_offsets"); err != nil {
				return t, err
			}
			if len(offsets) != 2 {
				return t, p.errf(name, "data_offsets must have 2 values [begin,end], got %d", len(offsets))
			}
		default:
			return t, p.errf(name, "unknown field %q", truncate(k, 32))
		}
		if dup {
			return t, p.errf(name, "field %q appears twice", k)
		}
	}
	if _, err := p.delim('}', name, "entry"); err != nil {
		return t, err
	}
	switch {
	case !haveDType:
		return t, p.errf(name, "missing field \"dtype\"")
	case !haveShape:
		return t, p.errf(name, "missing field \"shape\"")
	case !haveOffsets:
		return t, p.errf(name, "missing field \"data_offsets\"")
	}
	if t.Shape == nil {
		t.Shape = []int64{}
	}
	n, ok := elements(t.Shape)
	if !ok {
		return t, p.errf(name, "shape %s has too many elements (overflows int64)", shapeString(t.Shape))
	}
	size, err := t.DType.ByteSize(n)
	if err != nil {
		return t, p.errf(name, "shape %s: %v", shapeString(t.Shape), err)
	}
	begin, end := offsets[0], offsets[1]
	if begin > end {
		return t, p.errf(name, "data_offsets [%d,%d]: begin is after end", begin, end)
	}
	if end-begin != size {
		return t, p.errf(name, "data_offsets [%d,%d] span %d bytes, but %v x shape %s needs %d",
			begin, end, end-begin, t.DType, shapeString(t.Shape), size)
	}
	t.Offset, t.Size = begin, size
	return t, nil
}

// uints reads an array of non-negative integers that fit in int64.
func (p *parser) uints(name, field string) ([]int64, error) {
	if _, err := p.delim('[', name, field); err != nil {
		return nil, err
	}
	out := []int64{}
	for p.dec.More() {
		tok, err := p.token(name)
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, p.errf(name, "%s must hold non-negative integers, got %s", field, describe(tok))
		}
		s := string(num)
		if strings.HasPrefix(s, "-") {
			return nil, p.errf(name, "%s value %s is negative", field, truncate(s, 32))
		}
		v, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return nil, p.errf(name, "%s value %s is too large", field, truncate(s, 32))
			}
			return nil, p.errf(name, "%s value %s is not an integer", field, truncate(s, 32))
		}
		out = append(out, int64(v))
	}
	if _, err := p.delim(']', name, field); err != nil {
		return nil, err
	}
	return out, nil
}

func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return "'" + v.String() + "'"
	case string:
		return "string " + strconv.Quote(truncate(v, 32))
	case json.Number:
		return "number " + truncate(string(v), 32)
	case bool:
		return "boolean " + strconv.FormatBool(v)
	}
	return fmt.Sprintf("%v", tok)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func shapeString(shape []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range shape {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	b.WriteByte(']')
	return b.String()
}
