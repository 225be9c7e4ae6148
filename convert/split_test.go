package convert

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/llamacpp"
)

// writeSplits writes the tensors of the GGUF file in as n files named
// SplitPath(prefix, i, n), the way llama.cpp's gguf-split does: tensors in
// their order, about the same count per file; the first file holds the
// metadata, every file the split.* keys. mod, when set, edits each file's
// KVs before it is written; ranges, when set, gives each file's tensors
// (indexes [lo, hi) into the input's) instead.
func writeSplits(t *testing.T, in, prefix string, n int, mod func(i int, kvs []gguf.KV) []gguf.KV, ranges ...[2]int) []string {
	t.Helper()
	f, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tis := f.Tensors()
	per := (len(tis) + n - 1) / n
	var paths []string
	for i := range n {
		var kvs []gguf.KV
		if i == 0 {
			kvs = append(kvs, f.KVs()...)
		}
		kvs = append(kvs, gguf.KV{Key: keySplitNo, Value: gguf.Uint16(uint16(i))},
			gguf.KV{Key: keySplitCount, Value: gguf.Uint16(uint16(n))},
			gguf.KV{Key: keySplitTensors, Value: gguf.Int32(int32(len(tis)))})
		if mod != nil {
			kvs = mod(i, kvs)
		}
		lo, hi := min(i*per, len(tis)), min((i+1)*per, len(tis))
		if ranges != nil {
			lo, hi = ranges[i][0], ranges[i][1]
		}
		var infos []gguf.TensorInfo
		for _, ti := range tis[lo:hi] {
			infos = append(infos, gguf.TensorInfo{Name: ti.Name, Type: ti.Type, Dims: ti.Dims})
		}
		l, err := gguf.NewLayout(kvs, infos)
		if err != nil {
			t.Fatal(err)
		}
		p := SplitPath(prefix, i, n)
		out, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		w, err := l.NewWriter(out)
		if err != nil {
			t.Fatal(err)
		}
		for k := lo; k < hi; k++ {
			if err := w.WriteTensor(tis[k].Name, f.TensorData(k)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out.Close()
		paths = append(paths, p)
	}
	return paths
}

// TestSplitInput converts the demo model split over three files and gets
// the bytes of converting the single file, naming any of the three as
// the input.
func TestSplitInput(t *testing.T) {
	dir := t.TempDir()
	in := tinyModel(t, dir)
	paths := writeSplits(t, in, filepath.Join(dir, "tiny"), 3, nil)
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, to := range []string{"q4_k_m", "f16"} {
		want := read(writeTo(t, in, to, nil))
		for _, p := range paths {
			if got := read(writeTo(t, p, to, nil)); !bytes.Equal(got, want) {
				t.Errorf("%s from %s: %d bytes, not the %d bytes of the single file's conversion", to, filepath.Base(p), len(got), len(want))
			}
		}
	}
	src, err := OpenSource(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(src.Files) != 3 || src.Files[0] != paths[0] || src.GGUF.Name() != paths[0] {
		t.Errorf("files %v, metadata from %s", src.Files, src.GGUF.Name())
	}
	src.Close()
}

// TestSplitInputErrors checks the refusals of broken split sets, each
// naming the file and what is wrong.
func TestSplitInputErrors(t *testing.T) {
	dir := t.TempDir()
	in := tinyModel(t, dir)
	set := func(key string, v gguf.Value, only int) func(int, []gguf.KV) []gguf.KV {
		return func(i int, kvs []gguf.KV) []gguf.KV {
			if only >= 0 && i != only {
				return kvs
			}
			for k := range kvs {
				if kvs[k].Key == key {
					kvs[k].Value = v
				}
			}
			return kvs
		}
	}
	cases := []struct {
		name string
		mod  func(int, []gguf.KV) []gguf.KV
		edit func(paths []string)
		has  []string
	}{
		{"missing", nil, func(p []string) { os.Remove(p[2]) }, []string{"split 3 of 3", "tiny-00003-of-00003.gguf"}},
		{"count", set(keySplitCount, gguf.Uint16(4), 1), nil, []string{"tiny-00002-of-00003.gguf", "split.count is 4"}},
		{"number", set(keySplitNo, gguf.Uint16(0), 2), nil, []string{"tiny-00003-of-00003.gguf", "split.no is 0, want 2"}},
		{"tensors", set(keySplitTensors, gguf.Int32(5), 0), nil, []string{"split.tensors.count is 5"}},
		{"renamed", nil, func(p []string) { os.Rename(p[0], strings.Replace(p[0], "00001-of", "1-of", 1)) }, []string{"00002-of-00003", "split 1 of 3"}},
	}
	for _, c := range cases {
		d := filepath.Join(dir, c.name)
		os.Mkdir(d, 0o755)
		paths := writeSplits(t, in, filepath.Join(d, "tiny"), 3, c.mod)
		if c.edit != nil {
			c.edit(paths)
		}
		open := paths[1]
		if c.name == "count" || c.name == "number" {
			open = paths[0]
		}
		_, err := OpenSource(open)
		if err == nil {
			t.Errorf("%s: opened", c.name)
			continue
		}
		for _, h := range c.has {
			if !strings.Contains(err.Error(), h) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, h)
			}
		}
		if errors.Is(err, os.ErrNotExist) != (c.name == "missing" || c.name == "renamed") {
			t.Errorf("%s: error %v", c.name, err)
		}
	}

	// The same tensor in two splits.
	d := filepath.Join(dir, "dup")
	os.Mkdir(d, 0o755)
	paths := writeSplits(t, in, filepath.Join(d, "tiny"), 2, nil, [2]int{0, 5}, [2]int{4, 10})
	if _, err := OpenSource(paths[0]); err == nil || !strings.Contains(err.Error(), "tiny-00002-of-00002.gguf") || !strings.Contains(err.Error(), "is also in") {
		t.Errorf("a tensor in two splits: %v", err)
	}
}

// TestLlamaQuantizeSplitInput has llama-quantize and qconv quantize the
// demo model split over three files and wants the same single file.
func TestLlamaQuantizeSplitInput(t *testing.T) {
	x := llamacpp.Find(t)
	dir := t.TempDir()
	paths := writeSplits(t, tinyModel(t, dir), filepath.Join(dir, "tiny"), 3, nil)
	for _, ft := range []string{"Q4_K_M", "Q8_0"} {
		ref := filepath.Join(dir, "llama-"+ft+".gguf")
		x.Quantize(t, paths[0], ref, ft, "")
		a, _ := os.ReadFile(ref)
		b, _ := os.ReadFile(writeTo(t, paths[0], ft, nil))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: qconv's file (%d bytes) differs from llama-quantize's (%d bytes)", ft, len(b), len(a))
		}
	}
}

// TestKeepSplit converts a split model with KeepSplit: three files, each
// with its input file's tensors, the first with the metadata, every one
// with split.no, split.count and split.tensors.count; read back as a
// split input they give the single-file conversion's tensors.
func TestKeepSplit(t *testing.T) {
	dir := t.TempDir()
	in := tinyModel(t, dir)
	paths := writeSplits(t, in, filepath.Join(dir, "tiny"), 3, nil)
	p := plan(t, paths[0], "q4_k_m", func(o *Options) { o.KeepSplit = true })
	if len(p.Splits) != 3 {
		t.Fatalf("%d output files, want 3", len(p.Splits))
	}
	out := filepath.Join(dir, "out.gguf")
	rep, err := p.Write(t.Context(), out, RunOptions{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := SplitOutputNames(out, 3)
	if strings.Join(rep.Outputs, ",") != strings.Join(want, ",") || !strings.HasSuffix(want[1], "out-00002-of-00003.gguf") {
		t.Fatalf("outputs %v, want %v", rep.Outputs, want)
	}
	var total int64
	for i, name := range want {
		f, err := gguf.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		g, err := gguf.Open(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(name)
		total += st.Size()
		var got, in []string
		for _, ti := range f.Tensors() {
			got = append(got, ti.Name)
		}
		for _, ti := range g.Tensors() {
			in = append(in, ti.Name)
		}
		if strings.Join(got, ",") != strings.Join(in, ",") {
			t.Errorf("split %d holds %v, want the input split's %v", i+1, got, in)
		}
		no, _ := f.Uint(keySplitNo)
		n, _ := f.Uint(keySplitCount)
		c, _ := f.Int(keySplitTensors)
		if no != uint64(i) || n != 3 || c != int64(len(p.Tensors)) {
			t.Errorf("split %d: split.no %d, split.count %d, split.tensors.count %d", i+1, no, n, c)
		}
		if _, ok := f.KV("general.architecture"); ok != (i == 0) {
			t.Errorf("split %d: general.architecture present = %v", i+1, ok)
		}
		f.Close()
		g.Close()
	}
	if total != rep.OutputBytes || total != p.OutputBytes() {
		t.Errorf("output bytes %d, report %d, plan %d", total, rep.OutputBytes, p.OutputBytes())
	}
	// Read back as a split input, in one file: the single-file conversion.
	a, _ := os.ReadFile(writeTo(t, want[2], "q4_k_m", nil))
	b, _ := os.ReadFile(writeTo(t, in, "q4_k_m", nil))
	if !bytes.Equal(a, b) {
		t.Error("the split output read back differs from the single-file conversion")
	}
	// A single-file input with KeepSplit gives one file.
	if p := plan(t, in, "q8_0", func(o *Options) { o.KeepSplit = true }); p.Splits != nil {
		t.Error("KeepSplit on a single file planned splits")
	}
}

// TestKeepSplitAtomic: when one output file cannot be created, none of
// the split names is left behind.
func TestKeepSplitAtomic(t *testing.T) {
	dir := t.TempDir()
	paths := writeSplits(t, tinyModel(t, dir), filepath.Join(dir, "tiny"), 3, nil)
	p := plan(t, paths[0], "q8_0", func(o *Options) { o.KeepSplit = true })
	out := filepath.Join(dir, "out.gguf")
	names := SplitOutputNames(out, 3)
	if err := os.WriteFile(names[2], []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(t.Context(), out, RunOptions{Jobs: 2}); err == nil || !strings.Contains(err.Error(), filepath.Base(names[2])) {
		t.Fatalf("writing over an existing split: %v", err)
	}
	for _, n := range names[:2] {
		if _, err := os.Stat(n); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", n, err)
		}
	}
	if b, _ := os.ReadFile(names[2]); string(b) != "keep me" {
		t.Error("the existing file was changed")
	}
}

// TestLlamaQuantizeKeepSplit: llama-quantize --keep-split and qconv
// KeepSplit write the same three files, byte for byte; and llama.cpp loads
// and runs a model qconv split by size.
func TestLlamaQuantizeKeepSplit(t *testing.T) {
	x := llamacpp.Find(t)
	dir := t.TempDir()
	paths := writeSplits(t, tinyModel(t, dir), filepath.Join(dir, "tiny"), 3, nil)
	for _, ft := range []string{"Q4_K_M", "Q8_0"} {
		ref := filepath.Join(dir, "llama-"+ft)
		x.Quantize(t, paths[0], ref, ft, "", "--keep-split")
		out := filepath.Join(dir, "qconv-"+ft+".gguf")
		if _, err := plan(t, paths[0], ft, func(o *Options) { o.KeepSplit = true }).Write(t.Context(), out, RunOptions{Jobs: 2}); err != nil {
			t.Fatal(err)
		}
		for i, name := range SplitOutputNames(out, 3) {
			a, _ := os.ReadFile(SplitPath(ref, i, 3))
			b, _ := os.ReadFile(name)
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("%s split %d: qconv's file (%d bytes) differs from llama-quantize's (%d bytes)", ft, i+1, len(b), len(a))
			}
		}
	}
	p := plan(t, paths[0], "Q4_K_M", func(o *Options) { o.SplitMaxSize = 1 << 20 })
	out := filepath.Join(dir, "by-size.gguf")
	if _, err := p.Write(t.Context(), out, RunOptions{Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	x.Runs(t, SplitOutputNames(out, len(p.Splits))[0])
}

// TestSplitMax splits the demo model's Q8_0 conversion by tensor count and
// by size and checks gguf-split's rule: files in output order, a new file
// only when the next tensor would break the limit (so no file could have
// taken the next file's first tensor), one file when everything fits; and
// the splits read back give the single file's conversion.
func TestSplitMax(t *testing.T) {
	dir := t.TempDir()
	in := tinyModel(t, dir)
	single, _ := os.ReadFile(writeTo(t, in, "q8_0", nil))
	padded := func(n int64) int64 {
		return (n + gguf.DefaultAlignment - 1) / gguf.DefaultAlignment * gguf.DefaultAlignment
	}
	for _, c := range []struct {
		name       string
		size       int64
		tensors, n int
	}{{"count", 0, 10, 4}, {"size", 2e6, 0, 3}, {"big", 1, 0, 39}, {"fits", 1e9, 0, 1}, {"both", 2e6, 5, 8}} {
		p := plan(t, in, "q8_0", func(o *Options) { o.SplitMaxSize, o.SplitMaxTensors = c.size, c.tensors })
		if got := max(len(p.Splits), 1); got != c.n {
			t.Errorf("%s: %d files, want %d", c.name, got, c.n)
			continue
		}
		if c.n == 1 {
			continue
		}
		sizes, counts := make([]int64, c.n), make([]int, c.n)
		last := 0
		for _, pt := range p.Tensors {
			if pt.File < last || pt.File > last+1 {
				t.Fatalf("%s: files out of order at %s", c.name, pt.Out.Name)
			}
			if pt.File == last+1 { // a new file: the previous one was full
				full := (c.tensors > 0 && counts[last] >= c.tensors) || (c.size > 0 && sizes[last]+padded(pt.Out.Size) > c.size)
				if !full {
					t.Errorf("%s: file %d ended before %s although it had room", c.name, last+1, pt.Out.Name)
				}
				last++
			}
			sizes[pt.File] += padded(pt.Out.Size)
			counts[pt.File]++
		}
		for i := range sizes {
			if (c.size > 0 && sizes[i] > c.size && counts[i] > 1) || (c.tensors > 0 && counts[i] > c.tensors) {
				t.Errorf("%s: file %d holds %d tensors, %d bytes", c.name, i+1, counts[i], sizes[i])
			}
		}
		out := filepath.Join(t.TempDir(), "s.gguf")
		if _, err := p.Write(t.Context(), out, RunOptions{Jobs: 2}); err != nil {
			t.Fatal(err)
		}
		back, _ := os.ReadFile(writeTo(t, SplitOutputNames(out, c.n)[c.n-1], "q8_0", nil))
		if !bytes.Equal(back, single) {
			t.Errorf("%s: the splits read back differ from the single-file conversion", c.name)
		}
	}
	if _, err := NewPlan(openTiny(t, in), Options{Target: mustTarget(t, "q8_0"), KeepSplit: true, SplitMaxTensors: 3}); err == nil {
		t.Error("KeepSplit with SplitMaxTensors planned")
	}
}

func openTiny(t *testing.T, in string) *Source {
	t.Helper()
	s, err := OpenSource(in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustTarget(t *testing.T, s string) Target {
	t.Helper()
	tg, err := ParseTarget(s)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}
