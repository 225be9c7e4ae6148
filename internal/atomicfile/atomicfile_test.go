package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.gguf")
	f, err := Create(out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Reserve(10); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("hello"), 5); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("final name exists before Commit: %v", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // no-op after Commit
	b, err := os.ReadFile(out)
	if err != nil || string(b) != "\x00\x00\x00\x00\x00hello" {
		t.Fatalf("content %q, %v", b, err)
	}
	if n := entries(t, dir); len(n) != 1 {
		t.Fatalf("directory holds %v", n)
	}

	// Aborting leaves the old file untouched and no temporary behind.
	g, err := Create(out, Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	g.Write([]byte("partial"))
	if err := g.Abort(); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(out)
	if string(b) != "\x00\x00\x00\x00\x00hello" {
		t.Fatalf("abort changed the output: %q", b)
	}
	if n := entries(t, dir); len(n) != 1 {
		t.Fatalf("directory holds %v after abort", n)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.gguf")
	os.WriteFile(in, []byte("x"), 0o644)
	if _, err := Create(in, Options{}); !errors.Is(err, ErrExists) {
		t.Errorf("existing output: %v", err)
	}
	if _, err := Create(in, Options{Force: true, Inputs: []string{in}}); !errors.Is(err, ErrSameAsInput) {
		t.Errorf("output = input: %v", err)
	}
	link := filepath.Join(dir, "link.gguf")
	if err := os.Link(in, link); err != nil {
		t.Skip(err)
	}
	if _, err := Create(link, Options{Force: true, Inputs: []string{in}}); !errors.Is(err, ErrSameAsInput) {
		t.Errorf("output = input via hard link: %v", err)
	}
	if _, err := Create(dir, Options{Force: true}); err == nil {
		t.Error("directory as output accepted")
	}
	if _, err := Create(filepath.Join(dir, "nope", "x"), Options{}); err == nil {
		t.Error("output in missing directory accepted")
	}
}
