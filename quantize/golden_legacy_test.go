package quantize

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/sharedfiles"
)

// Golden tests for the legacy, IQ4 and ternary types: the quantized bytes
// must equal ggml's byte for byte and the dequantized floats bit for bit.

func TestGoldenLegacy(t *testing.T) {
	testGoldenTypes(t, "q4_0", "q4_1", "q5_0", "q5_1", "q8_0")
}

func TestGoldenIQ4(t *testing.T) { testGoldenTypes(t, "iq4_nl", "iq4_xs") }

func TestGoldenTernary(t *testing.T) { testGoldenTypes(t, "tq1_0", "tq2_0") }

func testGoldenTypes(t *testing.T, names ...string) {
	cases := loadGoldenCases(t)
	for _, name := range names {
		files := goldenFiles(t, name)
		if len(files) == 0 {
			t.Errorf("no golden files for %s", name)
		}
		for _, p := range files {
			t.Run(filepath.Base(p), func(t *testing.T) {
				checkGoldenFile(t, loadGolden(t, p), cases)
			})
		}
	}
}

// goldenCase is one line of golden/cases.tsv.
type goldenCase struct {
	cols, first, last int
	name              string
}

type goldenCases []goldenCase

func loadGoldenCases(t *testing.T) goldenCases {
	t.Helper()
	f, err := os.Open(sharedfiles.Path(t, "golden", "cases.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out goldenCases
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) < 6 || fs[0] == "shape" {
			continue
		}
		cols, _ := strconv.Atoi(fs[2])
		first, _ := strconv.Atoi(fs[3])
		last, _ := strconv.Atoi(fs[4])
		out = append(out, goldenCase{cols, first, last, fs[5]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (cs goldenCases) name(cols, row int) string {
	for _, c := range cs {
		if c.cols == cols && row >= c.first && row <= c.last {
			return c.name
		}
	}
	return "?"
}

// iq4nlRefUndefined reports whether quantize_row_iq4_nl_ref leaves the qs
// nibbles of this block undefined (max|x| < GROUP_MAX_EPS; see the golden
// README): only d is compared there, and the values up to the sign of zero.
func iq4nlRefUndefined(g *goldenFile, x []float32) bool {
	if g.Type != gguf.TypeIQ4_NL || g.Variant != "ref" {
		return false
	}
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	return amax < groupMaxEps
}

func checkGoldenFile(t *testing.T, g *goldenFile, cases goldenCases) {
	tr, ok := Lookup(g.Type)
	if !ok || tr.QuantizeRow == nil {
		t.Fatalf("%s: type %v not registered", g.Path, g.Type)
	}
	var imatrix []float32
	useRef := false
	switch g.Variant {
	case "ref":
		useRef = tr.QuantizeRowRef != nil
	case "chunk":
	case "imat":
		if g.Imatrix == nil {
			t.Fatalf("%s: imat file without importance vector", g.Path)
		}
		imatrix = g.Imatrix
	default:
		t.Fatalf("%s: unknown variant %q", g.Path, g.Variant)
	}
	rb := tr.RowBytes(g.Cols)
	if len(g.Quant) != g.Rows*rb {
		t.Fatalf("%s: %d quantized bytes, want %d", g.Path, len(g.Quant), g.Rows*rb)
	}
	got := make([]byte, rb)
	deq := make([]float32, g.Cols)
	badBlocks, badValues := 0, 0
	for r := 0; r < g.Rows; r++ {
		src := g.Input[r*g.Cols : (r+1)*g.Cols]
		want := g.Quant[r*rb : (r+1)*rb]
		if useRef {
			tr.QuantizeRowRef(got, src)
		} else {
			tr.QuantizeRow(got, src, imatrix)
		}
		for b := 0; b < g.Cols/tr.BlockSize; b++ {
			gb := got[b*tr.BlockBytes : (b+1)*tr.BlockBytes]
			wb := want[b*tr.BlockBytes : (b+1)*tr.BlockBytes]
			x := src[b*tr.BlockSize : (b+1)*tr.BlockSize]
			if iq4nlRefUndefined(g, x) {
				gb, wb = gb[:2], wb[:2] // only d is defined
			}
			if string(gb) != string(wb) {
				if badBlocks == 0 {
					t.Errorf("%s: first differing block: row %d (case %s) block %d\n got  %x\n want %x",
						filepath.Base(g.Path), r, cases.name(g.Cols, r), b, gb, wb)
				}
				badBlocks++
			}
		}
		// Our own output must never hold a non-finite value.
		tr.DequantizeRow(deq, got)
		for i, v := range deq {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("row %d element %d: quantized output dequantizes to %v", r, i, v)
			}
		}
		// Dequantize ggml's bytes; compare bit for bit.
		tr.DequantizeRow(deq, want)
		wantDeq := g.Dequant[r*g.Cols : (r+1)*g.Cols]
		for i, v := range deq {
			w := wantDeq[i]
			same := math.Float32bits(v) == math.Float32bits(w)
			if !same && v == 0 && w == 0 && iq4nlRefUndefined(g, src[i/tr.BlockSize*tr.BlockSize:][:tr.BlockSize]) {
				same = true
			}
			if !same {
				if badValues == 0 {
					t.Errorf("%s: first differing dequantized value: row %d (case %s) element %d: got %v (%#08x), want %v (%#08x)",
						filepath.Base(g.Path), r, cases.name(g.Cols, r), i, v, math.Float32bits(v), w, math.Float32bits(w))
				}
				badValues++
			}
		}
	}
	if badBlocks > 0 || badValues > 0 {
		t.Errorf("%s: %d of %d blocks differ, %d dequantized values differ", filepath.Base(g.Path),
			badBlocks, g.Rows*g.Cols/tr.BlockSize, badValues)
	}
}
