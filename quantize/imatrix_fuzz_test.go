package quantize

import (
	"math"
	"testing"

	"github.com/qconv/qconv/gguf"
)

func datSeeds() [][]byte {
	valid := encodeDat([]datEntry{
		{"blk.0.attn_q.weight", 4, []float32{4, 2, 1, 10}},
		{"blk.0.ffn_up_exps.weight", 0, []float32{1, 2, 3, 4, 5, 6}},
	}, true, 100, "wiki.train.raw")
	return [][]byte{
		valid,
		valid[:len(valid)-3],
		encodeDat([]datEntry{{"w", 1, []float32{1}}}, false, 0, ""),
		encodeDat([]datEntry{{"w", 3, []float32{1, 2}}}, true, 0, ""),
		append(encodeDat([]datEntry{{"w", 1, []float32{1}}}, false, 0, ""), 7, 0, 0, 0),
		(&datBuf{}).i32(2).entry(datEntry{"w", 1, []float32{1}}).entry(datEntry{"w", 1, []float32{1}}).b,
		(&datBuf{}).i32(1).i32(1).raw("w").i32(1).i32(math.MaxInt32).b,
		(&datBuf{}).i32(math.MaxInt32).b,
		(&datBuf{}).i32(1).i32(-1).b,
		(&datBuf{}).i32(1).entry(datEntry{"w", 1, []float32{float32(math.NaN())}}).b,
		{},
	}
}

// FuzzParseImatrixDat checks that the legacy parser never panics, that what
// it accepts is consistent, and that re-encoding the accepted vectors with
// ncall 0 (values used as stored) parses back to the same thing.
func FuzzParseImatrixDat(f *testing.F) {
	for _, s := range datSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := ParseImatrixDat(data, "fuzz.dat")
		if err != nil {
			if im != nil {
				t.Fatal("non-nil Imatrix with an error")
			}
			return
		}
		checkImatrixInvariants(t, im)
		entries := make([]datEntry, len(im.Names))
		for i, n := range im.Names {
			entries[i] = datEntry{n, 0, im.Entries[n]}
		}
		ds := ""
		if len(im.Datasets) > 0 {
			ds = im.Datasets[0]
		}
		again, err := ParseImatrixDat(encodeDat(entries, true, int32(im.ChunkCount), ds), "again.dat")
		if err != nil {
			t.Fatalf("re-encoded file rejected: %v", err)
		}
		if len(again.Names) != len(im.Names) || again.ChunkCount != im.ChunkCount || len(again.Datasets) != len(im.Datasets) {
			t.Fatalf("round trip: %d names, chunks %d, datasets %q; want %d, %d, %q",
				len(again.Names), again.ChunkCount, again.Datasets, len(im.Names), im.ChunkCount, im.Datasets)
		}
		for i, n := range im.Names {
			if again.Names[i] != n || !bitsEqual(again.Entries[n], im.Entries[n]) {
				t.Fatalf("round trip: entry %d %q differs", i, n)
			}
		}
	})
}

// FuzzParseImatrix covers format detection and the GGUF path.
func FuzzParseImatrix(f *testing.F) {
	for _, s := range datSeeds() {
		f.Add(s)
	}
	var ts []gTensor
	ts = append(ts, entryTensors("blk.0.attn_q.weight", 4, []float32{4, 2, 1, 10}, []float32{4})...)
	ts = append(ts, entryTensors("blk.0.ffn_up_exps.weight", 2, []float32{2, 4, 6, 8, 1, 1}, []float32{2, 0, 0.5})...)
	f.Add(buildGGUF(f, imatrixKVs([]string{"a", "b"}, 3, 512), ts))
	f.Add(buildGGUF(f, imatrixKVs(nil, 0, 0), ts[:1]))
	f.Add(buildGGUF(f, imatrixKVs([]string{"a"}, 1, 1), nil))
	f.Add([]byte("GGUF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := ParseImatrix(data, "fuzz")
		if err != nil {
			return
		}
		checkImatrixInvariants(t, im)
		if im.Format == ImatrixFormatGGUF {
			for _, n := range im.Names {
				ne := im.Experts[n]
				if ne < 1 || len(im.Entries[n])%ne != 0 {
					t.Fatalf("entry %q: %d values, %d experts", n, len(im.Entries[n]), ne)
				}
				if _, err := im.For(n, len(im.Entries[n])/ne, ne); err != nil {
					t.Fatal(err)
				}
			}
		}
		if kvs := im.QuantizeKVs(); len(kvs) < 2 {
			t.Fatalf("QuantizeKVs: %v", kvs)
		} else if _, err := gguf.NewLayout(kvs, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func checkImatrixInvariants(t *testing.T, im *Imatrix) {
	t.Helper()
	if len(im.Names) == 0 || len(im.Names) != len(im.Entries) {
		t.Fatalf("%d names, %d entries", len(im.Names), len(im.Entries))
	}
	for _, n := range im.Names {
		v, ok := im.Entries[n]
		if n == "" || !ok || len(v) == 0 {
			t.Fatalf("bad entry %q (present %v, %d values)", n, ok, len(v))
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("entry %q value %d = %v", n, i, x)
			}
		}
	}
	if im.ChunkCount < 0 && im.Format == ImatrixFormatDat {
		t.Fatalf("negative chunk count %d", im.ChunkCount)
	}
}
