package quantize

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
)

// ---- legacy .dat builder ----

type datEntry struct {
	name  string
	ncall int32
	vals  []float32
}

type datBuf struct{ b []byte }

func (d *datBuf) i32(v int32) *datBuf {
	d.b = binary.LittleEndian.AppendUint32(d.b, uint32(v))
	return d
}
func (d *datBuf) raw(s string) *datBuf { d.b = append(d.b, s...); return d }
func (d *datBuf) f32s(v []float32) *datBuf {
	for _, x := range v {
		d.b = binary.LittleEndian.AppendUint32(d.b, math.Float32bits(x))
	}
	return d
}
func (d *datBuf) entry(e datEntry) *datBuf {
	return d.i32(int32(len(e.name))).raw(e.name).i32(e.ncall).i32(int32(len(e.vals))).f32s(e.vals)
}

// encodeDat builds a legacy file; withTrailer adds chunk count and dataset.
func encodeDat(entries []datEntry, withTrailer bool, chunks int32, dataset string) []byte {
	d := (&datBuf{}).i32(int32(len(entries)))
	for _, e := range entries {
		d.entry(e)
	}
	if withTrailer {
		d.i32(chunks).i32(int32(len(dataset))).raw(dataset)
	}
	return d.b
}

// ---- GGUF imatrix builder (gguf.NewLayout + WriteHeader/WriteTensorAt) ----

type gTensor struct {
	name string
	typ  gguf.Type
	dims []int64
	vals []float32 // F32 data; for other types, zero bytes of the right size
}

func imatrixKVs(datasets []string, chunkCount, chunkSize uint32) []gguf.KV {
	return []gguf.KV{
		{Key: "general.type", Value: gguf.String("imatrix")},
		{Key: KeyImatrixDatasets, Value: gguf.Array(datasets)},
		{Key: KeyImatrixChunkCount, Value: gguf.Uint32(chunkCount)},
		{Key: KeyImatrixChunkSize, Value: gguf.Uint32(chunkSize)},
	}
}

// writeGGUF writes a GGUF file into dir and returns its path.
func writeGGUF(tb testing.TB, dir, file string, kvs []gguf.KV, ts []gTensor) string {
	tb.Helper()
	infos := make([]gguf.TensorInfo, len(ts))
	for i, t := range ts {
		infos[i] = gguf.TensorInfo{Name: t.name, Type: t.typ, Dims: t.dims}
	}
	l, err := gguf.NewLayout(kvs, infos)
	if err != nil {
		tb.Fatalf("NewLayout: %v", err)
	}
	path := filepath.Join(dir, file)
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := l.WriteHeader(f); err != nil {
		tb.Fatal(err)
	}
	for i, t := range ts {
		var data []byte
		if t.typ == gguf.TypeF32 {
			for _, v := range t.vals {
				data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
			}
		} else {
			data = make([]byte, l.Tensors[i].Size)
		}
		if err := l.WriteTensorAt(f, i, data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

func buildGGUF(tb testing.TB, kvs []gguf.KV, ts []gTensor) []byte {
	tb.Helper()
	b, err := os.ReadFile(writeGGUF(tb, tb.TempDir(), "im.gguf", kvs, ts))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// entryTensors gives NAME.in_sum2 [nPerRow, nExperts] and NAME.counts [1, nExperts].
func entryTensors(name string, nPerRow int64, sums, counts []float32) []gTensor {
	ne := int64(len(counts))
	return []gTensor{
		{name + ".in_sum2", gguf.TypeF32, []int64{nPerRow, ne}, sums},
		{name + ".counts", gguf.TypeF32, []int64{1, ne}, counts},
	}
}

func bitsEqual(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func wantVec(t *testing.T, im *Imatrix, name string, want []float32) {
	t.Helper()
	got, ok := im.Entries[name]
	if !ok {
		t.Fatalf("entry %q missing; have %v", name, im.Names)
	}
	if !bitsEqual(got, want) {
		t.Errorf("entry %q = %v, want %v", name, got, want)
	}
}

// ---- legacy: values ----

func TestImatrixDatValues(t *testing.T) {
	data := encodeDat([]datEntry{
		{"blk.0.attn_q.weight", 4, []float32{4, 2, 1, 10}},
		{"blk.0.ffn_up.weight", 3, []float32{1, 2, 3}},
		{"blk.0.ffn_down.weight", 0, []float32{0.5, 7, 1e-30}}, // ncall 0: used as stored
		{"blk.0.ffn_gate_exps.weight", 2, []float32{2, 4, 6, 8, 10, 12}},
	}, true, 100, "wiki.train.raw")
	im, err := ParseImatrixDat(data, "x.dat")
	if err != nil {
		t.Fatal(err)
	}
	if im.Format != ImatrixFormatDat || im.Path != "x.dat" {
		t.Errorf("Format %q Path %q", im.Format, im.Path)
	}
	wantVec(t, im, "blk.0.attn_q.weight", []float32{1, 0.5, 0.25, 2.5})
	// 1/3 and 2/3 in f32 (round to nearest): 0x3eaaaaab, 0x3f2aaaab.
	wantVec(t, im, "blk.0.ffn_up.weight", []float32{math.Float32frombits(0x3eaaaaab), math.Float32frombits(0x3f2aaaab), 1})
	wantVec(t, im, "blk.0.ffn_down.weight", []float32{0.5, 7, 1e-30})
	wantVec(t, im, "blk.0.ffn_gate_exps.weight", []float32{1, 2, 3, 4, 5, 6})
	wantNames := []string{"blk.0.attn_q.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight", "blk.0.ffn_gate_exps.weight"}
	if !slices.Equal(im.Names, wantNames) {
		t.Errorf("Names = %v, want %v", im.Names, wantNames)
	}
	if im.ChunkCount != 100 || !slices.Equal(im.Datasets, []string{"wiki.train.raw"}) || im.ChunkSize != 0 {
		t.Errorf("ChunkCount %d Datasets %q ChunkSize %d", im.ChunkCount, im.Datasets, im.ChunkSize)
	}
	if len(im.Experts) != 0 {
		t.Errorf("legacy Experts = %v, want none", im.Experts)
	}
}

func TestImatrixDatTrailerVariants(t *testing.T) {
	entries := []datEntry{{"a.weight", 1, []float32{1}}}
	base := encodeDat(entries, false, 0, "")
	cases := []struct {
		name     string
		data     []byte
		chunks   int
		datasets []string
	}{
		{"none", base, 0, nil},
		{"chunks only", (&datBuf{b: slices.Clone(base)}).i32(7).b, 7, nil},
		{"empty dataset", encodeDat(entries, true, 9, ""), 9, nil},
		{"dataset", encodeDat(entries, true, 12, "calib.txt"), 12, []string{"calib.txt"}},
	}
	for _, c := range cases {
		im, err := ParseImatrixDat(c.data, "t.dat")
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if im.ChunkCount != c.chunks || !slices.Equal(im.Datasets, c.datasets) {
			t.Errorf("%s: ChunkCount %d Datasets %q, want %d %q", c.name, im.ChunkCount, im.Datasets, c.chunks, c.datasets)
		}
	}
}

// ---- legacy: malformed ----

func TestImatrixDatMalformed(t *testing.T) {
	good := datEntry{"blk.0.attn_k.weight", 2, []float32{1, 2}}
	hdr := func(n int32) *datBuf { return (&datBuf{}).i32(n) }
	valid := encodeDat([]datEntry{good}, false, 0, "")
	cases := []struct {
		name  string
		data  []byte
		entry string // expected entry name in the message ("" = none required)
		msg   string
	}{
		{"empty file", nil, "", "truncated: entry count"},
		{"short count", []byte{1, 0}, "", "truncated: entry count"},
		{"zero entries", hdr(0).b, "", "no entries"},
		{"negative entries", hdr(-3).b, "", "no entries"},
		{"huge entry count", hdr(1 << 30).entry(good).b, "1", "truncated: name length"},
		{"missing name length", hdr(1).b, "0", "truncated: name length"},
		{"negative name length", hdr(1).i32(-1).b, "0", "negative entry name length -1"},
		{"huge name length", hdr(1).i32(math.MaxInt32).raw("abc").b, "0", "entry name length 2147483647 exceeds the 3 bytes left"},
		{"empty name", hdr(1).i32(0).i32(1).i32(1).f32s([]float32{1}).b, "0", "empty entry name"},
		{"NUL in name", hdr(1).i32(3).raw("a\x00b").i32(1).i32(1).f32s([]float32{1}).b, "0", "NUL byte"},
		{"missing ncall", hdr(1).i32(1).raw("w").b, "w", "truncated: ncall"},
		{"negative ncall", hdr(1).i32(1).raw("w").i32(-2).i32(1).f32s([]float32{1}).b, "w", "negative ncall -2"},
		{"missing nval", hdr(1).i32(1).raw("w").i32(1).b, "w", "truncated: value count"},
		{"zero nval", hdr(1).i32(1).raw("w").i32(1).i32(0).b, "w", "value count 0"},
		{"negative nval", hdr(1).i32(1).raw("w").i32(1).i32(-5).b, "w", "value count -5"},
		{"huge nval", hdr(1).i32(1).raw("w").i32(1).i32(math.MaxInt32).f32s([]float32{1}).b, "w", "2147483647 values need 8589934588 bytes, 4 left"},
		{"truncated values", valid[:len(valid)-1], "blk.0.attn_k.weight", "truncated: 2 values need 8 bytes, 7 left"},
		{"second entry missing", hdr(2).entry(good).b, "1", "truncated: name length"},
		{"duplicate name", hdr(2).entry(good).entry(good).b, "blk.0.attn_k.weight", "duplicate entry name"},
		{"NaN value", hdr(1).entry(datEntry{"w", 1, []float32{1, 2, float32(math.NaN())}}).b, "w", "value 2 is not finite"},
		{"Inf value", hdr(1).entry(datEntry{"w", 0, []float32{float32(math.Inf(-1))}}).b, "w", "value 0 is not finite"},
		{"partial trailer", append(slices.Clone(valid), 1, 2), "", "truncated: trailer chunk count"},
		{"negative chunk count", (&datBuf{b: slices.Clone(valid)}).i32(-1).i32(0).b, "", "negative chunk count -1"},
		{"partial dataset length", append((&datBuf{b: slices.Clone(valid)}).i32(1).b, 9), "", "truncated: trailer dataset name length"},
		{"negative dataset length", (&datBuf{b: slices.Clone(valid)}).i32(1).i32(-4).b, "", "negative dataset name length -4"},
		{"dataset past end", (&datBuf{b: slices.Clone(valid)}).i32(1).i32(10).raw("abc").b, "", "dataset name length 10 exceeds the 3 bytes left"},
		{"NUL in dataset", (&datBuf{b: slices.Clone(valid)}).i32(1).i32(2).raw("a\x00").b, "", "NUL byte"},
		{"trailing garbage", append(encodeDat([]datEntry{good}, true, 1, "d"), 0), "", "1 unexpected bytes after the trailer"},
	}
	for _, c := range cases {
		im, err := ParseImatrixDat(c.data, "bad.dat")
		if err == nil {
			t.Errorf("%s: no error (got %d entries)", c.name, len(im.Entries))
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.msg) || !strings.HasPrefix(msg, "imatrix bad.dat: ") {
			t.Errorf("%s: error %q, want file name and %q", c.name, msg, c.msg)
		}
		if c.entry != "" && !strings.Contains(msg, "entry "+c.entry+": ") && !strings.Contains(msg, `"`+c.entry+`": `) {
			t.Errorf("%s: error %q does not name entry %q", c.name, msg, c.entry)
		}
		if !errors.Is(err, ErrInvalidImatrix) {
			t.Errorf("%s: error does not match ErrInvalidImatrix", c.name)
		}
		// The auto-detecting parser takes the same path.
		if _, err2 := ParseImatrix(c.data, "bad.dat"); err2 == nil || err2.Error() != msg {
			t.Errorf("%s: ParseImatrix error %v, want %q", c.name, err2, msg)
		}
	}
}

// A tiny file declaring huge counts must fail without allocating for them.
func TestImatrixDatNoLargeAllocation(t *testing.T) {
	inputs := [][]byte{
		(&datBuf{}).i32(math.MaxInt32).b,
		(&datBuf{}).i32(1).i32(math.MaxInt32).b,
		(&datBuf{}).i32(1).i32(1).raw("w").i32(1).i32(math.MaxInt32).b,
		encodeDat([]datEntry{{"w", 1, []float32{1}}}, false, 0, ""), /* valid */
	}
	for i, in := range inputs {
		allocs := testing.AllocsPerRun(20, func() { ParseImatrixDat(in, "a.dat") })
		if allocs > 20 {
			t.Errorf("input %d: %.0f allocations", i, allocs)
		}
	}
	var before, after runtimeMem
	before.read()
	for range 50 {
		ParseImatrixDat((&datBuf{}).i32(1).i32(1).raw("w").i32(1).i32(math.MaxInt32).b, "a.dat")
		ParseImatrixDat((&datBuf{}).i32(math.MaxInt32).b, "a.dat")
	}
	after.read()
	if d := after.total - before.total; d > 1<<20 {
		t.Errorf("50 parses of tiny hostile files allocated %d bytes", d)
	}
}

// ---- GGUF: values ----

func TestImatrixGGUFValues(t *testing.T) {
	var ts []gTensor
	// Dense weight: one expert, count 4.
	ts = append(ts, entryTensors("blk.0.attn_q.weight", 4, []float32{4, 2, 1, 10}, []float32{4})...)
	// Three experts: counts 2, 0 (never routed: all ones, whatever the sums), 3.
	ts = append(ts, entryTensors("blk.0.ffn_up_exps.weight", 3,
		[]float32{2, 4, 6, float32(math.NaN()), 5, -1, 9, 3, 1}, []float32{2, 0, 3})...)
	// Counts are rounded half away from zero first: 2.5 -> 3, 0.4 -> 0, 0.5 -> 1, 1.49 -> 1.
	ts = append(ts, entryTensors("blk.0.ffn_down_exps.weight", 2,
		[]float32{6, 9, 5, 7, 8, 2, 4, 6}, []float32{2.5, 0.4, 0.5, 1.49})...)
	// An unrelated tensor (llama-imatrix's optional in_sum) is ignored.
	ts = append(ts, gTensor{"blk.0.attn_q.weight.in_sum", gguf.TypeF32, []int64{4, 1}, []float32{1, 1, 1, 1}})
	data := buildGGUF(t, imatrixKVs([]string{"a.txt", "b.txt"}, 64, 512), ts)

	im, err := ParseImatrix(data, "m.gguf")
	if err != nil {
		t.Fatal(err)
	}
	if im.Format != ImatrixFormatGGUF || im.Path != "m.gguf" {
		t.Errorf("Format %q Path %q", im.Format, im.Path)
	}
	wantVec(t, im, "blk.0.attn_q.weight", []float32{1, 0.5, 0.25, 2.5})
	wantVec(t, im, "blk.0.ffn_up_exps.weight", []float32{1, 2, 3, 1, 1, 1, 3, 1, math.Float32frombits(0x3eaaaaab)})
	wantVec(t, im, "blk.0.ffn_down_exps.weight", []float32{2, 3, 1, 1, 8, 2, 4, 6})
	if !slices.Equal(im.Names, []string{"blk.0.attn_q.weight", "blk.0.ffn_up_exps.weight", "blk.0.ffn_down_exps.weight"}) {
		t.Errorf("Names = %v", im.Names)
	}
	if im.Experts["blk.0.attn_q.weight"] != 1 || im.Experts["blk.0.ffn_up_exps.weight"] != 3 || im.Experts["blk.0.ffn_down_exps.weight"] != 4 {
		t.Errorf("Experts = %v", im.Experts)
	}
	if !slices.Equal(im.Datasets, []string{"a.txt", "b.txt"}) || im.ChunkCount != 64 || im.ChunkSize != 512 {
		t.Errorf("Datasets %q ChunkCount %d ChunkSize %d", im.Datasets, im.ChunkCount, im.ChunkSize)
	}
}

// The same statistics stored both ways give the same vectors, read from
// disk through ReadImatrix.
func TestImatrixRoundTripFiles(t *testing.T) {
	dir := t.TempDir()
	sums := []float32{3, 6, 9, 12, 0.75, 1.5}
	var ts []gTensor
	ts = append(ts, entryTensors("output.weight", 6, sums, []float32{3})...)
	ts = append(ts, entryTensors("blk.1.ffn_gate_exps.weight", 3, sums, []float32{3, 3})...)
	gpath := writeGGUF(t, dir, "im.gguf", imatrixKVs([]string{"calib"}, 10, 512), ts)
	dpath := filepath.Join(dir, "im.dat")
	if err := os.WriteFile(dpath, encodeDat([]datEntry{
		{"output.weight", 3, sums},
		{"blk.1.ffn_gate_exps.weight", 3, sums},
	}, true, 10, "calib"), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := ReadImatrix(gpath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ReadImatrix(dpath)
	if err != nil {
		t.Fatal(err)
	}
	if g.Format != ImatrixFormatGGUF || d.Format != ImatrixFormatDat || g.Path != gpath || d.Path != dpath {
		t.Errorf("formats %q %q paths %q %q", g.Format, d.Format, g.Path, d.Path)
	}
	want := []float32{1, 2, 3, 4, 0.25, 0.5}
	for _, im := range []*Imatrix{g, d} {
		wantVec(t, im, "output.weight", want)
		wantVec(t, im, "blk.1.ffn_gate_exps.weight", want)
		if !slices.Equal(im.Names, []string{"output.weight", "blk.1.ffn_gate_exps.weight"}) {
			t.Errorf("%s: Names %v", im.Format, im.Names)
		}
		if im.ChunkCount != 10 || !slices.Equal(im.Datasets, []string{"calib"}) {
			t.Errorf("%s: ChunkCount %d Datasets %q", im.Format, im.ChunkCount, im.Datasets)
		}
		if v, err := im.For("blk.1.ffn_gate_exps.weight", 3, 2); err != nil || !bitsEqual(v, want) {
			t.Errorf("%s: For = %v, %v", im.Format, v, err)
		}
	}
	if _, err := ReadImatrix(filepath.Join(dir, "missing.dat")); err == nil || errors.Is(err, ErrInvalidImatrix) {
		t.Errorf("missing file: %v (should be an I/O error)", err)
	}
}

// ---- GGUF: malformed ----

func TestImatrixGGUFMalformed(t *testing.T) {
	kvs := imatrixKVs([]string{"d"}, 1, 512)
	ok2 := entryTensors("w", 2, []float32{1, 2, 3, 4}, []float32{1, 1}) // 2 experts
	withKV := func(key string, v gguf.Value) []gguf.KV {
		out := slices.Clone(kvs)
		for i := range out {
			if out[i].Key == key {
				out[i].Value = v
				return out
			}
		}
		return append(out, gguf.KV{Key: key, Value: v})
	}
	without := func(key string) []gguf.KV {
		return slices.DeleteFunc(slices.Clone(kvs), func(kv gguf.KV) bool { return kv.Key == key })
	}
	cases := []struct {
		name  string
		kvs   []gguf.KV
		ts    []gTensor
		entry string
		msg   string
	}{
		{"sums without counts", kvs, ok2[:1], "w", "w.in_sum2 without w.counts"},
		{"counts without sums", kvs, ok2[1:], "w", "w.counts without w.in_sum2"},
		{"no tensors", kvs, nil, "", "no imatrix entries"},
		{"only unrelated tensors", kvs, []gTensor{{"x.in_sum", gguf.TypeF32, []int64{2}, []float32{1, 2}}}, "", "no imatrix entries"},
		{"empty entry name", kvs, entryTensors("", 2, []float32{1, 2}, []float32{1}), "", "empty entry name"},
		{"counts too many experts", kvs, []gTensor{ok2[0], {"w.counts", gguf.TypeF32, []int64{1, 3}, []float32{1, 1, 1}}}, "w", "want [1, 2]"},
		{"counts 1-D", kvs, []gTensor{ok2[0], {"w.counts", gguf.TypeF32, []int64{2}, []float32{1, 1}}}, "w", "w.counts has shape [2], want [1, 2]"},
		{"counts ne0 2", kvs, []gTensor{ok2[0], {"w.counts", gguf.TypeF32, []int64{2, 2}, []float32{1, 1, 1, 1}}}, "w", "want [1, 2]"},
		{"sums 3-D", kvs, []gTensor{{"w.in_sum2", gguf.TypeF32, []int64{2, 1, 2}, []float32{1, 2, 3, 4}}, ok2[1]}, "w", "w.in_sum2 has shape [2 1 2]"},
		{"sums empty", kvs, []gTensor{{"w.in_sum2", gguf.TypeF32, []int64{0, 1}, nil}, {"w.counts", gguf.TypeF32, []int64{1, 1}, []float32{1}}}, "w", "no values"},
		{"sums f16", kvs, []gTensor{{"w.in_sum2", gguf.TypeF16, []int64{2, 2}, nil}, ok2[1]}, "w", "must be f32, got f16 and f32"},
		{"negative count", kvs, entryTensors("w", 1, []float32{1, 1}, []float32{1, -1}), "w", "count of expert 1 is negative"},
		{"NaN count", kvs, entryTensors("w", 1, []float32{1}, []float32{float32(math.NaN())}), "w", "count of expert 0 is not finite"},
		{"overflowing count", kvs, entryTensors("w", 1, []float32{1}, []float32{1e19}), "w", "overflows int64"},
		{"Inf sum", kvs, entryTensors("w", 3, []float32{1, 1, 1, 1, float32(math.Inf(1)), 1}, []float32{1, 2}), "w", "value 4 (expert 1, column 1) is not finite"},
		{"missing datasets", without(KeyImatrixDatasets), ok2, "", "missing imatrix metadata key imatrix.datasets"},
		{"missing chunk_count", without(KeyImatrixChunkCount), ok2, "", "missing imatrix metadata key imatrix.chunk_count"},
		{"missing chunk_size", without(KeyImatrixChunkSize), ok2, "", "missing imatrix metadata key imatrix.chunk_size"},
		{"datasets not strings", withKV(KeyImatrixDatasets, gguf.Array([]uint32{1})), ok2, "", "imatrix.datasets must be an array of strings"},
		{"datasets a string", withKV(KeyImatrixDatasets, gguf.String("d")), ok2, "", "imatrix.datasets must be an array of strings, not string"},
		{"chunk_count i32", withKV(KeyImatrixChunkCount, gguf.Int32(1)), ok2, "", "imatrix.chunk_count must be u32, not i32"},
		{"chunk_size u64", withKV(KeyImatrixChunkSize, gguf.Uint64(1)), ok2, "", "imatrix.chunk_size must be u32, not u64"},
		{"a model file", withKV("general.type", gguf.String("model")), ok2, "", `general.type is model, not "imatrix"`},
	}
	for _, c := range cases {
		data := buildGGUF(t, c.kvs, c.ts)
		im, err := ParseImatrix(data, "bad.gguf")
		if err == nil {
			t.Errorf("%s: no error (got %v)", c.name, im.Names)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.msg) || !strings.HasPrefix(msg, "imatrix bad.gguf: ") {
			t.Errorf("%s: error %q, want file name and %q", c.name, msg, c.msg)
		}
		if c.entry != "" && !strings.Contains(msg, `entry "`+c.entry+`"`) {
			t.Errorf("%s: error %q does not name entry %q", c.name, msg, c.entry)
		}
		if !errors.Is(err, ErrInvalidImatrix) {
			t.Errorf("%s: error does not match ErrInvalidImatrix", c.name)
		}
	}

	// A broken container is reported as a GGUF error.
	good := buildGGUF(t, kvs, ok2)
	pf, err := gguf.Parse(good, "good.gguf")
	if err != nil {
		t.Fatal(err)
	}
	last := pf.Tensors()[len(pf.Tensors())-1]
	for _, n := range []int{4, 20, int(last.FileOffset + last.Size - 1)} {
		_, err := ParseImatrix(good[:n], "cut.gguf")
		if err == nil || !errors.Is(err, ErrInvalidImatrix) || !errors.Is(err, gguf.ErrInvalid) || !strings.Contains(err.Error(), "cut.gguf") {
			t.Errorf("GGUF cut to %d bytes: %v", n, err)
		}
	}
	if _, err := ParseImatrix(good, "good.gguf"); err != nil {
		t.Errorf("unmodified file: %v", err)
	}
}

// ---- Filter, For, QuantizeKVs ----

func filterFixture(t *testing.T) *Imatrix {
	t.Helper()
	var ts []gTensor
	for _, n := range []string{"blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.1.attn_q.weight", "blk.1.ffn_down_exps.weight", "output.weight"} {
		ts = append(ts, entryTensors(n, 2, []float32{2, 2, 4, 4}, []float32{2, 4})...)
	}
	im, err := ParseImatrix(buildGGUF(t, imatrixKVs([]string{"d"}, 5, 512), ts), "f.gguf")
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func TestImatrixFilter(t *testing.T) {
	cases := []struct {
		name             string
		include, exclude []string
		want             []string
	}{
		{"none", nil, nil, []string{"blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.1.attn_q.weight", "blk.1.ffn_down_exps.weight", "output.weight"}},
		{"exclude", nil, []string{"attn_q"}, []string{"blk.0.ffn_down.weight", "blk.1.ffn_down_exps.weight", "output.weight"}},
		{"exclude two", nil, []string{"blk.1.", "output"}, []string{"blk.0.attn_q.weight", "blk.0.ffn_down.weight"}},
		{"exclude all", nil, []string{"weight"}, []string{}},
		{"include", []string{"ffn_down"}, nil, []string{"blk.0.ffn_down.weight", "blk.1.ffn_down_exps.weight"}},
		{"include union", []string{"output", "blk.0."}, nil, []string{"blk.0.attn_q.weight", "blk.0.ffn_down.weight", "output.weight"}},
		{"include nothing matching", []string{"nope"}, nil, []string{}},
	}
	for _, c := range cases {
		im := filterFixture(t)
		if err := im.Filter(c.include, c.exclude); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(im.Names, c.want) {
			t.Errorf("%s: Names %v, want %v", c.name, im.Names, c.want)
		}
		if len(im.Entries) != len(c.want) || len(im.Experts) != len(c.want) {
			t.Errorf("%s: %d entries, %d expert counts, want %d", c.name, len(im.Entries), len(im.Experts), len(c.want))
		}
		for _, n := range c.want {
			if _, ok := im.Entries[n]; !ok {
				t.Errorf("%s: entry %q dropped", c.name, n)
			}
		}
	}
	im := filterFixture(t)
	if err := im.Filter([]string{"a"}, []string{"b"}); err == nil || !strings.Contains(err.Error(), "cannot be used together") {
		t.Errorf("include+exclude: %v", err)
	}
	if len(im.Entries) != 5 {
		t.Errorf("failed Filter changed the entries: %v", im.Names)
	}
}

func TestImatrixFor(t *testing.T) {
	im := filterFixture(t)
	v, err := im.For("blk.1.ffn_down_exps.weight", 2, 2)
	if err != nil || !bitsEqual(v, []float32{1, 1, 1, 1}) {
		t.Errorf("For = %v, %v", v, err)
	}
	// Only the total size is checked, as llama-quantize does.
	if _, err := im.For("blk.1.ffn_down_exps.weight", 4, 1); err != nil {
		t.Errorf("4×1: %v", err)
	}
	_, err = im.For("blk.0.attn_q.weight", 3, 1)
	if err == nil || !errors.Is(err, ErrImatrixSize) {
		t.Fatalf("size mismatch: %v", err)
	}
	for _, s := range []string{"f.gguf", `"blk.0.attn_q.weight"`, "has 4 values", "needs 3"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("size mismatch error %q lacks %q", err, s)
		}
	}
	if _, err := im.For("blk.1.ffn_down_exps.weight", 2, 8); !errors.Is(err, ErrImatrixSize) || !strings.Contains(err.Error(), "needs 16 (n_per_row 2 × 8 experts)") {
		t.Errorf("experts mismatch: %v", err)
	}
	if _, err := im.For("blk.0.attn_q.weight", 0, 1); err == nil {
		t.Error("zero row length: no error")
	}
	if v, err := im.For("token_embd.weight", 2, 1); v != nil || err != nil {
		t.Errorf("missing entry: %v, %v", v, err)
	}
	var none *Imatrix
	if v, err := none.For("output.weight", 2, 1); v != nil || err != nil {
		t.Errorf("nil imatrix: %v, %v", v, err)
	}
	if none.QuantizeKVs() != nil {
		t.Error("nil imatrix has KVs")
	}
}

func TestImatrixQuantizeKVs(t *testing.T) {
	type kv struct {
		key string
		typ gguf.ValueType
		val any
	}
	got := func(im *Imatrix) []kv {
		var out []kv
		for _, x := range im.QuantizeKVs() {
			out = append(out, kv{x.Key, x.Value.Type(), x.Value.Interface()})
		}
		return out
	}
	im := filterFixture(t)
	want := []kv{
		{KeyQuantizeImatrixFile, gguf.ValueString, "f.gguf"},
		{KeyQuantizeImatrixDataset, gguf.ValueString, "d"},
		{KeyQuantizeImatrixEntriesCount, gguf.ValueUint32, uint32(5)},
		{KeyQuantizeImatrixChunksCount, gguf.ValueUint32, uint32(5)},
	}
	if g := got(im); !slices.Equal(g, want) {
		t.Errorf("KVs = %v, want %v", g, want)
	}
	im.Filter(nil, []string{"blk.0"})
	want[2].val = uint32(3)
	if g := got(im); !slices.Equal(g, want) {
		t.Errorf("after Filter: KVs = %v, want %v", g, want)
	}

	// No datasets, no chunk count, long strings cut to 127 bytes.
	long := strings.Repeat("p", 130)
	d, err := ParseImatrixDat(encodeDat([]datEntry{{"w", 1, []float32{1}}}, false, 0, ""), long)
	if err != nil {
		t.Fatal(err)
	}
	want = []kv{
		{KeyQuantizeImatrixFile, gguf.ValueString, long[:127]},
		{KeyQuantizeImatrixEntriesCount, gguf.ValueUint32, uint32(1)},
	}
	if g := got(d); !slices.Equal(g, want) {
		t.Errorf("legacy KVs = %v, want %v", g, want)
	}
	d.Datasets = []string{strings.Repeat("é", 100), "second"}
	if kvs := d.QuantizeKVs(); kvs[1].Key != KeyQuantizeImatrixDataset || kvs[1].Value.Interface() != strings.Repeat("é", 100)[:127] {
		t.Errorf("dataset KV = %v", kvs[1])
	}

	im.Filter(nil, []string{"weight"})
	if kvs := im.QuantizeKVs(); kvs != nil {
		t.Errorf("no entries left: KVs %v, want none", kvs)
	}
	// The KVs are writable.
	if _, err := gguf.NewLayout(filterFixture(t).QuantizeKVs(), nil); err != nil {
		t.Errorf("NewLayout: %v", err)
	}
}

type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.total = s.TotalAlloc
}
