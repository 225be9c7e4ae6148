package main

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/synth"
)

// verifyFixture is the tiny synthetic model and its q8_0 and q4_k_m
// conversions.
type verifyFixture struct {
	dir, src, q8, q4km string
}

func newVerifyFixture(t *testing.T) *verifyFixture {
	t.Helper()
	dir := t.TempDir()
	fx := &verifyFixture{dir: dir, src: filepath.Join(dir, "tiny-f16.gguf"),
		q8: filepath.Join(dir, "tiny-q8_0.gguf"), q4km: filepath.Join(dir, "tiny-q4_k_m.gguf")}
	if err := synth.Tiny().WriteFile(t.Context(), fx.src, false); err != nil {
		t.Fatal(err)
	}
	for out, to := range map[string]string{fx.q8: "q8_0", fx.q4km: "q4_k_m"} {
		if code, _, stderr := qconv(t, "convert", "-q", "-j", "2", fx.src, "--to", to, "-o", out); code != 0 {
			t.Fatalf("convert --to %s: exit %d: %s", to, code, stderr)
		}
	}
	return fx
}

// copyFile copies src to a new file in dir and returns its path.
func copyFile(t *testing.T, src, dst string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// tensorAt returns the absolute offset and size of a tensor's data.
func tensorAt(t *testing.T, path, name string) (int64, int64, gguf.Type) {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ti, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("%s has no tensor %s", path, name)
	}
	return ti.FileOffset, ti.Size, ti.Type
}

// patch overwrites bytes of path at off.
func patch(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// writeGGUF writes a GGUF file with the given tensors and data.
func writeGGUF(t *testing.T, path string, kvs []gguf.KV, infos []gguf.TensorInfo, data [][]byte) {
	t.Helper()
	l, err := gguf.NewLayout(kvs, infos)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := l.WriteHeader(io.NewOffsetWriter(f, 0)); err != nil {
		t.Fatal(err)
	}
	for i := range infos {
		if err := l.WriteTensorAt(f, i, data[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// rewriteGGUF writes in's metadata and tensors to out after edit has
// changed the tensor list (data is looked up by the original names).
func rewriteGGUF(t *testing.T, in, out string, edit func([]gguf.TensorInfo) []gguf.TensorInfo) {
	t.Helper()
	f, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var infos []gguf.TensorInfo
	var data [][]byte
	for _, ti := range edit(slices.Clone(f.Tensors())) {
		b, ok := f.TensorDataByName(ti.Name)
		if !ok {
			t.Fatalf("no tensor %s", ti.Name)
		}
		infos = append(infos, gguf.TensorInfo{Name: ti.Name, Type: ti.Type, Dims: ti.Dims})
		data = append(data, b)
	}
	writeGGUF(t, out, f.KVs(), infos, data)
}

// wantFail checks exit 1 and that the report names the tensor and metric.
func wantFail(t *testing.T, code int, out, stderr, tensor, metric string) {
	t.Helper()
	if code != exitFailure {
		t.Fatalf("exit %d, want 1; stdout:\n%s\nstderr: %s", code, out, stderr)
	}
	found := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "  "+tensor+": ") && strings.Contains(line, metric) {
			found = true
		}
	}
	if !found || !strings.Contains(out, "FAIL: ") {
		t.Errorf("report does not name %s failing %s:\n%s", tensor, metric, out)
	}
}

func TestVerify(t *testing.T) {
	fx := newVerifyFixture(t)

	t.Run("pass", func(t *testing.T) {
		for _, f := range []string{fx.q8, fx.q4km} {
			code, out, stderr := qconv(t, "verify", f, "--against", fx.src, "-j", "2")
			if code != 0 || !strings.Contains(out, "PASS: 39 tensors within thresholds") {
				t.Fatalf("%s: exit %d\n%s\n%s", f, code, out, stderr)
			}
			if code, out, _ := qconv(t, "verify", f); code != 0 || !strings.Contains(out, "PASS: 39 tensors") {
				t.Fatalf("%s without --against: exit %d\n%s", f, code, out)
			}
		}
		// The source against itself is exact.
		if code, out, _ := qconv(t, "verify", fx.src, "--against", fx.src); code != 0 {
			t.Fatalf("source against itself: exit %d\n%s", code, out)
		}
	})

	t.Run("corrupted-scale", func(t *testing.T) {
		p := copyFile(t, fx.q8, filepath.Join(t.TempDir(), "scale.gguf"))
		off, _, typ := tensorAt(t, p, "blk.0.attn_q.weight")
		if typ != gguf.TypeQ8_0 {
			t.Fatalf("type %s", typ)
		}
		patch(t, p, off+10*34, []byte{0xFF, 0x7B}) // block 10: d = 65504
		code, out, stderr := qconv(t, "verify", p, "--against", fx.src)
		wantFail(t, code, out, stderr, "blk.0.attn_q.weight", "rel_rmse")
		if strings.Contains(out, "  blk.0.attn_k.weight: ") {
			t.Errorf("an intact tensor is reported failing:\n%s", out)
		}
	})

	t.Run("swapped-tensors", func(t *testing.T) {
		p := copyFile(t, fx.q8, filepath.Join(t.TempDir(), "swap.gguf"))
		a, n, _ := tensorAt(t, p, "blk.1.attn_q.weight")
		b, m, _ := tensorAt(t, p, "blk.1.attn_output.weight")
		if n != m {
			t.Fatalf("sizes %d and %d", n, m)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		patch(t, p, a, raw[b:b+m])
		patch(t, p, b, raw[a:a+n])
		code, out, stderr := qconv(t, "verify", p, "--against", fx.src)
		wantFail(t, code, out, stderr, "blk.1.attn_q.weight", "rel_rmse")
		wantFail(t, code, out, stderr, "blk.1.attn_output.weight", "rel_rmse")
		if !strings.Contains(out, "FAIL: 2 of 39 tensors failed") {
			t.Errorf("verdict:\n%s", out)
		}
	})

	t.Run("truncated", func(t *testing.T) {
		raw, err := os.ReadFile(fx.q8)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "truncated.gguf")
		if err := os.WriteFile(p, raw[:len(raw)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := qconv(t, "verify", p, "--against", fx.src)
		if code != exitFailure || !strings.Contains(stderr, "truncated.gguf") || !strings.Contains(stderr, "outside the file") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if err := os.WriteFile(p, []byte("GGUF\x03\x00\x00\x00"), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := qconv(t, "verify", p); code != exitFailure || !strings.Contains(stderr, "truncated.gguf") {
			t.Fatalf("short header: exit %d, stderr %q", code, stderr)
		}
	})

	t.Run("nan-scale", func(t *testing.T) {
		p := copyFile(t, fx.q8, filepath.Join(t.TempDir(), "nan.gguf"))
		off, _, _ := tensorAt(t, p, "blk.2.ffn_up.weight")
		patch(t, p, off+5*34, []byte{0x00, 0x7E}) // block 5: d = NaN
		code, out, stderr := qconv(t, "verify", p)
		wantFail(t, code, out, stderr, "blk.2.ffn_up.weight", "non-finite scale (first: block 5)")
		wantFail(t, code, out, stderr, "blk.2.ffn_up.weight", "32 non-finite values")
		code, out, stderr = qconv(t, "verify", p, "--against", fx.src)
		wantFail(t, code, out, stderr, "blk.2.ffn_up.weight", "non-finite scale")
		wantFail(t, code, out, stderr, "blk.2.ffn_up.weight", "where the source is finite")
		if !strings.Contains(out, "FAIL: 1 of 39") {
			t.Errorf("verdict:\n%s", out)
		}
	})

	t.Run("wrong-shape", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "shape.gguf")
		rewriteGGUF(t, fx.q8, p, func(ts []gguf.TensorInfo) []gguf.TensorInfo {
			for i := range ts {
				if ts[i].Name == "blk.0.attn_k.weight" { // [256 128] -> [128 256]: same bytes
					ts[i].Dims = []int64{ts[i].Dims[1], ts[i].Dims[0]}
				}
			}
			return ts
		})
		code, out, stderr := qconv(t, "verify", p, "--against", fx.src)
		wantFail(t, code, out, stderr, "blk.0.attn_k.weight", "dims [128 256] differ from the source's [256 128]")
	})

	t.Run("missing-and-extra", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "missing.gguf")
		rewriteGGUF(t, fx.q8, p, func(ts []gguf.TensorInfo) []gguf.TensorInfo {
			return slices.DeleteFunc(ts, func(ti gguf.TensorInfo) bool { return ti.Name == "blk.2.attn_v.weight" })
		})
		code, out, stderr := qconv(t, "verify", p, "--against", fx.src)
		wantFail(t, code, out, stderr, "blk.2.attn_v.weight", "in the source but not in the file")
		// The other way round the tensor is extra.
		code, out, stderr = qconv(t, "verify", fx.q8, "--against", p)
		wantFail(t, code, out, stderr, "blk.2.attn_v.weight", "in the file but not in the source")
	})

	t.Run("json", func(t *testing.T) {
		code, out, _ := qconv(t, "verify", fx.q4km, "--against", fx.src, "--json")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		var rep map[string]any
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		for _, k := range []string{"file", "against", "sample_rows", "thresholds", "fallback_threshold", "tensors", "summary"} {
			if _, ok := rep[k]; !ok {
				t.Errorf("no key %q", k)
			}
		}
		sum := rep["summary"].(map[string]any)
		if sum["tensors"] != 39.0 || sum["passed"] != 39.0 || sum["failed"] != 0.0 || sum["verdict"] != "PASS" {
			t.Errorf("summary %v", sum)
		}
		if th := rep["thresholds"].(map[string]any); th["q4_K"] != 0.13 || th["q6_K"] != 0.052 {
			t.Errorf("thresholds %v", th)
		}
		tensors := rep["tensors"].([]any)
		f, err := gguf.Open(fx.q4km)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for i, x := range tensors {
			tn := x.(map[string]any)
			if tn["name"] != f.Tensors()[i].Name {
				t.Fatalf("tensor %d is %v, not in file order", i, tn["name"])
			}
			for _, k := range []string{"type", "dims", "source_type", "status", "rows", "rows_checked", "stats", "compare", "threshold", "ratio"} {
				if _, ok := tn[k]; !ok {
					t.Errorf("%v: no key %q", tn["name"], k)
				}
			}
			cmp := tn["compare"].(map[string]any)
			for _, k := range []string{"count", "rmse", "max_abs_error", "rel_rmse", "cosine", "snr_db", "source_rms", "non_finite", "source_non_finite"} {
				if _, ok := cmp[k]; !ok {
					t.Errorf("%v: compare has no %q", tn["name"], k)
				}
			}
			// Exact F32 copies have an infinite SNR, written as a string.
			if tn["type"] == "f32" && cmp["snr_db"] != "+Inf" {
				t.Errorf("%v: snr_db %v, want \"+Inf\"", tn["name"], cmp["snr_db"])
			}
		}
		// A failing report is JSON too, with the failure spelled out.
		p := copyFile(t, fx.q8, filepath.Join(t.TempDir(), "nan.gguf"))
		off, _, _ := tensorAt(t, p, "output.weight")
		patch(t, p, off, []byte{0x00, 0x7E})
		code, out, _ = qconv(t, "verify", p, "--against", fx.src, "--json")
		var bad struct {
			Tensors []struct {
				Name     string
				Status   string
				Failures []struct {
					Metric  string
					Value   any
					Limit   any
					Message string
				}
			}
			Summary struct{ Failed int }
		}
		if code != exitFailure {
			t.Fatalf("exit %d", code)
		}
		if err := json.Unmarshal([]byte(out), &bad); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		if bad.Summary.Failed != 1 || bad.Tensors[0].Name != "output.weight" || bad.Tensors[0].Status != "fail" || len(bad.Tensors[0].Failures) != 2 || bad.Tensors[0].Failures[0].Metric != "bad_scales" {
			t.Errorf("failure report %+v", bad.Tensors[0])
		}
	})

	t.Run("max-error-override", func(t *testing.T) {
		code, out, stderr := qconv(t, "verify", fx.q8, "--against", fx.src, "--max-error", "Q8_0=0.001", "--max-error", "f32=0")
		wantFail(t, code, out, stderr, "blk.0.attn_q.weight", "exceeds 0.001 (q8_0)")
		if strings.Contains(out, "_norm.weight: ") {
			t.Errorf("exact f32 tensors should pass a threshold of 0:\n%s", out)
		}
		// The same through the environment (config binding).
		t.Setenv("QCONV_VERIFY_MAX_ERROR", "q8_0=0.001")
		if code, _, _ := qconv(t, "verify", fx.q8, "--against", fx.src); code != exitFailure {
			t.Errorf("QCONV_VERIFY_MAX_ERROR: exit %d", code)
		}
	})

	t.Run("sample", func(t *testing.T) {
		var first string
		for _, j := range []string{"1", "2"} {
			code, out, _ := qconv(t, "verify", fx.q4km, "--against", fx.src, "--json", "--sample", "7", "-j", j)
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			if first == "" {
				first = out
			} else if out != first {
				t.Fatal("--sample reports differ between -j 1 and -j 2")
			}
		}
		var rep struct {
			SampleRows int64 `json:"sample_rows"`
			Tensors    []struct {
				Name        string
				Rows        int64
				RowsChecked int64 `json:"rows_checked"`
			}
		}
		json.Unmarshal([]byte(first), &rep)
		if rep.SampleRows != 7 {
			t.Errorf("sample_rows %d", rep.SampleRows)
		}
		for _, tn := range rep.Tensors {
			if want := min(tn.Rows, 7); tn.RowsChecked != want {
				t.Errorf("%s: %d of %d rows checked, want %d", tn.Name, tn.RowsChecked, tn.Rows, want)
			}
		}
	})

	t.Run("skipped-type", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "i32.gguf")
		ints := make([]byte, 4*8) // an i32 tensor: not a weight type, not dequantized
		norm := binary.LittleEndian.AppendUint32(nil, 0x3F800000)
		infos := []gguf.TensorInfo{{Name: "w", Type: gguf.TypeI32, Dims: []int64{8}}, {Name: "n", Type: gguf.TypeF32, Dims: []int64{1}}}
		writeGGUF(t, p, nil, infos, [][]byte{ints, norm})
		code, out, stderr := qconv(t, "verify", p)
		if code != 0 || !strings.Contains(out, "skipped: cannot dequantize i32") || !strings.Contains(out, "PASS: 1 tensors with finite values and scales, 1 skipped") {
			t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
		}
		// An iq2_xxs tensor with an infinite block scale fails.
		p = filepath.Join(t.TempDir(), "iq2.gguf")
		iq := make([]byte, 2*66) // two iq2_xxs blocks
		infos = []gguf.TensorInfo{{Name: "w", Type: gguf.TypeIQ2_XXS, Dims: []int64{256, 2}}, {Name: "n", Type: gguf.TypeF32, Dims: []int64{1}}}
		binary.LittleEndian.PutUint16(iq[66:], 0x7C00)
		writeGGUF(t, p, nil, infos, [][]byte{iq, norm})
		code, out, stderr = qconv(t, "verify", p)
		wantFail(t, code, out, stderr, "w", "1 block with a non-finite scale (first: block 1)")
	})

	t.Run("usage-and-io-errors", func(t *testing.T) {
		dir := t.TempDir()
		for _, args := range [][]string{
			{"verify", filepath.Join(dir, "nonexistent.gguf")},
			{"verify", dir},
			{"verify", fx.q8, "--against", filepath.Join(dir, "nonexistent.gguf")},
			{"verify", fx.q8, "--max-error", "q8_0"},
			{"verify", fx.q8, "--max-error", "nosuchtype=0.1"},
			{"verify", fx.q8, "--max-error", "q8_0=-1"},
			{"verify", fx.q8, "--sample", "-1"},
			{"verify", fx.q8, "-j", "0"},
			{"verify"},
		} {
			code, _, stderr := qconv(t, args...)
			if code != exitUsage || !strings.HasPrefix(stderr, "qconv: ") {
				t.Errorf("%v: exit %d, stderr %q", args[1:], code, stderr)
			}
		}
		if os.Geteuid() != 0 {
			p := copyFile(t, fx.q8, filepath.Join(dir, "unreadable.gguf"))
			if err := os.Chmod(p, 0); err != nil {
				t.Fatal(err)
			}
			if code, _, stderr := qconv(t, "verify", p); code != exitUsage {
				t.Errorf("unreadable file: exit %d, stderr %q", code, stderr)
			}
		}
	})
}
