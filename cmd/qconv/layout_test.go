package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
)

// TestBlockMajorCLI converts with --layout block, inspects and verifies
// the result (the kernel check runs the block-major kernels), and checks
// that a corrupted tile scale and a tile whose rows were swapped each fail
// verify naming the tensor.
func TestBlockMajorCLI(t *testing.T) {
	fx := newVerifyFixture(t)
	dir := t.TempDir()
	bm := filepath.Join(dir, "tiny-q4_0-block.gguf")
	if code, _, stderr := qconv(t, "convert", "-q", fx.src, "--to", "q4_0", "--layout", "block", "-o", bm); code != 0 {
		t.Fatalf("convert --layout block: exit %d: %s", code, stderr)
	}
	code, out, _ := qconv(t, "inspect", bm)
	if code != 0 || !strings.Contains(out, "q4_0_bm16") || !strings.Contains(out, `qconv.layout                            "block-major"`) {
		t.Fatalf("inspect: exit %d\n%s", code, out)
	}
	code, out, stderr := qconv(t, "verify", bm, "--against", fx.src, "--json")
	if code != 0 || !strings.Contains(out, "block-major-16") {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, stderr)
	}
	if code, _, stderr := qconv(t, "convert", fx.src, "--to", "q4_0", "--layout", "diagonal", "--dry-run"); code != exitUsage || !strings.Contains(stderr, "--layout") {
		t.Errorf("--layout diagonal: exit %d, %s", code, stderr)
	}

	t.Run("corrupted-tile-scale", func(t *testing.T) {
		p := copyFile(t, bm, filepath.Join(t.TempDir(), "scale.gguf"))
		off, _, typ := tensorAt(t, p, "blk.0.ffn_up.weight")
		if typ.Base() != gguf.TypeQ4_0 {
			t.Fatalf("type %s", typ)
		}
		// Tile 1, block column 2: its scales are the first 32 bytes; row 5's
		// scale becomes 65504.
		tileBlock := 16 * 18
		patch(t, p, off+int64(256/32*tileBlock+2*tileBlock+5*2), []byte{0xFF, 0x7B})
		code, out, stderr := qconv(t, "verify", p, "--against", fx.src)
		wantFail(t, code, out, stderr, "blk.0.ffn_up.weight", "rel_rmse")
	})

	t.Run("wrong-layout-bytes", func(t *testing.T) {
		// Row-major bytes under the block-major type: every tile is
		// misread, which the comparison with the source must catch.
		p := copyFile(t, bm, filepath.Join(t.TempDir(), "misread.gguf"))
		off, n, _ := tensorAt(t, p, "blk.1.attn_q.weight")
		rowMajor := filepath.Join(t.TempDir(), "row.gguf")
		if code, _, stderr := qconv(t, "convert", "-q", fx.src, "--to", "q4_0", "-o", rowMajor); code != 0 {
			t.Fatal(stderr)
		}
		ro, _, _ := tensorAt(t, rowMajor, "blk.1.attn_q.weight")
		patch(t, p, off, readAt(t, rowMajor, ro, n))
		code, out, stderr := qconv(t, "verify", p, "--against", fx.src)
		wantFail(t, code, out, stderr, "blk.1.attn_q.weight", "rel_rmse")
	})
}

// readAt reads n bytes of path at off.
func readAt(t *testing.T, path string, off, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}
