package gguf

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/qconv/qconv/internal/sharedfiles"
)

// TestTypesGolden checks the type table against ggml's own type traits
// (golden/types.tsv, read from ggml_get_type_traits at runtime).
func TestTypesGolden(t *testing.T) {
	path := sharedfiles.Path(t, "golden", "types.tsv")
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	seen := map[Type]bool{}
	header := true
	for sc.Scan() {
		if header {
			header = false
			continue
		}
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 5 {
			t.Fatalf("short line %q", sc.Text())
		}
		id, err1 := strconv.Atoi(f[0])
		blck, err2 := strconv.Atoi(f[2])
		size, err3 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		typ := Type(id)
		seen[typ] = true
		ti, ok := typ.Info()
		if !ok {
			t.Errorf("type %d (%s) is missing from the table", id, f[1])
			continue
		}
		if ti.Name != f[1] || ti.BlockSize != blck || ti.BlockBytes != size || ti.Quantized != (f[4] == "1") {
			t.Errorf("type %d: table has %+v, ggml has name %s block %d bytes %d quantized %s", id, ti, f[1], blck, size, f[4])
		}
		if typ.String() != f[1] || typ.BlockSize() != blck || typ.BlockBytes() != size {
			t.Errorf("type %d: accessors disagree with ggml", id)
		}
		if got, ok := ParseType(strings.ToUpper(f[1])); !ok || got != typ {
			t.Errorf("ParseType(%q) = %v, %v", strings.ToUpper(f[1]), got, ok)
		}
		if _, removed := RemovedTypeName(typ); removed {
			t.Errorf("type %d is current in ggml but listed as removed", id)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 {
		t.Fatal("no types read")
	}
	for _, typ := range Types() {
		if !seen[typ] {
			t.Errorf("type %s (%d) is not in ggml's table", typ, uint32(typ))
		}
	}
	// Ids ggml no longer knows are either removed (with a name) or unknown.
	for id := Type(0); id < TypeCount+5; id++ {
		if seen[id] {
			continue
		}
		if id.Valid() {
			t.Errorf("id %d is valid here but not in ggml", id)
		}
		if _, removed := RemovedTypeName(id); removed != (id < TypeCount) {
			t.Errorf("id %d: removed=%v", id, removed)
		}
	}
}

func TestTypeBasics(t *testing.T) {
	if n, ok := RemovedTypeName(4); !ok || n != "q4_2" {
		t.Errorf("RemovedTypeName(4) = %q, %v", n, ok)
	}
	if s := Type(36).String(); s != "removed:iq4_nl_4_4" {
		t.Errorf("Type(36).String() = %q", s)
	}
	if s := Type(1000).String(); s != "type(1000)" {
		t.Errorf("Type(1000).String() = %q", s)
	}
	if n, err := TypeQ4_K.RowBytes(512); err != nil || n != 288 {
		t.Errorf("q4_K.RowBytes(512) = %d, %v", n, err)
	}
	if _, err := TypeQ8_0.RowBytes(172); err == nil {
		t.Error("q8_0.RowBytes(172) succeeded")
	}
	if _, ok := ParseType("q4_2"); ok {
		t.Error("ParseType accepts a removed type")
	}
}
