package gguf

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func mustArrayOf(t testing.TB, elem ValueType, vs ...Value) Value {
	t.Helper()
	v, err := ArrayOf(elem, vs...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// richKVs has every value type, empty arrays of every element type,
// special floats and nested arrays.
func richKVs(t testing.TB) []KV {
	nan32 := math.Float32frombits(0x7fc01234)
	nan64 := math.Float64frombits(0x7ff8000000abcdef)
	kvs := []KV{
		{"general.architecture", String("llama")},
		{"u8", Uint8(255)},
		{"i8", Int8(-128)},
		{"u16", Uint16(65535)},
		{"i16", Int16(-32768)},
		{"u32", Uint32(math.MaxUint32)},
		{"i32", Int32(math.MinInt32)},
		{"f32", Float32(1e-5)},
		{"f32.nan", Float32(nan32)},
		{"f32.negzero", Float32(float32(math.Copysign(0, -1)))},
		{"bool.t", Bool(true)},
		{"bool.f", Bool(false)},
		{"str", String("héllo\x00wörld")},
		{"str.empty", String("")},
		{"u64", Uint64(math.MaxUint64)},
		{"i64", Int64(math.MinInt64)},
		{"f64", Float64(math.Inf(-1))},
		{"f64.nan", Float64(nan64)},
		{"arr.u8", Array([]uint8{0, 1, 255})},
		{"arr.i8", Array([]int8{-1, 2})},
		{"arr.u16", Array([]uint16{1, 65535})},
		{"arr.i16", Array([]int16{-2, 3})},
		{"arr.u32", Array([]uint32{1, 2, 3})},
		{"arr.i32", Array([]int32{-4, 5})},
		{"arr.f32", Array([]float32{0.5, nan32, float32(math.Inf(1))})},
		{"arr.bool", Array([]bool{true, false, true})},
		{"arr.str", Array([]string{"a", "", "ccc"})},
		{"arr.u64", Array([]uint64{math.MaxUint64})},
		{"arr.i64", Array([]int64{math.MinInt64, 0})},
		{"arr.f64", Array([]float64{math.Pi, nan64})},
	}
	for vt := ValueType(0); vt < valueTypeCount; vt++ {
		kvs = append(kvs, KV{"empty." + vt.String(), mustArrayOf(t, vt)})
	}
	inner := []Value{
		Array([]uint8{1, 2}),
		Array([]string{"x"}),
		Array([]float64{}),
		mustArrayOf(t, ValueArray, Array([]int32{7}), mustArrayOf(t, ValueArray)),
	}
	kvs = append(kvs, KV{"nested", mustArrayOf(t, ValueArray, inner...)})
	deep := Array([]bool{true})
	for range MaxArrayDepth - 1 {
		deep = mustArrayOf(t, ValueArray, deep)
	}
	kvs = append(kvs, KV{"nested.deepest", deep})
	return kvs
}

func richTensors() []TensorInfo {
	return []TensorInfo{
		{Name: "f32", Type: TypeF32, Dims: []int64{8, 3}},
		{Name: "f16.odd", Type: TypeF16, Dims: []int64{5}},
		{Name: "q4_K", Type: TypeQ4_K, Dims: []int64{256, 2}},
		{Name: "q8_0", Type: TypeQ8_0, Dims: []int64{64}},
		{Name: "scalar", Type: TypeI8, Dims: nil},
		{Name: "empty", Type: TypeF32, Dims: []int64{0, 4}},
		{Name: "bf16.4d", Type: TypeBF16, Dims: []int64{3, 1, 1, 2}},
		{Name: strings.Repeat("n", MaxTensorNameLen), Type: TypeI32, Dims: []int64{1}},
	}
}

// tensorBytes returns deterministic data for each tensor of l.
func tensorBytes(l *Layout) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, len(l.Tensors))
	for i, t := range l.Tensors {
		out[i] = make([]byte, t.Size)
		for j := range out[i] {
			out[i][j] = byte(r.Uint32())
		}
	}
	return out
}

func writeSequential(t testing.TB, l *Layout, data [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := l.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i, ti := range l.Tensors {
		if i%2 == 0 {
			err = w.WriteTensor(ti.Name, data[i])
		} else {
			err = w.CopyTensor(ti.Name, bytes.NewReader(data[i]))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != l.FileSize {
		t.Fatalf("wrote %d bytes, layout says %d", buf.Len(), l.FileSize)
	}
	return buf.Bytes()
}

func richFileBytes(t testing.TB) []byte {
	l, err := NewLayout(richKVs(t), richTensors())
	if err != nil {
		t.Fatal(err)
	}
	return writeSequential(t, l, tensorBytes(l))
}

// sameContent checks that two files hold the same metadata (order, types,
// values) and the same tensors (names, types, dims, data).
func sameContent(t *testing.T, a, b *File) {
	t.Helper()
	ka, kb := a.KVs(), b.KVs()
	if len(ka) != len(kb) {
		t.Fatalf("%d KVs vs %d", len(ka), len(kb))
	}
	for i := range ka {
		if ka[i].Key != kb[i].Key || !ka[i].Value.Equal(kb[i].Value) {
			t.Errorf("KV %d: %s=%v vs %s=%v", i, ka[i].Key, ka[i].Value, kb[i].Key, kb[i].Value)
		}
	}
	ta, tb := a.Tensors(), b.Tensors()
	if len(ta) != len(tb) {
		t.Fatalf("%d tensors vs %d", len(ta), len(tb))
	}
	for i := range ta {
		if ta[i].Name != tb[i].Name || ta[i].Type != tb[i].Type || !slices.Equal(ta[i].Dims, tb[i].Dims) {
			t.Errorf("tensor %d: %+v vs %+v", i, ta[i], tb[i])
		}
		if !bytes.Equal(a.TensorData(i), b.TensorData(i)) {
			t.Errorf("tensor %s: data differs", ta[i].Name)
		}
	}
}

func TestRoundTripSynthetic(t *testing.T) {
	kvs := richKVs(t)
	l, err := NewLayout(kvs, richTensors())
	if err != nil {
		t.Fatal(err)
	}
	data := tensorBytes(l)
	out := writeSequential(t, l, data)
	f, err := Parse(out, "rich.gguf")
	if err != nil {
		t.Fatal(err)
	}
	if f.Version() != 3 || f.DataOffset() != l.DataOffset || f.Size() != l.FileSize {
		t.Errorf("v%d data at %d size %d; layout %v", f.Version(), f.DataOffset(), f.Size(), l)
	}
	if len(f.KVs()) != len(kvs) {
		t.Fatalf("%d KVs, wrote %d", len(f.KVs()), len(kvs))
	}
	for i, kv := range f.KVs() {
		if kv.Key != kvs[i].Key || !kv.Value.Equal(kvs[i].Value) {
			t.Errorf("KV %d: read %s=%v, wrote %s=%v", i, kv.Key, kv.Value, kvs[i].Key, kvs[i].Value)
		}
	}
	if v, _ := f.KV("empty.f64"); v.Type() != ValueArray || v.ElemType() != ValueFloat64 || v.Len() != 0 {
		t.Errorf("empty.f64 = %v", v)
	}
	for i, ti := range f.Tensors() {
		lt := l.Tensors[i]
		if ti.Name != lt.Name || ti.Type != lt.Type || !slices.Equal(ti.Dims, lt.Dims) ||
			ti.Offset != lt.Offset || ti.FileOffset != lt.FileOffset || ti.Size != lt.Size {
			t.Errorf("tensor %d: read %+v, layout %+v", i, ti, lt)
		}
		if !bytes.Equal(f.TensorData(i), data[i]) {
			t.Errorf("tensor %s: data differs", ti.Name)
		}
		if ti.FileOffset%l.Alignment != 0 {
			t.Errorf("tensor %s at %d", ti.Name, ti.FileOffset)
		}
	}
	// Every padding byte is zero: header padding and after each tensor.
	for i := l.HeaderSize; i < l.DataOffset; i++ {
		if out[i] != 0 {
			t.Fatalf("header padding byte %d is %d", i, out[i])
		}
	}
	for i, ti := range l.Tensors {
		end := l.FileSize
		if i+1 < len(l.Tensors) {
			end = l.Tensors[i+1].FileOffset
		}
		if !bytes.Equal(out[ti.FileOffset+ti.Size:end], make([]byte, end-ti.FileOffset-ti.Size)) {
			t.Errorf("padding after %s is not zero", ti.Name)
		}
	}
	// Writing what was read gives the same bytes.
	l2, err := NewLayout(f.KVs(), f.Tensors())
	if err != nil {
		t.Fatal(err)
	}
	var again [][]byte
	for i := range f.Tensors() {
		again = append(again, f.TensorData(i))
	}
	if out2 := writeSequential(t, l2, again); !bytes.Equal(out, out2) {
		t.Error("rewrite of a written file differs")
	}
	// Determinism: a second layout of the same input is byte-identical.
	l3, _ := NewLayout(richKVs(t), richTensors())
	if !bytes.Equal(l3.Header(), l.Header()) {
		t.Error("layout is not deterministic")
	}
}

// TestConcurrentWriteAt: the header plus WriteTensorAt from many
// goroutines, in shuffled order, into a file pre-filled with garbage,
// gives exactly the sequential bytes.
func TestConcurrentWriteAt(t *testing.T) {
	l, err := NewLayout(richKVs(t), richTensors())
	if err != nil {
		t.Fatal(err)
	}
	data := tensorBytes(l)
	want := writeSequential(t, l, data)

	path := filepath.Join(t.TempDir(), "out.gguf")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.Write(bytes.Repeat([]byte{0xEE}, int(l.FileSize))); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteHeader(io.NewOffsetWriter(fh, 0)); err != nil {
		t.Fatal(err)
	}
	order := rand.New(rand.NewPCG(3, 4)).Perm(len(l.Tensors))
	var wg sync.WaitGroup
	errs := make([]error, len(order))
	for k, i := range order {
		wg.Go(func() { errs[k] = l.WriteTensorAt(fh, i, data[i]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("concurrent WriteAt output differs from sequential output")
	}
	if err := l.WriteTensorAt(fh, 0, data[0][1:]); err == nil || !strings.Contains(err.Error(), `tensor "f32"`) {
		t.Errorf("short data: %v", err)
	}
	if err := l.WriteTensorAt(fh, len(l.Tensors), nil); err == nil {
		t.Error("out-of-range index accepted")
	}
}

// TestRoundTripFixtures reads every valid fixture, writes it, and reads
// it back. Files written by llama.cpp's sequential v3 writer come back
// byte for byte (vocab-only ones gain the header padding they lack).
func TestRoundTripFixtures(t *testing.T) {
	cases := []struct {
		path      []string
		identical bool // v3 with sequential layout: same bytes expected
	}{
		{[]string{"gguf-llama-tiny-random", "llama-2-tiny-random.gguf"}, true},
		{[]string{"gguf-endian", "test-le-v3.gguf"}, true},
		{[]string{"gguf-stories260k", "tinyllamas-stories-260k-f32.gguf"}, false},
		{[]string{"gguf-vocab", "ggml-vocab-llama-spm.gguf"}, true},
		{[]string{"gguf-vocab", "ggml-vocab-bert-bge.gguf"}, true},
		{[]string{"gguf-vocab", "ggml-vocab-falcon.v2.gguf"}, false},
		{[]string{"gguf-vocab", "ggml-vocab-llama.v1.gguf"}, false},
	}
	for _, c := range cases {
		t.Run(c.path[1], func(t *testing.T) {
			f := openFixture(t, c.path...)
			l, err := NewLayout(f.KVs(), f.Tensors())
			if err != nil {
				t.Fatal(err)
			}
			var data [][]byte
			for i := range f.Tensors() {
				data = append(data, f.TensorData(i))
			}
			out := writeSequential(t, l, data)
			g, err := Parse(out, "rewritten.gguf")
			if err != nil {
				t.Fatal(err)
			}
			sameContent(t, f, g)
			if !c.identical {
				return
			}
			orig := f.data
			n := min(len(orig), len(out))
			if !bytes.Equal(orig[:n], out[:n]) {
				i := 0
				for i < n && orig[i] == out[i] {
					i++
				}
				t.Fatalf("output differs from the original at byte %d", i)
			}
			if len(out) < len(orig) || !bytes.Equal(out[n:], make([]byte, len(out)-n)) {
				t.Errorf("output %d bytes, original %d", len(out), len(orig))
			}
		})
	}
}

func TestLayoutAndWriterErrors(t *testing.T) {
	f32 := []TensorInfo{{Name: "w", Type: TypeF32, Dims: []int64{4}}}
	layoutCases := []struct {
		name    string
		kvs     []KV
		tensors []TensorInfo
		want    string
	}{
		{"empty key", []KV{{"", Uint8(1)}}, nil, "empty metadata key"},
		{"duplicate key", []KV{{"a", Uint8(1)}, {"a", Uint8(2)}}, nil, `duplicate key "a"`},
		{"zero value", []KV{{"a", Value{}}}, nil, `key "a": malformed value`},
		{"alignment type", []KV{{KeyAlignment, Uint64(32)}}, nil, "must be u32, not u64"},
		{"alignment 24", []KV{{KeyAlignment, Uint32(24)}}, nil, "alignment 24 is not a non-zero power of two"},
		{"too deep", []KV{{"d", func() Value {
			v := Array([]uint8{})
			for range MaxArrayDepth {
				v, _ = ArrayOf(ValueArray, v)
			}
			return v
		}()}}, nil, "nested more than 8 deep"},
		{"empty name", nil, []TensorInfo{{Type: TypeF32, Dims: []int64{1}}}, "tensor 0 has an empty name"},
		{"long name", nil, []TensorInfo{{Name: strings.Repeat("x", 64), Type: TypeF32}}, "exceeds ggml's limit of 63"},
		{"duplicate tensor", nil, append(f32, f32...), `duplicate tensor name "w"`},
		{"removed type", nil, []TensorInfo{{Name: "w", Type: 5, Dims: []int64{32}}}, `tensor "w": type q4_3 (id 5) was removed from ggml`},
		{"block multiple", nil, []TensorInfo{{Name: "w", Type: TypeQ8_0, Dims: []int64{172, 64}}}, "ne0=172 is not a multiple of q8_0's block size 32"},
		{"5 dims", nil, []TensorInfo{{Name: "w", Type: TypeF32, Dims: []int64{1, 1, 1, 1, 1}}}, "5 dims, at most 4"},
		{"negative", nil, []TensorInfo{{Name: "w", Type: TypeF32, Dims: []int64{-1}}}, "dimension 0 is negative"},
		{"total overflow", nil, []TensorInfo{
			{Name: "a", Type: TypeI8, Dims: []int64{math.MaxInt64 / 2}},
			{Name: "b", Type: TypeI8, Dims: []int64{math.MaxInt64 / 2}},
			{Name: "c", Type: TypeI8, Dims: []int64{math.MaxInt64 / 2}},
		}, "overflows int64"},
	}
	for _, c := range layoutCases {
		if _, err := NewLayout(c.kvs, c.tensors); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}

	two := []TensorInfo{{Name: "a", Type: TypeF32, Dims: []int64{4}}, {Name: "b", Type: TypeF16, Dims: []int64{4}}}
	l, err := NewLayout(nil, two)
	if err != nil {
		t.Fatal(err)
	}
	if l.Tensors[1].Offset != 32 || l.FileSize != l.DataOffset+64 {
		t.Errorf("layout %v, tensors %+v", l, l.Tensors)
	}
	w, _ := l.NewWriter(io.Discard)
	if err := w.WriteTensor("b", make([]byte, 8)); err == nil || !strings.Contains(err.Error(), `"b" written out of order: next is "a"`) {
		t.Errorf("out of order: %v", err)
	}
	if err := w.WriteTensor("a", make([]byte, 15)); err == nil || !strings.Contains(err.Error(), `tensor "a": 15 bytes of data, its f32 shape [4] needs 16`) {
		t.Errorf("wrong size: %v", err)
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "only 0 of 2 tensors") {
		t.Errorf("early close: %v", err)
	}
	if err := w.WriteTensor("a", make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if err := w.CopyTensor("b", bytes.NewReader(make([]byte, 7))); err == nil || !strings.Contains(err.Error(), "reader ended after 7 of 8 bytes") {
		t.Errorf("short reader: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Error("close after a failed write succeeded")
	}
	if _, err := ArrayOf(ValueUint8, Uint8(1), Int8(1)); err == nil {
		t.Error("ArrayOf accepted mixed types")
	}
	if _, err := ArrayOf(13); err == nil {
		t.Error("ArrayOf accepted element type 13")
	}
	if _, err := NewLayout([]KV{{"x", Value{typ: ValueArray, elem: ValueUint8, x: []int8{1}}}}, nil); err == nil {
		t.Error("inconsistent array accepted")
	}
}

func TestRoundTripAlignment(t *testing.T) {
	kvs := []KV{{"general.alignment", Uint32(64)}}
	l, err := NewLayout(kvs, []TensorInfo{{Name: "a", Type: TypeF32, Dims: []int64{3}}, {Name: "b", Type: TypeF32, Dims: []int64{3}}})
	if err != nil {
		t.Fatal(err)
	}
	if l.Alignment != 64 || l.DataOffset%64 != 0 || l.Tensors[1].Offset != 64 || l.FileSize != l.DataOffset+128 {
		t.Errorf("layout %v %+v", l, l.Tensors)
	}
	out := writeSequential(t, l, [][]byte{make([]byte, 12), make([]byte, 12)})
	f, err := Parse(out, "a64.gguf")
	if err != nil || f.Alignment() != 64 {
		t.Fatalf("%v alignment %d", err, f.Alignment())
	}
}
