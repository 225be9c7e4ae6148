package mmapfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	want := bytes.Repeat([]byte("qconv"), 1000)
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Data(), want) || f.Size() != int64(len(want)) {
		t.Fatalf("data mismatch")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "e")
	os.WriteFile(empty, nil, 0o644)
	e, err := Open(empty)
	if err != nil || len(e.Data()) != 0 {
		t.Fatalf("empty: %v %d", err, len(e.Data()))
	}
	if _, err := Open(dir); err == nil {
		t.Fatal("directory opened")
	}
	if _, err := Open(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file opened")
	}
}

// residentBytes is the process's resident set size from /proc/self/statm,
// or -1 where there is none.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	var size, rss int64
	if _, err := fmt.Sscan(string(b), &size, &rss); err != nil {
		return -1
	}
	return rss * int64(os.Getpagesize())
}

// TestRelease touches every page of a 64 MiB mapped file, releases it and
// checks that the bytes read back unchanged, that the resident set shrank
// by about the file's size (on Linux), and that Release leaves alone a
// slice that is not part of the mapping: heap bytes, a partial page.
func TestRelease(t *testing.T) {
	const size = 64 << 20
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i*7 + i>>12)
	}
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !f.Mapped() {
		t.Skip("not memory-mapped on this platform")
	}
	sum := 0
	for i := 0; i < size; i += os.Getpagesize() {
		sum += int(f.Data()[i])
	}
	before := residentBytes()
	f.Release(f.Data()[1:]) // the first, partial page stays
	after := residentBytes()
	if before >= 0 && before-after < size*3/4 {
		t.Errorf("resident set %d -> %d bytes after releasing %d mapped bytes", before, after, size)
	}
	if !bytes.Equal(f.Data(), want) {
		t.Fatal("the data changed after Release")
	}

	// Bytes outside the mapping are never touched: a heap copy, or a
	// slice of a different mapping.
	heap := bytes.Clone(want[:1<<20])
	f.Release(heap)
	if !bytes.Equal(heap, want[:1<<20]) {
		t.Fatal("Release changed heap bytes")
	}
	other, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	f.Release(other.Data())
	var nilFile *File
	nilFile.Release(want) // no file: nothing happens
	if !bytes.Equal(other.Data(), want) || sum == 0 {
		t.Fatal("data changed")
	}
}
