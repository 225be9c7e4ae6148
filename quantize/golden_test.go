package quantize

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/sharedfiles"
)

// goldenFile is one .qgld file of ../shared/golden (layout in its README).
type goldenFile struct {
	Path    string
	Type    gguf.Type
	Variant string // ref, chunk or imat
	Rows    int
	Cols    int
	Input   []float32
	Imatrix []float32 // nil unless the file has one
	Quant   []byte
	Dequant []float32
}

func loadGolden(t testing.TB, path string) *goldenFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || string(b[:4]) != "QGLD" {
		t.Fatalf("%s: not a QGLD file", path)
	}
	le := binary.LittleEndian
	if v := le.Uint32(b[4:]); v != 1 {
		t.Fatalf("%s: version %d", path, v)
	}
	g := &goldenFile{Path: path, Type: gguf.Type(le.Uint32(b[8:]))}
	g.Rows, g.Cols = int(le.Uint32(b[12:])), int(le.Uint32(b[16:]))
	hasIm := le.Uint32(b[20:]) == 1
	off := 24
	floats := func(n int) []float32 {
		if off+4*n > len(b) {
			t.Fatalf("%s: truncated", path)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(b[off+4*i:]))
		}
		off += 4 * n
		return out
	}
	g.Input = floats(g.Rows * g.Cols)
	if hasIm {
		g.Imatrix = floats(g.Cols)
	}
	if off+8 > len(b) {
		t.Fatalf("%s: truncated", path)
	}
	n := int(le.Uint64(b[off:]))
	off += 8
	if off+n > len(b) {
		t.Fatalf("%s: truncated", path)
	}
	g.Quant = b[off : off+n]
	off += n
	g.Dequant = floats(g.Rows * g.Cols)
	if off != len(b) {
		t.Fatalf("%s: %d trailing bytes", path, len(b)-off)
	}
	// data/<type>.<variant>.<rows>x<cols>.qgld
	parts := strings.Split(filepath.Base(path), ".")
	if len(parts) >= 3 {
		g.Variant = parts[1]
	}
	return g
}

// goldenFiles lists the golden data files for type name (any case, e.g.
// "q4_K"), sorted.
func goldenFiles(t testing.TB, name string) []string {
	t.Helper()
	dir := sharedfiles.Path(t, "golden", "data")
	m, err := filepath.Glob(filepath.Join(dir, strings.ToLower(name)+".*.qgld"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}
