package quantize

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/sharedfiles"
)

// kGoldenCase maps a row range of one golden shape to its input case
// (golden/cases.tsv).
type kGoldenCase struct {
	cols, first, last int
	name              string
}

func kLoadCases(t *testing.T) []kGoldenCase {
	t.Helper()
	f, err := os.Open(sharedfiles.Path(t, "golden", "cases.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []kGoldenCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) < 6 || fs[0] == "shape" {
			continue
		}
		cols, err1 := strconv.Atoi(fs[2])
		first, err2 := strconv.Atoi(fs[3])
		last, err3 := strconv.Atoi(fs[4])
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("cases.tsv: bad line %q", sc.Text())
		}
		out = append(out, kGoldenCase{cols, first, last, fs[5]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func kCaseName(cases []kGoldenCase, cols, row int) string {
	for _, c := range cases {
		if c.cols == cols && row >= c.first && row <= c.last {
			return c.name
		}
	}
	return "?"
}

// TestGoldenKQuants checks every ref and imat golden file of Q2_K..Q6_K:
// the quantized bytes byte for byte and the dequantized values bit for bit.
func TestGoldenKQuants(t *testing.T) {
	cases := kLoadCases(t)
	for _, name := range []string{"q2_k", "q3_k", "q4_k", "q5_k", "q6_k"} {
		files := goldenFiles(t, name)
		if len(files) == 0 {
			t.Errorf("%s: no golden files", name)
		}
		for _, path := range files {
			g := loadGolden(t, path)
			t.Run(strings.TrimSuffix(path[strings.LastIndex(path, "/")+1:], ".qgld"), func(t *testing.T) {
				kCheckGolden(t, g, cases)
			})
		}
	}
}

func kCheckGolden(t *testing.T, g *goldenFile, cases []kGoldenCase) {
	tr, ok := Lookup(g.Type)
	if !ok || tr.QuantizeRow == nil {
		t.Fatalf("type %v not registered", g.Type)
	}
	var im []float32
	switch g.Variant {
	case "ref":
	case "imat":
		im = g.Imatrix
		if im == nil {
			t.Fatal("imat file without importance matrix")
		}
	default:
		t.Skipf("variant %q not covered here", g.Variant)
	}
	rb := tr.RowBytes(g.Cols)
	if len(g.Quant) != g.Rows*rb {
		t.Fatalf("golden has %d bytes, want %d", len(g.Quant), g.Rows*rb)
	}
	got := make([]byte, rb)
	bad := 0
	for r := 0; r < g.Rows; r++ {
		tr.QuantizeRow(got, g.Input[r*g.Cols:(r+1)*g.Cols], im)
		want := g.Quant[r*rb : (r+1)*rb]
		for i := range got {
			if got[i] != want[i] {
				blk := i / tr.BlockBytes
				if bad < 8 {
					t.Errorf("row %d (case %s) block %d: first differing byte %d of the block: got %#02x want %#02x\n got  block %x\n want block %x",
						r, kCaseName(cases, g.Cols, r), blk, i%tr.BlockBytes, got[i], want[i],
						got[blk*tr.BlockBytes:(blk+1)*tr.BlockBytes], want[blk*tr.BlockBytes:(blk+1)*tr.BlockBytes])
				}
				bad++
				break
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d rows differ", bad, g.Rows)
	}

	// Dequantize the golden bytes.
	deq := make([]float32, g.Cols)
	badDeq := 0
	for r := 0; r < g.Rows; r++ {
		tr.DequantizeRow(deq, g.Quant[r*rb:(r+1)*rb])
		want := g.Dequant[r*g.Cols : (r+1)*g.Cols]
		for j := range deq {
			if math.Float32bits(deq[j]) != math.Float32bits(want[j]) {
				if badDeq < 8 {
					t.Errorf("dequant row %d (case %s) element %d (block %d): got %g (%#08x) want %g (%#08x)",
						r, kCaseName(cases, g.Cols, r), j, j/tr.BlockSize, deq[j], math.Float32bits(deq[j]), want[j], math.Float32bits(want[j]))
				}
				badDeq++
				break
			}
			if f := float64(deq[j]); math.IsNaN(f) || math.IsInf(f, 0) {
				t.Errorf("dequant row %d element %d is not finite", r, j)
			}
		}
	}
	if badDeq > 0 {
		t.Errorf("%d of %d rows dequantize differently", badDeq, g.Rows)
	}
}

func TestNearestInt(t *testing.T) {
	cases := []struct {
		f    float32
		want int32
	}{
		{0, 0}, {float32(math.Copysign(0, -1)), 0},
		{0.49999997, 0}, {0.5, 0}, {0.50000006, 1},
		{1.5, 2}, {2.5, 2}, {3.5, 4}, {-0.5, 0}, {-1.5, -2}, {-2.5, -2}, {-3.5, -4},
		{1.4, 1}, {1.6, 2}, {-1.4, -1}, {-1.6, -2},
		{127.5, 128}, {-128.5, -128}, {4194303, 4194303}, {-4194303, -4194303},
		{1e-30, 0}, {-1e-30, 0},
	}
	for _, c := range cases {
		if got := nearestInt(c.f); got != c.want {
			t.Errorf("nearestInt(%v) = %d, want %d", c.f, got, c.want)
		}
	}
	// Against math.RoundToEven on a sweep of values with exact halves.
	for i := -20000; i <= 20000; i++ {
		f := float32(i) * 0.25
		if got, want := nearestInt(f), int32(math.RoundToEven(float64(f))); got != want {
			t.Fatalf("nearestInt(%v) = %d, want %d", f, got, want)
		}
	}
}

// TestQ8K checks quantize_row_q8_K_ref on hand-computed values.
func TestQ8K(t *testing.T) {
	tr, ok := Lookup(gguf.TypeQ8_K)
	if !ok || tr.Imatrix != ImatrixIgnored {
		t.Fatal("q8_K not registered as imatrix-ignoring")
	}
	x := make([]float32, 256)
	// max |x| is -2 (negative): iscale = -127/-2 = 63.5, d = 1/63.5.
	x[0] = -2
	x[1] = 1      // 63.5 -> 64 (tie to even)
	x[2] = 0.5    // 31.75 -> 32
	x[3] = -1     // -63.5 -> -64 (tie to even)
	x[16] = 2     // 127
	x[17] = 0.01  // 0.635 -> 1
	x[255] = -0.3 // -19.05 -> -19
	dst := make([]byte, q8KBytes)
	tr.QuantizeRow(dst, x, []float32{1}) // imatrix ignored
	d := math.Float32frombits(uint32(dst[0]) | uint32(dst[1])<<8 | uint32(dst[2])<<16 | uint32(dst[3])<<24)
	if want := 1 / float32(63.5); d != want {
		t.Errorf("d = %g, want %g", d, want)
	}
	wantQ := map[int]int8{0: -127, 1: 64, 2: 32, 3: -64, 16: 127, 17: 1, 255: -19}
	for j := 0; j < 256; j++ {
		if got := int8(dst[4+j]); got != wantQ[j] {
			t.Errorf("qs[%d] = %d, want %d", j, got, wantQ[j])
		}
	}
	bs := func(j int) int16 { return int16(uint16(dst[260+2*j]) | uint16(dst[261+2*j])<<8) }
	if bs(0) != -127+64+32-64 || bs(1) != 128 || bs(15) != -19 || bs(7) != 0 {
		t.Errorf("bsums = %d %d %d %d", bs(0), bs(1), bs(7), bs(15))
	}
	y := make([]float32, 256)
	tr.DequantizeRow(y, dst)
	if y[1] != d*64 || y[0] != d*-127 || y[5] != 0 {
		t.Errorf("dequant: %v %v %v", y[0], y[1], y[5])
	}
	// The sign of iscale follows the extreme: a positive maximum x = 3
	// gives iscale = -127/3 and code -127.
	clear(x)
	x[0] = 3
	tr.QuantizeRow(dst, x, nil)
	if int8(dst[4]) != -127 {
		t.Errorf("positive max: qs[0] = %d, want -127", int8(dst[4]))
	}
	// All zero: everything zero.
	clear(x)
	for i := range dst {
		dst[i] = 0xAA
	}
	tr.QuantizeRow(dst, x, nil)
	for i, b := range dst {
		if b != 0 {
			t.Fatalf("zero block: byte %d = %#x", i, b)
		}
	}
}

// TestKQuantsNoAlloc makes sure the row quantizers do not allocate.
func TestKQuantsNoAlloc(t *testing.T) {
	src, im := kBenchData(4096)
	for _, typ := range []gguf.Type{gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K, gguf.TypeQ8_K} {
		tr, _ := Lookup(typ)
		dst := make([]byte, tr.RowBytes(len(src)))
		deq := make([]float32, len(src))
		for _, w := range [][]float32{nil, im} {
			if n := testing.AllocsPerRun(3, func() { tr.QuantizeRow(dst, src, w) }); n != 0 {
				t.Errorf("%s: %v allocations per row", tr.Name, n)
			}
		}
		if n := testing.AllocsPerRun(3, func() { tr.DequantizeRow(deq, dst) }); n != 0 {
			t.Errorf("%s dequantize: %v allocations per row", tr.Name, n)
		}
	}
}

func kBenchData(n int) (src, im []float32) {
	rng := rand.New(rand.NewPCG(1, 2))
	src = make([]float32, n)
	im = make([]float32, n)
	for i := range src {
		src[i] = float32(rng.NormFloat64() * 0.02)
		im[i] = float32(math.Exp(rng.NormFloat64()))
	}
	return src, im
}

var kBenchTypes = []gguf.Type{gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K, gguf.TypeQ8_K}

func BenchmarkQuantizeK(b *testing.B) {
	src, im := kBenchData(4096)
	for _, typ := range kBenchTypes {
		tr, _ := Lookup(typ)
		dst := make([]byte, tr.RowBytes(len(src)))
		for _, v := range []struct {
			name string
			w    []float32
		}{{"", nil}, {"/imatrix", im}} {
			if v.w != nil && tr.Imatrix == ImatrixIgnored {
				continue
			}
			b.Run(fmt.Sprintf("type=%s%s", tr.Name, v.name), func(b *testing.B) {
				b.SetBytes(int64(4 * len(src)))
				for b.Loop() {
					tr.QuantizeRow(dst, src, v.w)
				}
			})
		}
	}
}

func BenchmarkDequantizeK(b *testing.B) {
	src, _ := kBenchData(4096)
	for _, typ := range kBenchTypes {
		tr, _ := Lookup(typ)
		q := make([]byte, tr.RowBytes(len(src)))
		tr.QuantizeRow(q, src, nil)
		deq := make([]float32, len(src))
		b.Run("type="+tr.Name, func(b *testing.B) {
			b.SetBytes(int64(len(q)))
			for b.Loop() {
				tr.DequantizeRow(deq, q)
			}
		})
	}
}

func TestKQuantTraits(t *testing.T) {
	for _, c := range []struct {
		typ gguf.Type
		use ImatrixUse
	}{
		{gguf.TypeQ2_K, ImatrixOptional}, {gguf.TypeQ3_K, ImatrixOptional}, {gguf.TypeQ4_K, ImatrixOptional},
		{gguf.TypeQ5_K, ImatrixOptional}, {gguf.TypeQ6_K, ImatrixOptional}, {gguf.TypeQ8_K, ImatrixIgnored},
	} {
		tr, ok := Lookup(c.typ)
		if !ok || tr.QuantizeRow == nil || tr.DequantizeRow == nil || tr.QuantizeRowRef != nil {
			t.Fatalf("%v: traits missing or incomplete", c.typ)
		}
		if tr.Imatrix != c.use {
			t.Errorf("%s: imatrix use %v, want %v", tr.Name, tr.Imatrix, c.use)
		}
	}
}

// TestMakeQkx3DefaultWeights checks that nil weights mean x², as in ggml.
func TestMakeQkx3DefaultWeights(t *testing.T) {
	src, _ := kBenchData(32)
	w := make([]float32, 32)
	for i, v := range src {
		w[i] = v * v
	}
	var L1, L2 [32]uint8
	var m1, m2 float32
	s1 := makeQkx3Quants(32, 15, src, nil, L1[:], &m1, -0.9, 0.05, 36, false)
	s2 := makeQkx3Quants(32, 15, src, w, L2[:], &m2, -0.9, 0.05, 36, false)
	if s1 != s2 || m1 != m2 || L1 != L2 {
		t.Errorf("nil weights: %v %v %v, explicit x²: %v %v %v", s1, m1, L1, s2, m2, L2)
	}
	// A constant positive group: min clamps to 0, so it is not degenerate.
	for i := range src {
		src[i] = 0.5
	}
	if s := makeQkx3Quants(32, 15, src, nil, L1[:], &m1, -0.9, 0.05, 36, false); s <= 0 || m1 != 0 {
		t.Errorf("constant group: scale %v min %v", s, m1)
	}
	// All zero: scale 0, codes 0.
	clear(src)
	if s := makeQkx2Quants(32, 15, src, w, L1[:], &m1, -1, 0.1, 20, false); s != 0 || L1 != [32]uint8{} {
		t.Errorf("zero group: scale %v codes %v", s, L1)
	}
}
