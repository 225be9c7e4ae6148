package kernels

import (
	"bufio"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/sharedfiles"
)

// golden is one ../shared/golden/data/*.qgld file: rows quantized by ggml
// and ggml's own dequantization of them (layout in the folder's README).
type golden struct {
	name       string
	typ        gguf.Type
	rows, cols int
	quant      []byte
	deq        []float32
}

func loadGolden(t testing.TB, path string) *golden {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if len(b) < 24 || string(b[:4]) != "QGLD" || le.Uint32(b[4:]) != 1 {
		t.Fatalf("%s: not a QGLD v1 file", path)
	}
	g := &golden{name: filepath.Base(path), typ: gguf.Type(le.Uint32(b[8:]))}
	g.rows, g.cols = int(le.Uint32(b[12:])), int(le.Uint32(b[16:]))
	n := g.rows * g.cols
	off := 24 + 4*n
	if le.Uint32(b[20:]) == 1 {
		off += 4 * g.cols
	}
	nq := int(le.Uint64(b[off:]))
	off += 8
	g.quant = b[off : off+nq]
	off += nq
	if off+4*n != len(b) {
		t.Fatalf("%s: size mismatch", path)
	}
	g.deq = make([]float32, n)
	for i := range g.deq {
		g.deq[i] = math.Float32frombits(le.Uint32(b[off+4*i:]))
	}
	return g
}

// goldenFiles returns every golden file (all types, all variants).
func goldenFiles(t testing.TB) []string {
	dir := sharedfiles.Path(t, "golden", "data")
	files, err := filepath.Glob(filepath.Join(dir, "*.qgld"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in %s", dir)
	}
	return files
}

// TestDequantGolden checks the block decoders: on amd64 (no FMA
// contraction) the float path must reproduce ggml's to_float bit for bit,
// elsewhere within an ulp-sized tolerance.
func TestDequantGolden(t *testing.T) {
	for _, f := range goldenFiles(t) {
		g := loadGolden(t, f)
		info, ok := typeInfos()[g.typ]
		if !ok {
			t.Errorf("%s: type %s has no decoder", g.name, g.typ)
			continue
		}
		got := make([]float32, len(g.deq))
		rb := g.cols / g.typ.BlockSize() * g.typ.BlockBytes()
		for r := range g.rows {
			info.toFloat(got[r*g.cols:(r+1)*g.cols], g.quant[r*rb:(r+1)*rb])
		}
		bad := 0
		for i, v := range got {
			w := g.deq[i]
			if v == w || math.Float32bits(v) == math.Float32bits(w) {
				continue
			}
			if !exactFloat && math.Abs(float64(v-w)) <= 1e-6*math.Abs(float64(w)) {
				continue
			}
			if bad++; bad <= 3 {
				t.Errorf("%s: value %d (row %d): got %g, ggml %g", g.name, i, i/g.cols, v, w)
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d values differ", g.name, bad, len(got))
		}
	}
}

// exactFloat is whether Go keeps every float32 product and sum separately
// rounded here (the compiler fuses x*y+z on arm64, ppc64le, s390x, riscv64).
var exactFloat = runtime.GOARCH == "amd64" || runtime.GOARCH == "386" || runtime.GOARCH == "wasm"

// TestVecDotGolden compares the quantized-activation path with ggml's CPU
// vec_dot on the golden rows (../shared/golden/dots.tsv). Both quantize
// the same activation row to the partner type, so they differ only in
// float summation order: the bound is relative to ‖w‖·‖x‖, as the
// golden README recommends.
func TestVecDotGolden(t *testing.T) {
	dots := readDots(t)
	for _, f := range goldenFiles(t) {
		if !strings.Contains(f, ".ref.") {
			continue
		}
		g := loadGolden(t, f)
		act := readAct(t, g.cols)
		var xnorm float64
		for _, v := range act {
			xnorm += float64(v) * float64(v)
		}
		xnorm = math.Sqrt(xnorm)
		rb := g.cols / g.typ.BlockSize() * g.typ.BlockBytes()
		// Measured: <= 6e-8 for every type (Q4_1/Q5_1 too, since s of
		// Q8_1 is formed and rounded as ggml does it).
		const tol = 1e-6
		for _, tier := range Tiers() {
			worst := 0.0
			for r := range g.rows {
				want, ok := dots[dotKey{g.cols, g.typ.String(), r}]
				if !ok {
					t.Fatalf("%s row %d: not in dots.tsv", g.name, r)
				}
				m := &Matrix{Type: g.typ, Rows: 1, Cols: g.cols, Data: g.quant[r*rb : (r+1)*rb]}
				var y [1]float32
				MatMul(y[:], act, 1, m, Options{Threads: 1, Tier: tier})
				var wnorm float64
				for _, v := range g.deq[r*g.cols : (r+1)*g.cols] {
					wnorm += float64(v) * float64(v)
				}
				den := math.Sqrt(wnorm) * xnorm
				if den == 0 {
					if y[0] != 0 {
						t.Errorf("%s row %d tier %s: zero row gave %g", g.name, r, tier, y[0])
					}
					continue
				}
				e := math.Abs(float64(y[0])-want) / den
				worst = max(worst, e)
				if e > tol {
					t.Errorf("%s row %d tier %s: got %.9g, ggml vec_dot %.9g (err %.2g of |w||x|)", g.name, r, tier, y[0], want, e)
				}
			}
			t.Logf("%-28s tier %-6s max |y-ggml|/(|w||x|) = %.2g", g.name, tier, worst)
		}
	}
}

type dotKey struct {
	cols int
	typ  string
	row  int
}

func readDots(t *testing.T) map[dotKey]float64 {
	f, err := os.Open(sharedfiles.Path(t, "golden", "dots.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[dotKey]float64{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header: shape type row act_type vec_dot_result ...
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		cols, _ := strconv.Atoi(c[0])
		row, _ := strconv.Atoi(c[2])
		v, err := strconv.ParseFloat(c[4], 64)
		if err != nil {
			t.Fatal(err)
		}
		out[dotKey{cols, c[1], row}] = v
	}
	return out
}

func readAct(t *testing.T, n int) []float32 {
	b, err := os.ReadFile(sharedfiles.Path(t, "golden", "vecdot_act."+strconv.Itoa(n)+".f32"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 4*n {
		t.Fatalf("vecdot_act.%d.f32: %d bytes", n, len(b))
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}
