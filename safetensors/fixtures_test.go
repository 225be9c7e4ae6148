package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/qconv/qconv/internal/sharedfiles"
)

func fixture(t testing.TB, elem ...string) string {
	t.Helper()
	return sharedfiles.Path(t, append([]string{"fixtures"}, elem...)...)
}

func openFixture(t *testing.T, elem ...string) *File {
	t.Helper()
	f, err := Open(fixture(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func tensorData(t *testing.T, f interface{ Data(string) ([]byte, error) }, name string) []byte {
	t.Helper()
	b, err := f.Data(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func floats(t *testing.T, b []byte, dt DType) []float32 {
	t.Helper()
	n := len(b) / dt.Size()
	out := make([]float32, n)
	if err := ToFloat32(out, b, dt); err != nil {
		t.Fatal(err)
	}
	return out
}

// allDTypesPrefix maps the name prefixes of the SafeTensors.jl dtype matrix
// to their dtypes (fixtures README, section 3).
var allDTypesPrefix = map[string]DType{
	"int64": I64, "float64": F64, "float32": F32, "int32": I32, "bfloat16": BF16, "float16": F16,
	"int16": I16, "float8_e4m3fn": F8E4M3, "float8_e5m2": F8E5M2, "int8": I8, "uint8": U8, "bool": Bool,
}

// checkAllDTypes checks the 36 tensors of the dtype matrix: 12 dtypes at
// shapes [3], [3,5], [3,5,7], named <dtype>_<dims>.
func checkAllDTypes(t *testing.T, tensors []Tensor) {
	t.Helper()
	if len(tensors) != 36 {
		t.Fatalf("%d tensors, want 36", len(tensors))
	}
	seen := map[string]bool{}
	for _, tt := range tensors {
		i := strings.LastIndexByte(tt.Name, '_')
		dt, ok := allDTypesPrefix[tt.Name[:i]]
		if !ok {
			t.Errorf("unexpected tensor %q", tt.Name)
			continue
		}
		var shape []int64
		for _, c := range tt.Name[i+1:] {
			shape = append(shape, int64(c-'0'))
		}
		if tt.DType != dt || !slices.Equal(tt.Shape, shape) {
			t.Errorf("%s: %v %v, want %v %v", tt.Name, tt.DType, tt.Shape, dt, shape)
		}
		if want, _ := dt.ByteSize(tt.Elements()); tt.Size != want {
			t.Errorf("%s: size %d, want %d", tt.Name, tt.Size, want)
		}
		seen[tt.Name[:i]] = true
	}
	if len(seen) != 12 {
		t.Errorf("%d dtypes, want 12", len(seen))
	}
}

func TestFixtureAllDTypes(t *testing.T) {
	f := openFixture(t, "safetensors-dtypes", "all_dtypes.safetensors")
	checkAllDTypes(t, f.Tensors())
	if f.Metadata() != nil {
		t.Errorf("metadata %v, want none", f.Metadata())
	}
	if f.HeaderSize() != 2528 || f.HeaderSize()%8 != 0 {
		t.Errorf("header size %d, want 2528 (padded to 8)", f.HeaderSize())
	}
	// Header order is the writer's order, not alphabetical.
	if names := f.Tensors(); names[0].Name != "int64_3" || names[35].Name != "bool_357" {
		t.Errorf("header order starts %q, ends %q", names[0].Name, names[35].Name)
	}

	// Known values, read with Python's struct from the fixture.
	check := func(name string, dt DType, want []float32) {
		t.Helper()
		got := floats(t, tensorData(t, f, name), dt)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Errorf("%s[%d] = %v (%#08x), want %v", name, i, got[i], math.Float32bits(got[i]), want[i])
			}
		}
	}
	check("int64_3", I64, []float32{64, 64, 30})
	check("int32_3", I32, []float32{42, 13, 59})
	check("int16_3", I16, []float32{36, 9, 6})
	check("int8_3", I8, []float32{35, 38, 26})
	check("uint8_3", U8, []float32{19, 54, 38})
	check("bool_3", Bool, []float32{0, 0, 0})
	check("float16_3", F16, []float32{0.123779296875, 1.6435546875, 0.454833984375})
	check("float32_3", F32, []float32{0.01330372504889965, 0.581986665725708, 0.4747563302516937})
	check("float64_3", F64, []float32{
		float32(0.09568845342543757), float32(-0.09626170885828042), float32(-0.7743970759206625)})
	check("bfloat16_3", BF16, []float32{
		math.Float32frombits(48979 << 16), math.Float32frombits(48831 << 16), math.Float32frombits(16216 << 16)})
	// Raw bytes 174, 169, 184: E4M3 -14x2^-5, -9x2^-5, -1.
	check("float8_e4m3fn_3", F8E4M3, []float32{-0.4375, -0.28125, -1})
	// Raw bytes 186, 178, 186: E5M2 -1.5x2^-1, -1.5x2^-3, -1.5x2^-1.
	check("float8_e5m2_3", F8E5M2, []float32{-0.75, -0.1875, -0.75})
}

func TestFixtureAllDTypesWithMetadata(t *testing.T) {
	plain := openFixture(t, "safetensors-dtypes", "all_dtypes.safetensors")
	f := openFixture(t, "safetensors-dtypes", "all_dtypes.with_metadata.safetensors")
	checkAllDTypes(t, f.Tensors())
	if m := f.Metadata(); len(m) != 2 || m["test"] != "metadata" || m["version"] != "2.2" {
		t.Errorf("metadata %q", m)
	}
	for _, tt := range plain.Tensors() {
		if !bytes.Equal(tensorData(t, plain, tt.Name), tensorData(t, f, tt.Name)) {
			t.Errorf("%s: bytes differ between the two copies", tt.Name)
		}
	}
}

func TestFixtureHFSamples(t *testing.T) {
	f := openFixture(t, "safetensors-dtypes", "hf_samples_overall.safetensors")
	if f.HeaderSize() != 526 || f.DataOffset() != 534 {
		t.Errorf("header %d, data offset %d; want 526, 534 (unaligned)", f.HeaderSize(), f.DataOffset())
	}
	if m := f.Metadata(); len(m) != 1 || m["test"] != "a" {
		t.Errorf("metadata %q", m)
	}
	want := map[string]DType{"B": U8, "H": U16, "I": U32, "b": I8, "h": I16, "i": I32, "e": F16, "f": F32, "d": F64}
	if len(f.Tensors()) != len(want) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors()), len(want))
	}
	for _, tt := range f.Tensors() {
		if want[tt.Name] != tt.DType || !slices.Equal(tt.Shape, []int64{6}) {
			t.Errorf("%s: %v %v, want %v [6]", tt.Name, tt.DType, tt.Shape, want[tt.Name])
		}
		// Every tensor holds -3, -2, -1, 0, 1, 2 (wrapped for the unsigned ones).
		b := tensorData(t, f, tt.Name)
		size := tt.DType.Size()
		for i := range 6 {
			var got int64
			e := b[i*size:]
			switch tt.DType {
			case U8:
				got = int64(int8(e[0]))
			case I8:
				got = int64(int8(e[0]))
			case U16, I16:
				got = int64(int16(binary.LittleEndian.Uint16(e)))
			case U32, I32:
				got = int64(int32(binary.LittleEndian.Uint32(e)))
			default:
				got = int64(floats(t, e[:size], tt.DType)[0])
			}
			if got != int64(i-3) {
				t.Errorf("%s[%d] = %d, want %d", tt.Name, i, got, i-3)
			}
		}
	}
	if v := floats(t, tensorData(t, f, "I"), U32); v[0] != 4294967293 || v[5] != 2 {
		t.Errorf("U32 as float32: %v", v)
	}
}

func TestFixtureScalar(t *testing.T) {
	f := openFixture(t, "safetensors-scalar", "multi_layer.safetensors")
	if len(f.Tensors()) != 9 {
		t.Fatalf("%d tensors, want 9", len(f.Tensors()))
	}
	s, ok := f.Tensor("norm1.num_batches_tracked")
	if !ok || s.DType != I64 || len(s.Shape) != 0 || s.Shape == nil || s.Elements() != 1 || s.Size != 8 {
		t.Fatalf("scalar: %+v (ok %v)", s, ok)
	}
	if v := int64(binary.LittleEndian.Uint64(tensorData(t, f, s.Name))); v != 1 {
		t.Errorf("num_batches_tracked = %d, want 1", v)
	}
	for name, shape := range map[string][]int64{"conv1.weight": {4, 3, 3, 3}, "fc1.weight": {16, 256}, "norm1.running_var": {4}} {
		if tt, _ := f.Tensor(name); tt.DType != F32 || !slices.Equal(tt.Shape, shape) {
			t.Errorf("%s: %v %v, want F32 %v", name, tt.DType, tt.Shape, shape)
		}
	}
}

func TestFixtureHadamards(t *testing.T) {
	f := openFixture(t, "safetensors-metadata-i8", "hadamards.safetensors")
	ts := f.Tensors()
	if len(ts) != 66 {
		t.Fatalf("%d tensors, want 66", len(ts))
	}
	meta := f.Metadata()
	if len(meta) != 66 || meta["224"] != "had.224.pal" || meta["1"] != "had.1" {
		t.Errorf("metadata has %d entries, 224 -> %q", len(meta), meta["224"])
	}
	for _, tt := range ts {
		n, err := strconv.ParseInt(tt.Name, 10, 64)
		if err != nil || tt.DType != I8 || !slices.Equal(tt.Shape, []int64{n, n}) {
			t.Errorf("%s: %v %v", tt.Name, tt.DType, tt.Shape)
			continue
		}
		for _, v := range tensorData(t, f, tt.Name) {
			if int8(v) != 1 && int8(v) != -1 {
				t.Errorf("%s holds %d, want only +-1", tt.Name, int8(v))
				break
			}
		}
	}
	// Header order is the file's (string order "1", "100", "104", ...).
	if ts[0].Name != "1" || ts[1].Name != "100" {
		t.Errorf("header order starts %q, %q", ts[0].Name, ts[1].Name)
	}
}

func TestFixtureGPT2(t *testing.T) {
	c, err := OpenCheckpoint(fixture(t, "hf-gpt2-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Index() != nil || filepath.Base(c.Path()) != SingleFileName {
		t.Errorf("opened %s (index %v), want the single model.safetensors", c.Path(), c.Index())
	}
	ts := c.Tensors()
	if len(ts) != 16 {
		t.Fatalf("%d tensors, want 16", len(ts))
	}
	for _, tt := range ts {
		if tt.DType != F32 {
			t.Errorf("%s: %v, want F32", tt.Name, tt.DType)
		}
	}
	if m := c.Metadata(); len(m) != 1 || m["format"] != "pt" {
		t.Errorf("metadata %q", m)
	}
	for name, shape := range map[string][]int64{
		"transformer.wte.weight": {50257, 2}, "transformer.wpe.weight": {1024, 2},
		"transformer.h.0.attn.c_attn.weight": {2, 6},
	} {
		if tt, ok := c.Tensor(name); !ok || !slices.Equal(tt.Shape, shape) {
			t.Errorf("%s: %v (present %v), want %v", name, tt.Shape, ok, shape)
		}
	}
	if _, ok := c.Tensor("lm_head.weight"); ok {
		t.Error("lm_head.weight present; embeddings are tied")
	}
}

func TestFixtureMiniCPM3(t *testing.T) {
	f := openFixture(t, "hf-minicpm3-synthetic", "model.safetensors")
	ts := f.Tensors()
	if len(ts) != 15 || f.Metadata() != nil {
		t.Fatalf("%d tensors, metadata %v; want 15, none", len(ts), f.Metadata())
	}
	var mla int
	for _, tt := range ts {
		if tt.DType != F32 || !(slices.Equal(tt.Shape, []int64{100, 100}) || slices.Equal(tt.Shape, []int64{100})) {
			t.Errorf("%s: %v %v", tt.Name, tt.DType, tt.Shape)
		}
		if strings.Contains(tt.Name, "q_a_proj") || strings.Contains(tt.Name, "kv_a_proj_with_mqa") {
			mla++
		}
	}
	if mla < 2 {
		t.Errorf("found %d MLA-style tensors, want q_a_proj and kv_a_proj_with_mqa", mla)
	}
}

// TestFixtureStories checks the F32 stories260K checkpoint and its BF16
// sharded copy: same names and shapes, and every BF16 value is the F32
// value rounded to nearest even.
func TestFixtureStories(t *testing.T) {
	f32 := openFixture(t, "hf-stories260k", "model.safetensors")
	ts := f32.Tensors()
	if len(ts) != 48 {
		t.Fatalf("%d tensors, want 48", len(ts))
	}
	if tt, _ := f32.Tensor("model.embed_tokens.weight"); !slices.Equal(tt.Shape, []int64{512, 64}) {
		t.Errorf("embed_tokens shape %v", tt.Shape)
	}
	if _, ok := f32.Tensor("lm_head.weight"); !ok {
		t.Error("no lm_head.weight (the checkpoint is untied)")
	}
	dir := fixture(t, "hf-stories260k-bf16-sharded")
	for _, path := range []string{dir, filepath.Join(dir, IndexFileName)} {
		c, err := OpenCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Files()) != 3 || len(c.Tensors()) != 48 || c.Metadata()["format"] != "pt" {
			t.Errorf("%s: %d files, %d tensors, metadata %v", path, len(c.Files()), len(c.Tensors()), c.Metadata())
		}
		if filepath.Base(c.Path()) != IndexFileName {
			t.Errorf("Path() = %s", c.Path())
		}
		var total int64
		for _, bt := range c.Tensors() {
			total += bt.Size
			ft, ok := f32.Tensor(bt.Name)
			if !ok || bt.DType != BF16 || !slices.Equal(bt.Shape, ft.Shape) {
				t.Errorf("%s: %v %v vs F32 %v", bt.Name, bt.DType, bt.Shape, ft.Shape)
				continue
			}
			want := floats(t, tensorData(t, f32, bt.Name), F32)
			got := tensorData(t, c, bt.Name)
			for i, v := range want {
				if w, g := bf16RNE(v), binary.LittleEndian.Uint16(got[2*i:]); w != g {
					t.Errorf("%s[%d]: bf16 %#04x, want %#04x (from %v)", bt.Name, i, g, w, v)
					break
				}
			}
		}
		if got := jsonInt(t, c.Index().Metadata["total_size"]); got != total {
			t.Errorf("total_size %d, tensor bytes %d", got, total)
		}
		c.Close()
	}
}

func bf16RNE(f float32) uint16 {
	b := math.Float32bits(f)
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

func jsonInt(t *testing.T, raw json.RawMessage) int64 {
	t.Helper()
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return n
}

func TestFixtureSharded(t *testing.T) {
	plain := openFixture(t, "safetensors-dtypes", "all_dtypes.safetensors")
	dir := fixture(t, "safetensors-sharded")
	for _, path := range []string{dir, filepath.Join(dir, IndexFileName)} {
		c, err := OpenCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		checkAllDTypes(t, c.Tensors())
		files := c.Files()
		if len(files) != 6 {
			t.Fatalf("%d shards, want 6", len(files))
		}
		if n1, n2 := len(files[0].Tensors()), len(files[1].Tensors()); n1 != 19 || n2 != 1 {
			t.Errorf("shard 1 has %d tensors, shard 2 %d; want 19, 1", n1, n2)
		}
		for _, f := range files {
			if m := f.Metadata(); len(m) != 1 || m["format"] != "pt" {
				t.Errorf("%s: metadata %q", f.Path(), m)
			}
		}
		var total int64
		for _, tt := range c.Tensors() {
			total += tt.Size
			if !bytes.Equal(tensorData(t, c, tt.Name), tensorData(t, plain, tt.Name)) {
				t.Errorf("%s: bytes differ from all_dtypes.safetensors", tt.Name)
			}
			if c.File(tt.Name) == nil || filepath.Base(c.File(tt.Name).Path()) != c.Index().WeightMap[tt.Name] {
				t.Errorf("%s: File() disagrees with the index", tt.Name)
			}
		}
		if got := jsonInt(t, c.Index().Metadata["total_size"]); got != 4305 || total != 4305 {
			t.Errorf("total_size %d, tensor bytes %d; want 4305", got, total)
		}
		if _, err := c.Data("missing"); err == nil {
			t.Error("Data(missing) succeeded")
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestFixtureInvalid(t *testing.T) {
	_, err := Open(fixture(t, "invalid", "safetensors_abuse_attempt_1.safetensors"))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "safetensors_abuse_attempt_1.safetensors: header length 1000 exceeds the 80 bytes") {
		t.Errorf("abuse attempt: %v", err)
	}
	// Non-safetensors files must be refused cleanly, never misread.
	root := fixture(t)
	paths, _ := filepath.Glob(filepath.Join(root, "*", "*.gguf"))
	paths = append(paths, filepath.Join(root, "invalid", "TinyLLama-v0.ggmlv3.q4_0.bin"))
	if len(paths) < 10 {
		t.Fatalf("found only %d GGUF/GGML fixtures", len(paths))
	}
	for _, p := range paths {
		if _, err := Open(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", p, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "absent.safetensors"))
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("absent file: %v", err)
	}
	if _, err := Open(t.TempDir()); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("directory: %v", err)
	}
}
