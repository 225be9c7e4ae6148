package verify

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/quantize"
)

func near(a Float, b float64) bool {
	x := float64(a)
	if math.IsInf(b, 0) || math.IsNaN(b) {
		return x == b || (math.IsNaN(x) && math.IsNaN(b))
	}
	return math.Abs(x-b) <= 1e-12*max(1, math.Abs(b))
}

func TestAccumulatorHandValues(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	cases := []struct {
		name      string
		want, got []float32
		exp       Comparison
	}{
		{
			// err² = 1, Σwant² = 30, Σgot² = 39, Σgot·want = 34.
			name: "one-off", want: []float32{1, 2, 3, 4}, got: []float32{1, 2, 3, 5},
			exp: Comparison{Count: 4, RMSE: 0.5, MaxAbsError: 1, RelRMSE: Float(math.Sqrt(1.0 / 30)),
				Cosine: Float(34 / math.Sqrt(30*39)), SNRdB: Float(10 * math.Log10(30)), SourceRMS: Float(math.Sqrt(7.5))},
		},
		{
			// got = -want: err = 2·want, so rel 2, cosine -1, SNR 10·log10(1/4).
			name: "negated", want: []float32{3, -4}, got: []float32{-3, 4},
			exp: Comparison{Count: 2, RMSE: 10 / math.Sqrt2, MaxAbsError: 8, RelRMSE: 2, Cosine: -1,
				SNRdB: Float(10 * math.Log10(0.25)), SourceRMS: Float(5 / math.Sqrt2)},
		},
		{
			name: "exact", want: []float32{0.5, -0.25}, got: []float32{0.5, -0.25},
			exp: Comparison{Count: 2, Cosine: 1, SNRdB: Float(math.Inf(1)), SourceRMS: Float(math.Sqrt(0.3125 / 2))},
		},
		{
			name: "zero-source", want: []float32{0, 0}, got: []float32{0, 2},
			exp: Comparison{Count: 2, RMSE: Float(math.Sqrt2), MaxAbsError: 2, RelRMSE: Float(math.Inf(1)), Cosine: 0, SNRdB: Float(math.Inf(-1))},
		},
		{
			name: "all-zero", want: []float32{0, 0}, got: []float32{0, 0},
			exp: Comparison{Count: 2, Cosine: 1, SNRdB: Float(math.Inf(1))},
		},
		{
			// Pairs with a non-finite value are counted, not summed: only
			// (2, 3) is compared.
			name: "non-finite", want: []float32{1, nan, 2, inf}, got: []float32{inf, 0, 3, inf},
			exp: Comparison{Count: 1, RMSE: 1, MaxAbsError: 1, RelRMSE: 0.5, Cosine: 1, SNRdB: Float(10 * math.Log10(4)),
				SourceRMS: 2, NonFinite: 1, SourceNonFinite: 2},
		},
		{
			// float64 sums do not overflow where float32 would.
			name: "huge", want: []float32{1e30, 0}, got: []float32{3e38, 0},
			exp: Comparison{Count: 2, RMSE: Float(math.Sqrt((3e38 - float64(float32(1e30))) * (3e38 - float64(float32(1e30))) / 2)),
				MaxAbsError: Float(float64(float32(3e38)) - float64(float32(1e30))), Cosine: 1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var a Accumulator
			a.Add(c.want, c.got)
			got := a.Comparison()
			if c.name == "huge" { // checked loosely: the exact float32 inputs differ from the literals
				if math.Abs(float64(got.RMSE)/float64(c.exp.RMSE)-1) > 1e-6 || got.Cosine != 1 || math.IsInf(float64(got.RelRMSE), 0) {
					t.Errorf("%+v", got)
				}
				return
			}
			if got.Count != c.exp.Count || got.NonFinite != c.exp.NonFinite || got.SourceNonFinite != c.exp.SourceNonFinite ||
				!near(got.RMSE, float64(c.exp.RMSE)) || !near(got.MaxAbsError, float64(c.exp.MaxAbsError)) ||
				!near(got.RelRMSE, float64(c.exp.RelRMSE)) || !near(got.Cosine, float64(c.exp.Cosine)) ||
				!near(got.SNRdB, float64(c.exp.SNRdB)) || !near(got.SourceRMS, float64(c.exp.SourceRMS)) {
				t.Errorf("got  %+v\nwant %+v", got, c.exp)
			}
		})
	}
}

func TestAccumulatorMerge(t *testing.T) {
	want := []float32{1, 2, 3, 4, -5, 6}
	got := []float32{1.5, 2, 2, 4, -5.5, 7}
	var whole, a, b Accumulator
	whole.Add(want, got)
	a.Add(want[:2], got[:2])
	b.Add(want[2:], got[2:])
	a.Merge(&b)
	if a.Comparison() != whole.Comparison() {
		t.Errorf("merged %+v, whole %+v", a.Comparison(), whole.Comparison())
	}
}

func TestStats(t *testing.T) {
	var s statsAcc
	s.add([]float32{3, -4, float32(math.NaN())})
	st := s.stats()
	if st.Count != 2 || st.NonFinite != 1 || !near(st.RMS, math.Sqrt(12.5)) || st.MaxAbs != 4 || st.FirstBadBlock != -1 {
		t.Errorf("%+v", st)
	}
}

func TestFloatJSON(t *testing.T) {
	in := []Float{1.5, 0, -2e-7, Float(math.NaN()), Float(math.Inf(1)), Float(math.Inf(-1))}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `[1.5,0,-2e-07,"NaN","+Inf","-Inf"]` {
		t.Errorf("encoded %s", b)
	}
	var out []Float
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if !near(out[i], float64(in[i])) {
			t.Errorf("%d: %v round-trips to %v", i, in[i], out[i])
		}
	}
	if err := json.Unmarshal([]byte(`["x"]`), &out); err == nil {
		t.Error(`"x" decoded as a Float`)
	}
}

func TestCheckScales(t *testing.T) {
	f16 := func(b []byte, off int, bits uint16) { binary.LittleEndian.PutUint16(b[off:], bits) }
	// Q8_0: d at 0 of each 34-byte block.
	q8 := make([]byte, 4*34)
	f16(q8, 0, 0x3C00)      // 1.0: fine
	f16(q8, 34, 0x7E00)     // NaN
	f16(q8, 2*34, 0x7BFF)   // 65504: finite
	f16(q8, 3*34, 0xFC00)   // -Inf
	f16(q8, 3*34+2, 0x7C00) // a quant byte, not a scale: ignored
	if bad, first := CheckScales(gguf.TypeQ8_0, q8); bad != 2 || first != 1 {
		t.Errorf("q8_0: %d bad, first %d; want 2, 1", bad, first)
	}
	cases := []struct {
		typ  gguf.Type
		off  int
		bits []byte
	}{
		{gguf.TypeQ2_K, 82, []byte{0x00, 0x7C}}, // dmin = +Inf
		{gguf.TypeQ3_K, 108, []byte{0x01, 0x7C}},
		{gguf.TypeQ4_1, 2, []byte{0x00, 0xFE}}, // m = NaN
		{gguf.TypeQ4_K, 2, []byte{0x00, 0x7E}},
		{gguf.TypeQ6_K, 208, []byte{0x00, 0x7E}},
		{gguf.TypeTQ1_0, 52, []byte{0x00, 0x7E}},
		{gguf.TypeTQ2_0, 64, []byte{0x00, 0x7E}},
		{gguf.TypeQ8_K, 0, []byte{0x00, 0x00, 0xC0, 0x7F}}, // f32 NaN
		{gguf.TypeMXFP4, 0, []byte{0xFF}},                  // e8m0 NaN
	}
	for _, c := range cases {
		bb := c.typ.BlockBytes()
		data := make([]byte, 3*bb)
		copy(data[2*bb+c.off:], c.bits)
		if bad, first := CheckScales(c.typ, data); bad != 1 || first != 2 {
			t.Errorf("%s: %d bad, first %d; want 1, 2", c.typ, bad, first)
		}
		// All-zero blocks pass.
		clear(data)
		if bad, _ := CheckScales(c.typ, data); bad != 0 {
			t.Errorf("%s: zero blocks reported bad", c.typ)
		}
	}
	if bad, first := CheckScales(gguf.TypeF16, []byte{0x00, 0x7E}); bad != 0 || first != -1 || HasScaleCheck(gguf.TypeF16) {
		t.Error("f16 has no block scales")
	}
}

func TestSampleRows(t *testing.T) {
	all := SampleRows("x", 5, 0)
	if !slices.Equal(all, []int64{0, 1, 2, 3, 4}) || !slices.Equal(SampleRows("x", 5, 9), all) {
		t.Errorf("every row: %v", all)
	}
	a := SampleRows("blk.0.attn_q.weight", 1000, 50)
	if !slices.Equal(a, SampleRows("blk.0.attn_q.weight", 1000, 50)) {
		t.Error("not deterministic")
	}
	if slices.Equal(a, SampleRows("blk.1.attn_q.weight", 1000, 50)) {
		t.Error("two names drew the same rows")
	}
	if len(a) != 50 || !slices.IsSorted(a) || a[0] < 0 || a[49] >= 1000 || len(slices.Compact(slices.Clone(a))) != 50 {
		t.Errorf("not 50 distinct sorted rows in range: %v", a)
	}
	// The draw is spread over the tensor, not a prefix.
	if a[49] < 500 || a[0] > 500 {
		t.Errorf("rows %d..%d", a[0], a[49])
	}
}

func TestSpans(t *testing.T) {
	got := spans("x", 10, 0, 4)
	if !slices.Equal(got, []span{{0, 4}, {4, 4}, {8, 2}}) {
		t.Errorf("every row: %v", got)
	}
	var rows int64
	for _, sp := range spans("x", 100, 60, 8) {
		if sp.n > 8 {
			t.Errorf("span %v longer than the chunk", sp)
		}
		rows += sp.n
	}
	if rows != 60 {
		t.Errorf("%d rows in the spans of a 60-row sample", rows)
	}
}

func TestThresholds(t *testing.T) {
	th := DefaultThresholds()
	th[gguf.TypeQ4_K] = 9
	if DefaultThresholds()[gguf.TypeQ4_K] != 0.13 {
		t.Error("DefaultThresholds shares its map")
	}
	// Every storage type qconv can dequantize has a measured threshold
	// (Q8_1 and Q8_K are only dot-product intermediates).
	for _, tr := range quantize.Registered() {
		if tr.DequantizeRow == nil || tr.Type == gguf.TypeQ8_1 || tr.Type == gguf.TypeQ8_K {
			continue
		}
		if _, ok := defaultThresholds[tr.Type]; !ok {
			t.Errorf("no default threshold for %s (docs/verify.md)", tr.Name)
		}
	}
	if th.For(gguf.TypeI32) != FallbackThreshold {
		t.Error("fallback")
	}
	for in, want := range map[string]float64{"q4_k=0.1": 0.1, "Q8_0 = 0": 0, "bf16=1e-3": 1e-3} {
		if _, v, err := ParseThreshold(in); err != nil || v != want {
			t.Errorf("%q: %v, %v", in, v, err)
		}
	}
	if typ, _, _ := ParseThreshold("q4_k=0.1"); typ != gguf.TypeQ4_K {
		t.Errorf("type %s", typ)
	}
	for _, in := range []string{"q4_k", "q9_9=0.1", "q4_k=", "q4_k=-0.1", "q4_k=NaN", "q4_k=Inf", "q4_k=x"} {
		if _, _, err := ParseThreshold(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestAccumulatorFastPath checks the four-way Add against one pair at a
// time, with non-finite values inside groups of four and a ragged tail.
func TestAccumulatorFastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	want, got := make([]float32, 1003), make([]float32, 1003)
	for i := range want {
		want[i] = float32(rng.NormFloat64())
		got[i] = want[i] + float32(0.01*rng.NormFloat64())
	}
	want[5], got[10], got[11], want[1001] = float32(math.NaN()), float32(math.Inf(1)), float32(math.NaN()), float32(math.Inf(-1))
	var fast, slow Accumulator
	fast.Add(want, got)
	slow.addSlow(want, got)
	f, s := fast.Comparison(), slow.Comparison()
	if f.Count != s.Count || f.NonFinite != s.NonFinite || f.SourceNonFinite != s.SourceNonFinite || f.MaxAbsError != s.MaxAbsError {
		t.Fatalf("fast %+v, slow %+v", f, s)
	}
	for _, p := range [][2]Float{{f.RMSE, s.RMSE}, {f.RelRMSE, s.RelRMSE}, {f.Cosine, s.Cosine}} {
		if math.Abs(float64(p[0]-p[1])) > 1e-12*math.Abs(float64(p[1])) {
			t.Errorf("fast %v, slow %v", p[0], p[1])
		}
	}
	var fs, ss statsAcc
	fs.add(got)
	ss.addSlow(got)
	if a, b := fs.stats(), ss.stats(); a.Count != b.Count || a.NonFinite != b.NonFinite || a.MaxAbs != b.MaxAbs || math.Abs(float64(a.RMS-b.RMS)) > 1e-12 {
		t.Errorf("stats fast %+v, slow %+v", a, b)
	}
}
