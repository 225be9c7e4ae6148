package gguf

import (
	"bytes"
	"errors"
	"testing"
)

func TestTiledTypeIDs(t *testing.T) {
	tt, ok := TiledType(TypeQ4_0, 16)
	if !ok || uint32(tt) != 0x51431002 {
		t.Fatalf("TiledType(q4_0, 16) = %#x, %v; want 0x51431002 (docs/layouts.md)", uint32(tt), ok)
	}
	if tt < TypeCount || int32(tt) < 0 {
		t.Fatalf("tiled id %#x must lie outside ggml's range and stay positive as int32", uint32(tt))
	}
	if got := tt.String(); got != "q4_0_bm16" {
		t.Errorf("String = %q", got)
	}
	if tt.Valid() {
		t.Error("a tiled id must not be a valid ggml type")
	}
	if b, r, ok := tt.Tiled(); !ok || b != TypeQ4_0 || r != 16 {
		t.Errorf("Tiled() = %v %d %v", b, r, ok)
	}
	if tt.Base() != TypeQ4_0 || TypeQ4_K.Base() != TypeQ4_K {
		t.Error("Base")
	}
	for _, bad := range []struct {
		base Type
		rows int
	}{{TypeF32, 8}, {TypeF16, 8}, {TypeBF16, 16}, {TypeQ4_0, 3}, {TypeQ4_0, 32}, {Type(31), 8}, {Type(4), 8}} {
		if _, ok := TiledType(bad.base, bad.rows); ok {
			t.Errorf("TiledType(%v, %d) accepted", bad.base, bad.rows)
		}
	}
	// Ids with the tag but an invalid base or row count are not tiled.
	for _, id := range []Type{tiledTag | 16<<8 /* base 0: f32 */, tiledTag | 3<<8 | 2, tiledTag | 8<<8 | 31, tiledTag ^ 1<<16 | 8<<8 | 2} {
		if _, _, ok := id.Tiled(); ok {
			t.Errorf("%#x reported as tiled", uint32(id))
		}
	}
	for _, name := range []string{"q4_0_bm16", "Q4_K_BM8", "q8_0_bm4"} {
		ty, ok := ParseStorageType(name)
		if !ok {
			t.Errorf("ParseStorageType(%q) failed", name)
			continue
		}
		if _, _, tiled := ty.Tiled(); !tiled {
			t.Errorf("%q parsed to %v", name, ty)
		}
	}
	for _, name := range []string{"q4_0_bm", "q4_0_bm3", "f32_bm8", "q4_0_bm08", "q4_0_bm16x", "nope_bm8"} {
		if ty, ok := ParseStorageType(name); ok {
			t.Errorf("ParseStorageType(%q) = %v", name, ty)
		}
	}
	if ty, ok := ParseStorageType("q6_K"); !ok || ty != TypeQ6_K {
		t.Error("ParseStorageType must accept plain names")
	}
}

func tiledFile(t *testing.T, kvs []KV, typ Type) ([]byte, error) {
	t.Helper()
	l, err := NewLayout(kvs, []TensorInfo{{Name: "w", Type: typ, Dims: []int64{256, 16}}})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := l.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, l.Tensors[0].Size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := w.WriteTensor("w", data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), nil
}

func TestTiledRoundTrip(t *testing.T) {
	tt, _ := TiledType(TypeQ4_K, 8)
	layoutKVs := []KV{{KeyLayout, String(LayoutBlockMajor)}, {KeyLayoutVersion, Uint32(LayoutVersion)}}
	b, err := tiledFile(t, layoutKVs, tt)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(b, "tiled.gguf")
	if err != nil {
		t.Fatal(err)
	}
	ti := f.Tensors()[0]
	if ti.Type != tt || ti.Size != 16*144 {
		t.Fatalf("tensor %v size %d; want %v and %d (the base type's size)", ti.Type, ti.Size, tt, 16*144)
	}

	// The writer refuses tiled ids without the layout keys ...
	if _, err := tiledFile(t, nil, tt); err == nil {
		t.Error("writer accepted a tiled type without qconv.layout")
	}
	for _, kvs := range [][]KV{
		{{KeyLayout, String("block-major-v9")}, {KeyLayoutVersion, Uint32(1)}},
		{{KeyLayout, String(LayoutBlockMajor)}, {KeyLayoutVersion, Uint32(2)}},
		{{KeyLayout, String(LayoutBlockMajor)}},
		{{KeyLayout, Uint32(1)}, {KeyLayoutVersion, Uint32(1)}},
	} {
		if _, err := tiledFile(t, kvs, tt); err == nil {
			t.Errorf("writer accepted layout keys %v", kvs)
		}
	}

	// ... and the reader refuses a file whose layout key was removed, naming
	// the type and the missing key.
	i := bytes.Index(b, []byte(KeyLayout))
	bad := bytes.Clone(b)
	copy(bad[i:], "qconv.layouX")
	_, err = Parse(bad, "stripped.gguf")
	if err == nil || !errors.Is(err, ErrInvalid) {
		t.Fatalf("stripped layout key: err = %v; want ErrInvalid", err)
	}
	wantErr(t, err, "stripped.gguf", `tensor "w"`, "q4_K_bm8", "block-major", KeyLayout)

	// An unknown layout value is refused too, even without tiled tensors.
	bad = bytes.Clone(b)
	j := bytes.Index(bad, []byte(LayoutBlockMajor))
	copy(bad[j:], "block-minor")
	_, err = Parse(bad, "minor.gguf")
	wantErr(t, err, "minor.gguf", "unknown qconv.layout", "block-minor")
}
