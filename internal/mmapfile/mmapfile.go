// Package mmapfile opens a file read-only as one byte slice: memory-mapped
// where the platform supports it, read into memory otherwise. Readers of
// model files use it for zero-copy tensor views.
package mmapfile

import (
	"fmt"
	"os"
	"unsafe"
)

// File is a read-only view of a whole file. Data stays valid until Close.
type File struct {
	path   string
	data   []byte
	mapped bool
}

// Open maps path read-only. An empty file gives an empty Data.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	size := st.Size()
	if size == 0 {
		return &File{path: path, data: []byte{}}, nil
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: file of %d bytes is too large for this platform", path, size)
	}
	if data, err := mmap(f, int(size)); err == nil {
		return &File{path: path, data: data, mapped: true}, nil
	}
	// Fallback: read the file (platforms or file systems without mmap).
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{path: path, data: data}, nil
}

// Path returns the path the file was opened with.
func (f *File) Path() string { return f.path }

// Data returns the file's bytes. Writing to them faults when mapped.
func (f *File) Data() []byte { return f.data }

// Size returns the file size in bytes.
func (f *File) Size() int64 { return int64(len(f.data)) }

// Mapped reports whether Data is memory-mapped.
func (f *File) Mapped() bool { return f.mapped }

// Release tells the kernel that the process no longer needs the whole
// memory pages inside b, a subslice of Data: they leave the process's
// resident set but stay in the page cache, and reading them again faults
// them back in, so the data never changes. A converter calls it for input
// it has finished with, which keeps its resident memory bounded by the work
// in flight rather than by the size of the input. It does nothing when the
// file is not mapped or b does not lie within Data (a tensor decoded into
// the heap), so it can never discard anything but mapped file pages.
func (f *File) Release(b []byte) {
	if f == nil || !f.mapped || len(b) == 0 || len(f.data) == 0 {
		return
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < base || p-base > uintptr(len(f.data)) || uintptr(len(b)) > uintptr(len(f.data))-(p-base) {
		return
	}
	// The mapping starts on a page boundary: round inward to whole pages.
	ps := uintptr(os.Getpagesize())
	start := (p - base + ps - 1) &^ (ps - 1)
	end := (p - base + uintptr(len(b))) &^ (ps - 1)
	if end > start {
		release(f.data[start:end])
	}
}

// Close releases the mapping. Data must not be used afterwards.
func (f *File) Close() error {
	if f == nil || f.data == nil {
		return nil
	}
	var err error
	if f.mapped {
		err = munmap(f.data)
	}
	f.data = nil
	return err
}
