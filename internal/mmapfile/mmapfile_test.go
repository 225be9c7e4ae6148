package mmapfile

import (
	"bytes"
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
