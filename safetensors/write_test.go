package safetensors

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// rewrite writes f's metadata and tensors (in header order) with Write.
func rewrite(t *testing.T, f *File) []byte {
	t.Helper()
	var wts []WriteTensor
	for _, tt := range f.Tensors() {
		wts = append(wts, WriteTensor{Name: tt.Name, DType: tt.DType, Shape: tt.Shape, Data: tensorData(t, f, tt.Name)})
	}
	var buf bytes.Buffer
	if err := Write(&buf, f.Metadata(), wts); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sameContent checks that a and b hold the same metadata and tensors (in
// the same header order) with the same bytes.
func sameContent(t *testing.T, a, b *File) {
	t.Helper()
	if !maps.Equal(a.Metadata(), b.Metadata()) {
		t.Errorf("metadata %q != %q", a.Metadata(), b.Metadata())
	}
	ta, tb := a.Tensors(), b.Tensors()
	if len(ta) != len(tb) {
		t.Fatalf("%d tensors != %d", len(ta), len(tb))
	}
	for i := range ta {
		x, y := ta[i], tb[i]
		if x.Name != y.Name || x.DType != y.DType || !slices.Equal(x.Shape, y.Shape) || x.Size != y.Size {
			t.Errorf("tensor %d: %+v != %+v", i, x, y)
			continue
		}
		if !bytes.Equal(tensorData(t, a, x.Name), tensorData(t, b, y.Name)) {
			t.Errorf("%s: bytes differ", x.Name)
		}
	}
}

func TestRoundTripFixtures(t *testing.T) {
	root := fixture(t)
	paths, _ := filepath.Glob(filepath.Join(root, "*", "*.safetensors"))
	if len(paths) < 15 {
		t.Fatalf("found only %d safetensors fixtures", len(paths))
	}
	identical := 0
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "invalid") {
			continue
		}
		t.Run(rel, func(t *testing.T) {
			f, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			out := rewrite(t, f)
			g, err := Parse(out, "rewritten")
			if err != nil {
				t.Fatal(err)
			}
			sameContent(t, f, g)
			if len(out)%8 != 0 && g.HeaderSize()%8 != 0 {
				t.Errorf("header size %d not padded to 8", g.HeaderSize())
			}
			// Files from the reference writer whose header order is the
			// offset order come back byte for byte (except hadamards, whose
			// large __metadata__ was written in hash order, not sorted).
			orig := f.data
			inOrder := slices.IsSortedFunc(f.Tensors(), func(a, b Tensor) int { return int(a.Offset - b.Offset) })
			if inOrder && f.HeaderSize()%8 == 0 && len(f.Metadata()) <= 2 {
				if !bytes.Equal(out, orig) {
					t.Errorf("rewrite differs from the original (%d vs %d bytes)", len(out), len(orig))
				}
				identical++
			}
		})
	}
	if identical < 10 {
		t.Errorf("only %d fixtures were reproduced byte for byte", identical)
	}
}

func TestRoundTripEveryDType(t *testing.T) {
	var wts []WriteTensor
	var want [][]byte
	fill := func(n int64, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return b
	}
	shapes := [][]int64{{}, {0}, {2, 4}, {3, 0, 5}, {1, 2, 3, 4}}
	for _, dt := range DTypes() {
		for si, shape := range shapes {
			n, _ := elements(shape)
			size, err := dt.ByteSize(n)
			if err != nil {
				continue // e.g. a scalar F4 does not fill a byte
			}
			name := dt.String() + "/" + shapeString(shape)
			data := fill(size, byte(dt)*16+byte(si))
			wt := WriteTensor{Name: name, DType: dt, Shape: shape}
			if si%2 == 0 {
				wt.Data = data
			} else { // stream it
				wt.WriteData = func(w io.Writer) error {
					for i := range data { // byte by byte
						if _, err := w.Write(data[i : i+1]); err != nil {
							return err
						}
					}
					return nil
				}
			}
			wts = append(wts, wt)
			want = append(want, data)
		}
	}
	meta := map[string]string{"z": "last", "a": "first", "quote\"<&>": "é\n\x00"}
	var buf bytes.Buffer
	if err := Write(&buf, meta, wts); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes(), "generated")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(f.Metadata(), meta) {
		t.Errorf("metadata %q, want %q", f.Metadata(), meta)
	}
	ts := f.Tensors()
	if len(ts) != len(wts) {
		t.Fatalf("%d tensors, want %d", len(ts), len(wts))
	}
	var off int64
	for i, tt := range ts {
		if tt.Name != wts[i].Name || tt.DType != wts[i].DType || !slices.Equal(tt.Shape, wts[i].Shape) || tt.Offset != off {
			t.Errorf("tensor %d: %+v, want %s at offset %d", i, tt, wts[i].Name, off)
		}
		off += tt.Size
		if got := tensorData(t, f, tt.Name); !bytes.Equal(got, want[i]) {
			t.Errorf("%s: bytes differ", tt.Name)
		}
	}
	// Deterministic: a second write is identical, whatever the map order.
	var again bytes.Buffer
	if err := Write(&again, maps.Clone(meta), slices.Clone(wts)); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("second write differs (%v)", err)
	}
	if !bytes.HasPrefix(buf.Bytes()[8:], []byte(`{"__metadata__":{"a":"first","quote\"<&>":"é\n\u0000","z":"last"},"BOOL/[]":{"dtype":"BOOL","shape":[],"data_offsets":[0,1]},`)) {
		t.Errorf("header starts %q", buf.Bytes()[8:min(200, buf.Len())])
	}
}

func TestWriteEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	if want := "\x08\x00\x00\x00\x00\x00\x00\x00{}      "; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
	mustParse(t, buf.Bytes())
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	ok := WriteTensor{Name: "a", DType: F32, Shape: []int64{2}, Data: make([]byte, 8)}
	tests := []struct {
		name string
		meta map[string]string
		ts   []WriteTensor
		want string
	}{
		{"duplicate", nil, []WriteTensor{ok, ok}, `tensor "a" appears twice`},
		{"empty name", nil, []WriteTensor{{DType: U8, Shape: []int64{0}}}, `tensor name "" is not allowed`},
		{"metadata name", nil, []WriteTensor{{Name: "__metadata__", DType: U8, Shape: []int64{0}}}, "is not allowed"},
		{"bad UTF-8 name", nil, []WriteTensor{{Name: "\xff", DType: U8, Shape: []int64{0}}}, "not valid UTF-8"},
		{"bad UTF-8 metadata", map[string]string{"k": "\xff"}, nil, `metadata "k": not valid UTF-8`},
		{"unknown dtype", nil, []WriteTensor{{Name: "a", Shape: []int64{1}}}, "unknown dtype DType(0)"},
		{"negative dim", nil, []WriteTensor{{Name: "a", DType: U8, Shape: []int64{-1}}}, "negative dimension"},
		{"overflow", nil, []WriteTensor{{Name: "a", DType: U8, Shape: []int64{1 << 40, 1 << 40}}}, "too many elements"},
		{"sub-byte", nil, []WriteTensor{{Name: "a", DType: F4, Shape: []int64{3}, Data: []byte{0, 0}}}, "do not fill whole bytes"},
		{"short data", nil, []WriteTensor{{Name: "a", DType: F32, Shape: []int64{2}, Data: make([]byte, 7)}}, `tensor "a": 7 bytes of data, F32 x shape [2] needs 8`},
		{"total overflow", nil, hugeTensors(8), `tensor "t7": total data size overflows`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, tc.meta, tc.ts)
			if !errors.Is(err, ErrWrite) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want ErrWrite mentioning %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written for an invalid request", buf.Len())
			}
		})
	}
	t.Run("WriteData wrong count", func(t *testing.T) {
		wt := WriteTensor{Name: "s", DType: U16, Shape: []int64{2}, WriteData: func(w io.Writer) error {
			_, err := w.Write([]byte{1, 2, 3})
			return err
		}}
		err := Write(io.Discard, nil, []WriteTensor{wt})
		if !errors.Is(err, ErrWrite) || !strings.Contains(err.Error(), `tensor "s": WriteData wrote 3 bytes, U16 x shape [2] needs 4`) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("WriteData error", func(t *testing.T) {
		boom := errors.New("boom")
		wt := WriteTensor{Name: "s", DType: U8, Shape: []int64{1}, WriteData: func(io.Writer) error { return boom }}
		if err := Write(io.Discard, nil, []WriteTensor{wt}); !errors.Is(err, boom) || !strings.Contains(err.Error(), `tensor "s"`) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("writer error", func(t *testing.T) {
		for _, n := range []int{0, 8, 70} {
			if err := Write(&failWriter{n: n}, nil, []WriteTensor{ok}); err == nil || errors.Is(err, ErrWrite) {
				t.Errorf("limit %d: error %v", n, err)
			}
		}
	})
}

// hugeTensors returns n streamed tensors of 2^60 bytes each.
func hugeTensors(n int) []WriteTensor {
	var out []WriteTensor
	for i := range n {
		out = append(out, WriteTensor{Name: "t" + strconv.Itoa(i), DType: U8, Shape: []int64{1 << 60},
			WriteData: func(io.Writer) error { return nil }})
	}
	return out
}
