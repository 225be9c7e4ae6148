package safetensors

import (
	"fmt"
	"maps"
	"slices"

	"github.com/qconv/qconv/internal/mmapfile"
)

// File is one validated safetensors file. Its tensor data is a zero-copy
// view of the file (memory-mapped by Open), valid until Close. Its read
// methods are safe for concurrent use; Close must not run concurrently
// with them.
type File struct {
	path string
	mf   *mmapfile.File // nil for Parse
	data []byte         // the whole file; nil after Close
	h    *header
}

// Open maps the safetensors file at path and validates it completely (see
// the package documentation). Errors about the file's content match
// ErrInvalid; an error opening or mapping the file is returned as it is.
func Open(path string) (*File, error) {
	mf, err := mmapfile.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(mf.Data(), path)
	if err != nil {
		mf.Close()
		return nil, err
	}
	f.mf = mf
	return f, nil
}

// Parse validates data, the complete bytes of a safetensors file, and
// returns a File whose tensor data are views of data (not copied). name is
// used in error messages and as Path. Parse never panics and allocates in
// proportion to the header, not to numbers read from it.
func Parse(data []byte, name string) (*File, error) {
	h, err := parseHeader(data, name)
	if err != nil {
		return nil, err
	}
	return &File{path: name, data: data, h: h}, nil
}

// Path returns the path given to Open (or the name given to Parse).
func (f *File) Path() string { return f.path }

// HeaderSize returns the length N of the JSON header in bytes (padding
// included). The data area starts at file offset DataOffset() = 8+N.
func (f *File) HeaderSize() int64 { return f.h.size }

// DataOffset returns the file offset of the data area, 8+HeaderSize().
// It need not be aligned.
func (f *File) DataOffset() int64 { return 8 + f.h.size }

// Metadata returns a copy of the __metadata__ map, or nil when the header
// has none (or it is null).
func (f *File) Metadata() map[string]string { return maps.Clone(f.h.meta) }

// Tensors returns the tensors in header order.
func (f *File) Tensors() []Tensor { return slices.Clone(f.h.tensors) }

// Tensor returns the tensor called name.
func (f *File) Tensor(name string) (Tensor, bool) {
	i, ok := f.h.byName[name]
	if !ok {
		return Tensor{}, false
	}
	return f.h.tensors[i], true
}

// Data returns the bytes of the tensor called name: a read-only view into
// the file, valid until Close, with no alignment guarantee (decode it with
// ToFloat32 or encoding/binary rather than casting). Its capacity ends with
// the tensor, so appending to it copies.
func (f *File) Data(name string) ([]byte, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", f.path, name)
	}
	if f.data == nil {
		return nil, fmt.Errorf("%s: file is closed", f.path)
	}
	begin := f.DataOffset() + t.Offset
	end := begin + t.Size
	return f.data[begin:end:end], nil
}

// Release drops the memory pages inside b, a slice returned by Data, from
// the process's resident set (see mmapfile.File.Release): the bytes stay
// readable. It does nothing for a File from Parse or a slice from
// elsewhere.
func (f *File) Release(b []byte) { f.mf.Release(b) }

// Close releases the mapping. Slices returned by Data must not be used
// afterwards. Close is idempotent.
func (f *File) Close() error {
	f.data = nil
	if f.mf == nil {
		return nil
	}
	mf := f.mf
	f.mf = nil
	return mf.Close()
}
