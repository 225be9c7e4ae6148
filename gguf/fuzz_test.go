package gguf

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qconv/qconv/internal/sharedfiles"
)

const fuzzSeedMax = 64 << 10

// FuzzParse checks that Parse never panics, that every error is a
// FormatError matching ErrInvalid, and that whatever Parse accepts the
// writer accepts and reproduces: write then re-read gives the same
// metadata and tensor data.
func FuzzParse(f *testing.F) {
	// Small generated seeds, so the corpus runs without ../shared.
	f.Add(minimal())
	f.Add(richFileBytes(f))
	g := newGB(1, 1, 1)
	g.kv("a", ValueArray).typ(ValueString).cnt(1).str("x")
	g.tensor("t", TypeF16, 0, 2).pad(32).zeros(4)
	f.Add(g.b)
	f.Add(newGB(2, 0, 1).kv("general.alignment", ValueUint32).u32(8).b)
	f.Add([]byte("GGUF\x00\x00\x00\x03"))

	// Real files: small ones whole, larger ones cut to their first 64 KiB
	// (which exercises truncation in the metadata). sharedfiles.Root is
	// used rather than Path so that a missing ../shared leaves the
	// generated seeds running instead of skipping the target.
	if root, ok := sharedfiles.Root(); ok {
		dir := filepath.Join(root, "fixtures")
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".gguf") || strings.HasSuffix(p, ".bin")) {
				return nil
			}
			b, err := os.ReadFile(p)
			if err == nil {
				f.Add(b[:min(len(b), fuzzSeedMax)])
			}
			return nil
		})
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, "fuzz.gguf")
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not a FormatError matching ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz.gguf: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		var tensors [][]byte
		for i := range file.Tensors() {
			tensors = append(tensors, file.TensorData(i))
		}
		for _, kv := range file.KVs() {
			_ = kv.Value.JSON()
			_ = kv.Value.String()
		}
		l, err := NewLayout(file.KVs(), file.Tensors())
		if err != nil {
			t.Fatalf("Parse accepted what NewLayout rejects: %v", err)
		}
		if l.FileSize > int64(len(data))+1<<20 {
			// A huge general.alignment (legal, any power of two) makes
			// the padding huge; not worth writing here.
			return
		}
		var buf bytes.Buffer
		w, err := l.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		for i, ti := range l.Tensors {
			if err := w.WriteTensor(ti.Name, tensors[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := Parse(buf.Bytes(), "again.gguf")
		if err != nil {
			t.Fatalf("re-reading written file: %v", err)
		}
		sameContent(t, file, again)
	})
}
