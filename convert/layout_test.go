package convert

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/kernels"
)

// TestConvertBlockMajor converts the tiny model to block-major output and
// checks: the tiled tensors, the layout keys, deterministic bytes across
// -j, every tiled tensor equal to Pack of the row-major conversion's, and
// that converting the block-major file back with the row layout gives the
// row-major conversion byte for byte.
func TestConvertBlockMajor(t *testing.T) {
	dir := t.TempDir()
	in := tinyModel(t, dir)
	for _, to := range []string{"q4_0", "q8_0", "q4_k_m"} {
		t.Run(to, func(t *testing.T) {
			rowOut := filepath.Join(dir, to+"-row.gguf")
			if _, err := plan(t, in, to, nil).Write(t.Context(), rowOut, RunOptions{Force: true}); err != nil {
				t.Fatal(err)
			}
			var first []byte
			blockOut := filepath.Join(dir, to+"-block.gguf")
			for _, j := range []int{1, 3} {
				p := plan(t, in, to, func(o *Options) { o.Layout = kernels.BlockMajor(16) })
				if _, err := p.Write(t.Context(), blockOut, RunOptions{Jobs: j, Force: true, MaxMemory: 1 << 20}); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(blockOut)
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = b
				} else if !bytes.Equal(b, first) {
					t.Fatalf("-j %d output differs", j)
				}
			}
			rf, err := gguf.Open(rowOut)
			if err != nil {
				t.Fatal(err)
			}
			defer rf.Close()
			bf, err := gguf.Open(blockOut)
			if err != nil {
				t.Fatal(err)
			}
			defer bf.Close()
			if v, _ := bf.String(gguf.KeyLayout); v != gguf.LayoutBlockMajor {
				t.Errorf("%s = %q", gguf.KeyLayout, v)
			}
			if v, _ := bf.Uint32(gguf.KeyLayoutVersion); v != gguf.LayoutVersion {
				t.Errorf("%s = %d", gguf.KeyLayoutVersion, v)
			}
			if _, ok := rf.KV(gguf.KeyLayout); ok {
				t.Error("row-major output carries qconv.layout")
			}
			tiled := 0
			for i, ti := range bf.Tensors() {
				j := rf.TensorIndex(ti.Name)
				rti := rf.Tensors()[j]
				base, R, ok := ti.Type.Tiled()
				wantTiled := kernels.HasTileKernel(rti.Type) && len(ti.Dims) >= 2 && ti.Dims[1] >= 16 && ti.Name != "token_embd.weight"
				if ok != wantTiled {
					t.Fatalf("%s: type %s (row-major %s): tiled %v, want %v", ti.Name, ti.Type, rti.Type, ok, wantTiled)
				}
				if !ok {
					if ti.Type != rti.Type || !bytes.Equal(bf.TensorData(i), rf.TensorData(j)) {
						t.Fatalf("%s: untiled tensor differs from the row-major conversion", ti.Name)
					}
					continue
				}
				tiled++
				if base != rti.Type || R != 16 {
					t.Fatalf("%s: %s, want %s in 16-row tiles", ti.Name, ti.Type, rti.Type)
				}
				want := make([]byte, len(rf.TensorData(j)))
				kernels.Pack(want, rf.TensorData(j), base, int(ti.Dims[1]), int(ti.Dims[0]), kernels.BlockMajor(16))
				if !bytes.Equal(bf.TensorData(i), want) {
					t.Fatalf("%s: tiles differ from Pack of the row-major tensor", ti.Name)
				}
			}
			if tiled < 16 {
				t.Errorf("only %d tensors tiled", tiled)
			}

			// Back to row-major: the same bytes as converting directly.
			back := filepath.Join(dir, to+"-back.gguf")
			if _, err := plan(t, blockOut, to, nil).Write(t.Context(), back, RunOptions{Force: true, Jobs: 2}); err != nil {
				t.Fatal(err)
			}
			b1, _ := os.ReadFile(back)
			b2, _ := os.ReadFile(rowOut)
			if !bytes.Equal(b1, b2) {
				t.Fatal("block-major -> row-major differs from the direct row-major conversion")
			}
		})
	}
}

// TestTiledExperts tiles a 3-D tensor slice by slice: 3 experts of 20
// rows give one 16-row tile and a row-major tail of 4 rows per expert.
func TestTiledExperts(t *testing.T) {
	const cols, rows, experts = 64, 20, 3
	rb := int64(cols / 32 * 18)
	data := make([]byte, rb*rows*experts)
	for i := range data {
		data[i] = byte(i*31 + i/7)
	}
	for i := 0; i < len(data); i += 18 { // finite fp16 scales
		data[i], data[i+1] = 0x00, 0x3c
	}
	src := &Tensor{Name: "blk.0.ffn_up_exps.weight", Dims: []int64{cols, rows, experts}, Type: gguf.TypeQ4_0, data: data, rowLen: cols}
	if R := tileOutput(src, gguf.TypeQ4_0, kernels.BlockMajor(16)); R != 16 {
		t.Fatalf("tileOutput = %d", R)
	}
	packed := make([]byte, len(data))
	// As the runner does: tasks of whole tiles within one slice.
	for e := int64(0); e < experts; e++ {
		seg := packed[e*rows*rb : (e+1)*rows*rb]
		packRows(seg, data[e*rows*rb:(e+1)*rows*rb], src, gguf.TypeQ4_0, 16, e*rows, rows, rb)
	}
	for e := int64(0); e < experts; e++ {
		want := make([]byte, rows*rb)
		kernels.Pack(want, data[e*rows*rb:(e+1)*rows*rb], gguf.TypeQ4_0, rows, cols, kernels.BlockMajor(16))
		if !bytes.Equal(packed[e*rows*rb:(e+1)*rows*rb], want) {
			t.Fatalf("expert %d not tiled on its own", e)
		}
	}
	// Reading it back as a block-major source gives the original rows,
	// for any row range.
	tiled := &Tensor{Name: src.Name, Dims: src.Dims, Type: gguf.TypeQ4_0, data: packed, rowLen: cols, tile: 16}
	for row0 := int64(0); row0 < rows*experts; row0 += 7 {
		n := min(int64(13), rows*experts-row0)
		if got := tiled.rawRows(row0, n); !bytes.Equal(got, data[row0*rb:(row0+n)*rb]) {
			t.Fatalf("rows [%d,%d) differ", row0, row0+n)
		}
	}
	if tileOutput(&Tensor{Name: "x", Dims: []int64{64, 15}}, gguf.TypeQ4_0, kernels.BlockMajor(16)) != 0 {
		t.Error("a 15-row matrix must stay row-major with 16-row tiles")
	}
	if tileOutput(&Tensor{Name: "token_embd.weight", Dims: []int64{64, 64}}, gguf.TypeQ4_0, kernels.BlockMajor(16)) != 0 {
		t.Error("token_embd.weight must stay row-major")
	}
	if tileOutput(&Tensor{Name: "x", Dims: []int64{64, 64}}, gguf.TypeF16, kernels.BlockMajor(16)) != 0 {
		t.Error("F16 has no block-major form")
	}
	if tileOutput(&Tensor{Name: "x", Dims: []int64{256, 64}}, gguf.TypeQ6_K, kernels.BlockMajor(16)) != 0 {
		t.Error("Q6_K has no tile kernel: it stays row-major")
	}
}

// TestReportWarnings: the source's warnings reach the JSON report.
func TestReportWarnings(t *testing.T) {
	dir := t.TempDir()
	in := tinyModel(t, dir)
	p := plan(t, in, "q8_0", nil)
	p.Source.Warnings = []string{"tokenizer.json: pre-tokenizer not recognized"}
	rep, err := p.Write(t.Context(), filepath.Join(dir, "w.gguf"), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || rep.Warnings[0] != p.Source.Warnings[0] {
		t.Errorf("report warnings %q", rep.Warnings)
	}
}
