package convert

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
)

// Expectations in this file are written from the documented llama-quantize
// rules (shared/research/anchors-quant.md section 4), not from the code.

// llamaSpec builds the tensor list of a llama-style model as
// convert_hf_to_gguf writes it.
type llamaSpec struct {
	arch                  string
	nLayer, nEmbd, nFF    int
	nHead, nHeadKV, vocab int
	nExpert               int
	tied                  bool
	fusedQKV              bool
	src                   gguf.Type // type of the 2-D weights (F16 when zero)
}

func llama32() llamaSpec {
	return llamaSpec{nLayer: 32, nEmbd: 4096, nFF: 14336, nHead: 32, nHeadKV: 8, vocab: 128256}
}

func (m llamaSpec) info() ModelInfo {
	arch := m.arch
	if arch == "" {
		arch = "llama"
	}
	return ModelInfo{Arch: arch, NLayer: m.nLayer, NExpert: m.nExpert, NHead: m.nHead, NHeadKV: m.nHeadKV}
}

func (m llamaSpec) roles() []string {
	var r []string
	if m.fusedQKV {
		r = []string{"attn_qkv"}
	} else {
		r = []string{"attn_q", "attn_k", "attn_v"}
	}
	r = append(r, "attn_output")
	if m.nExpert > 0 {
		return append(r, "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps")
	}
	return append(r, "ffn_gate", "ffn_up", "ffn_down")
}

func (m llamaSpec) tensors() []TensorDesc {
	src := m.src
	if src == 0 {
		src = gguf.TypeF16
	}
	e, kv, ff := int64(m.nEmbd), int64(m.nEmbd/m.nHead*m.nHeadKV), int64(m.nFF)
	w := func(name string, shape ...int64) TensorDesc { return TensorDesc{Name: name, Shape: shape, Type: src} }
	norm := func(name string) TensorDesc { return TensorDesc{Name: name, Shape: []int64{e}, Type: gguf.TypeF32} }
	ts := []TensorDesc{w("token_embd.weight", e, int64(m.vocab))}
	for l := 0; l < m.nLayer; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts, norm(p+"attn_norm.weight"))
		if m.fusedQKV {
			ts = append(ts, w(p+"attn_qkv.weight", e, e+2*kv))
		} else {
			ts = append(ts, w(p+"attn_q.weight", e, e), w(p+"attn_k.weight", e, kv), w(p+"attn_v.weight", e, kv))
		}
		ts = append(ts, w(p+"attn_output.weight", e, e), norm(p+"ffn_norm.weight"))
		if m.nExpert > 0 {
			x := int64(m.nExpert)
			ts = append(ts, TensorDesc{Name: p + "ffn_gate_inp.weight", Shape: []int64{e, x}, Type: gguf.TypeF32},
				w(p+"ffn_gate_exps.weight", e, ff, x), w(p+"ffn_up_exps.weight", e, ff, x), w(p+"ffn_down_exps.weight", ff, e, x))
		} else {
			ts = append(ts, w(p+"ffn_gate.weight", e, ff), w(p+"ffn_up.weight", e, ff), w(p+"ffn_down.weight", ff, e))
		}
	}
	ts = append(ts, norm("output_norm.weight"))
	if !m.tied {
		ts = append(ts, w("output.weight", e, int64(m.vocab)))
	}
	return ts
}

// expect builds the expected type of every tensor: norms and routers keep
// their type, token_embd/output get tok/out, layer tensors get rule.
func (m llamaSpec) expect(tok, out gguf.Type, rule func(role string, layer int) gguf.Type) map[string]gguf.Type {
	want := map[string]gguf.Type{"token_embd.weight": tok, "output_norm.weight": gguf.TypeF32}
	if !m.tied {
		want["output.weight"] = out
	}
	for l := 0; l < m.nLayer; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		want[p+"attn_norm.weight"] = gguf.TypeF32
		want[p+"ffn_norm.weight"] = gguf.TypeF32
		if m.nExpert > 0 {
			want[p+"ffn_gate_inp.weight"] = gguf.TypeF32
		}
		for _, r := range m.roles() {
			want[p+r+".weight"] = rule(r, l)
		}
	}
	return want
}

// moreBits32: the layers use_more_bits picks for 32 layers, as listed in
// the research brief.
var moreBits32 = map[int]bool{0: true, 1: true, 2: true, 3: true, 6: true, 9: true, 12: true, 15: true,
	18: true, 21: true, 24: true, 27: true, 28: true, 29: true, 30: true, 31: true}

// moreBitsRef is the documented use_more_bits formula.
func moreBitsRef(i, n int) bool { return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2 }

func TestMoreBitsList(t *testing.T) {
	for i := 0; i < 32; i++ {
		if useMoreBits(i, 32) != moreBits32[i] || moreBitsRef(i, 32) != moreBits32[i] {
			t.Errorf("use_more_bits(%d, 32) = %v, want %v", i, useMoreBits(i, 32), moreBits32[i])
		}
	}
}

func selectAll(t *testing.T, ft FileType, info ModelInfo, opts SelectOptions, ts []TensorDesc) []Choice {
	t.Helper()
	s, err := NewTypeSelector(ft, info, opts)
	if err != nil {
		t.Fatalf("NewTypeSelector: %v", err)
	}
	cs, err := s.SelectAll(ts)
	if err != nil {
		t.Fatalf("SelectAll: %v", err)
	}
	if len(cs) != len(ts) {
		t.Fatalf("SelectAll returned %d choices for %d tensors", len(cs), len(ts))
	}
	return cs
}

func byName(ts []TensorDesc, cs []Choice) map[string]Choice {
	m := make(map[string]Choice, len(ts))
	for i, tt := range ts {
		m[tt.Name] = cs[i]
	}
	return m
}

func checkTypes(t *testing.T, label string, got map[string]Choice, want map[string]gguf.Type) {
	t.Helper()
	bad := 0
	for name, w := range want {
		c, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: no choice for %s", label, name)
		case c.Type != w:
			if bad++; bad <= 20 {
				t.Errorf("%s: %s = %s (%s), want %s", label, name, c.Type, c.Reason, w)
			}
		}
	}
	if bad > 20 {
		t.Errorf("%s: %d mismatches in all", label, bad)
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d choices, want %d", label, len(got), len(want))
	}
}

func runSpec(t *testing.T, m llamaSpec, ft FileType, opts SelectOptions) map[string]Choice {
	t.Helper()
	ts := m.tensors()
	return byName(ts, selectAll(t, ft, m.info(), opts, ts))
}

// TestQ4KMLlama32 is the brief's expected Q4_K_M outcome for a 32-layer
// GQA llama: attn_v and ffn_down in Q6_K on the 16 use_more_bits layers,
// output Q6_K, every other 2-D weight Q4_K, norms untouched.
func TestQ4KMLlama32(t *testing.T) {
	m := llama32()
	want := m.expect(gguf.TypeQ4_K, gguf.TypeQ6_K, func(role string, l int) gguf.Type {
		if (role == "attn_v" || role == "ffn_down") && moreBits32[l] {
			return gguf.TypeQ6_K
		}
		return gguf.TypeQ4_K
	})
	ts := m.tensors()
	cs := selectAll(t, FileTypeQ4_K_M, m.info(), SelectOptions{}, ts)
	got := byName(ts, cs)
	checkTypes(t, "Q4_K_M", got, want)

	nV, nDown := 0, 0
	for name, c := range got {
		if c.Type == gguf.TypeQ6_K && strings.HasSuffix(name, "attn_v.weight") {
			nV++
		}
		if c.Type == gguf.TypeQ6_K && strings.HasSuffix(name, "ffn_down.weight") {
			nDown++
		}
		isNorm := strings.HasSuffix(name, "_norm.weight")
		if c.Quantize == isNorm || c.Allowed == isNorm {
			t.Errorf("%s: Quantize=%v Allowed=%v", name, c.Quantize, c.Allowed)
		}
		if c.Reason == "" {
			t.Errorf("%s: empty reason", name)
		}
	}
	if nV != 16 || nDown != 16 {
		t.Errorf("Q6_K attn_v %d, ffn_down %d; want 16 and 16", nV, nDown)
	}
	if s := Summarize(cs); s.Fallbacks != 0 || s.NeedsImatrix || s.Quantized != 2+32*7 {
		t.Errorf("Summarize = %+v", s)
	}

	// The file order does not matter: llama visits tensors in its own order.
	shuffled := slices.Clone(ts)
	slices.Reverse(shuffled)
	for i := 0; i+7 < len(shuffled); i += 7 {
		shuffled[i], shuffled[i+5] = shuffled[i+5], shuffled[i]
	}
	checkTypes(t, "Q4_K_M shuffled", byName(shuffled, selectAll(t, FileTypeQ4_K_M, m.info(), SelectOptions{}, shuffled)), want)
}

func TestMixturesLlama32(t *testing.T) {
	m := llama32()
	type rule = func(role string, l int) gguf.Type
	same := func(t gguf.Type) rule { return func(string, int) gguf.Type { return t } }
	cases := []struct {
		ft       FileType
		imatrix  bool
		tok, out gguf.Type
		rule     rule
	}{
		{FileTypeQ2_K, false, gguf.TypeQ2_K, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
			switch r {
			case "attn_v":
				return gguf.TypeQ4_K // GQA 4
			case "ffn_down", "attn_output":
				return gguf.TypeQ3_K
			}
			return gguf.TypeQ2_K
		}},
		{FileTypeQ3_K_S, false, gguf.TypeQ3_K, gguf.TypeQ6_K, same(gguf.TypeQ3_K)},
		{FileTypeQ3_K_M, false, gguf.TypeQ3_K, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
			switch {
			case r == "attn_v" && l < 2, r == "ffn_down" && l < 32/16:
				return gguf.TypeQ5_K
			case r == "attn_v", r == "ffn_down", r == "attn_output":
				return gguf.TypeQ4_K
			}
			return gguf.TypeQ3_K
		}},
		{FileTypeQ3_K_L, false, gguf.TypeQ3_K, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
			if r == "attn_v" || r == "ffn_down" || r == "attn_output" {
				return gguf.TypeQ5_K
			}
			return gguf.TypeQ3_K
		}},
		{FileTypeQ4_K_S, false, gguf.TypeQ4_K, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
			if (r == "attn_v" && l < 4) || (r == "ffn_down" && l < 32/8) {
				return gguf.TypeQ5_K
			}
			return gguf.TypeQ4_K
		}},
		{FileTypeQ5_K_S, false, gguf.TypeQ5_K, gguf.TypeQ6_K, same(gguf.TypeQ5_K)},
		{FileTypeQ5_K_M, false, gguf.TypeQ5_K, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
			if (r == "attn_v" || r == "ffn_down") && moreBits32[l] {
				return gguf.TypeQ6_K
			}
			return gguf.TypeQ5_K
		}},
		{FileTypeQ6_K, false, gguf.TypeQ6_K, gguf.TypeQ6_K, same(gguf.TypeQ6_K)},
		{FileTypeQ8_0, false, gguf.TypeQ8_0, gguf.TypeQ8_0, same(gguf.TypeQ8_0)},
		{FileTypeQ4_0, false, gguf.TypeQ4_0, gguf.TypeQ6_K, same(gguf.TypeQ4_0)},
		{FileTypeQ4_1, false, gguf.TypeQ4_1, gguf.TypeQ6_K, same(gguf.TypeQ4_1)},
		{FileTypeQ5_1, false, gguf.TypeQ5_1, gguf.TypeQ6_K, same(gguf.TypeQ5_1)},
		{FileTypeQ4_0, true, gguf.TypeQ4_0, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
			if r == "ffn_down" && l < 4 {
				return gguf.TypeQ4_1
			}
			return gguf.TypeQ4_0
		}},
		{FileTypeQ5_0, true, gguf.TypeQ5_0, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
			if r == "ffn_down" && l < 4 {
				return gguf.TypeQ5_1
			}
			return gguf.TypeQ5_0
		}},
		{FileTypeIQ4_XS, false, gguf.TypeIQ4_XS, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
			if r == "attn_v" || (r == "ffn_down" && l < 4) {
				return gguf.TypeQ5_K
			}
			return gguf.TypeIQ4_XS
		}},
		{FileTypeIQ4_NL, true, gguf.TypeIQ4_NL, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
			if r == "attn_v" { // the ffn_down bump is only without imatrix
				return gguf.TypeQ5_K
			}
			return gguf.TypeIQ4_NL
		}},
		{FileTypeF16, false, gguf.TypeF16, gguf.TypeF16, same(gguf.TypeF16)},
		{FileTypeBF16, false, gguf.TypeBF16, gguf.TypeBF16, same(gguf.TypeBF16)},
		{FileTypeF32, false, gguf.TypeF32, gguf.TypeF32, same(gguf.TypeF32)},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s/imatrix=%v", c.ft, c.imatrix)
		t.Run(name, func(t *testing.T) {
			got := runSpec(t, m, c.ft, SelectOptions{Imatrix: c.imatrix})
			checkTypes(t, name, got, m.expect(c.tok, c.out, c.rule))
		})
	}
}

func TestQ2KWithoutGQA(t *testing.T) {
	m := llama32()
	m.nHeadKV = 32
	got := runSpec(t, m, FileTypeQ2_K, SelectOptions{})
	for l := 0; l < 32; l++ {
		if c := got[fmt.Sprintf("blk.%d.attn_v.weight", l)]; c.Type != gguf.TypeQ3_K {
			t.Errorf("layer %d attn_v = %s, want q3_K", l, c.Type)
		}
	}
}

func TestTiedEmbeddings(t *testing.T) {
	m := llama32()
	m.tied = true
	got := runSpec(t, m, FileTypeQ4_K_M, SelectOptions{})
	if c := got["token_embd.weight"]; c.Type != gguf.TypeQ6_K {
		t.Errorf("tied token_embd = %s (%s), want q6_K", c.Type, c.Reason)
	}
	got = runSpec(t, m, FileTypeQ8_0, SelectOptions{})
	if c := got["token_embd.weight"]; c.Type != gguf.TypeQ8_0 {
		t.Errorf("tied token_embd in Q8_0 = %s, want q8_0", c.Type)
	}
	q8 := gguf.TypeQ8_0
	got = runSpec(t, m, FileTypeQ4_K_M, SelectOptions{OutputTensorType: &q8})
	if c := got["token_embd.weight"]; c.Type != gguf.TypeQ8_0 {
		t.Errorf("tied token_embd with --output-tensor-type q8_0 = %s, want q8_0", c.Type)
	}
}

func TestMoE8Experts(t *testing.T) {
	m := llama32()
	m.nExpert = 8
	m.nFF = 14336
	want := m.expect(gguf.TypeQ4_K, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
		switch {
		case r == "attn_v" || r == "attn_k":
			return gguf.TypeQ8_0
		case r == "attn_output":
			return gguf.TypeQ5_K
		case r == "ffn_down_exps" && moreBits32[l]:
			return gguf.TypeQ6_K
		}
		return gguf.TypeQ4_K
	})
	checkTypes(t, "MoE Q4_K_M", runSpec(t, m, FileTypeQ4_K_M, SelectOptions{}), want)

	want = m.expect(gguf.TypeQ3_K, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
		switch {
		case r == "attn_v" || r == "attn_k":
			return gguf.TypeQ8_0
		case r == "attn_output":
			return gguf.TypeQ5_K
		case r == "ffn_down_exps" && l < 2:
			return gguf.TypeQ5_K
		case r == "ffn_down_exps":
			return gguf.TypeQ4_K
		}
		return gguf.TypeQ3_K
	})
	checkTypes(t, "MoE Q3_K_M", runSpec(t, m, FileTypeQ3_K_M, SelectOptions{}), want)

	// IQ3_M: ffn_down in Q4_K on the first eighth or, with 8 experts, on
	// the use_more_bits layers; attn_v Q4_K then Q8_0 for 8 experts.
	want = m.expect(gguf.TypeIQ3_S, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
		switch {
		case r == "attn_v" || r == "attn_k":
			return gguf.TypeQ8_0
		case r == "attn_output":
			return gguf.TypeQ5_K
		case r == "ffn_down_exps" && (l < 4 || moreBits32[l]):
			return gguf.TypeQ4_K
		}
		return gguf.TypeIQ3_S
	})
	checkTypes(t, "MoE IQ3_M", runSpec(t, m, FileTypeIQ3_M, SelectOptions{}), want)
}

// With experts, the ffn layer comes from the name, so a layer with two
// ffn_down tensors (routed + shared expert) does not shift later layers.
func TestMoELayerFromName(t *testing.T) {
	m := llama32()
	m.nExpert = 8
	ts := m.tensors()
	for l := 0; l < 32; l++ {
		ts = append(ts, TensorDesc{Name: fmt.Sprintf("blk.%d.ffn_down_shexp.weight", l), Shape: []int64{14336, 4096}, Type: gguf.TypeF16})
	}
	got := byName(ts, selectAll(t, FileTypeQ4_K_M, m.info(), SelectOptions{}, ts))
	for l := 0; l < 32; l++ {
		want := gguf.TypeQ4_K
		if moreBits32[l] {
			want = gguf.TypeQ6_K
		}
		for _, n := range []string{"ffn_down_exps", "ffn_down_shexp"} {
			if c := got[fmt.Sprintf("blk.%d.%s.weight", l, n)]; c.Type != want {
				t.Errorf("blk.%d.%s = %s, want %s", l, n, c.Type, want)
			}
		}
	}

	// A dense model counts instead: the extra ffn_down tensors shift it.
	d := llama32()
	ts = d.tensors()
	ts = append(ts, TensorDesc{Name: "blk.0.ffn_down_extra.weight", Shape: []int64{14336, 4096}, Type: gguf.TypeF16})
	got = byName(ts, selectAll(t, FileTypeQ4_K_M, d.info(), SelectOptions{}, ts))
	// llama order in block 0: ffn_down.weight (#0), ffn_down_extra (#1);
	// block L>=1's ffn_down is then #L+1.
	for l := 1; l < 32; l++ {
		want := gguf.TypeQ4_K
		if moreBits32[l+1] || l+1 >= 32 {
			want = gguf.TypeQ6_K
		}
		if c := got[fmt.Sprintf("blk.%d.ffn_down.weight", l)]; c.Type != want {
			t.Errorf("dense blk.%d.ffn_down = %s, want %s", l, c.Type, want)
		}
	}

	// Without a parsable layer a MoE ffn tensor is an error, as in llama.
	s, _ := NewTypeSelector(FileTypeQ4_K_M, m.info(), SelectOptions{})
	for _, name := range []string{"ffn_down_exps.weight", "blk.32.ffn_up_exps.weight"} {
		bad := append(m.tensors(), TensorDesc{Name: name, Shape: []int64{4096, 4096, 8}, Type: gguf.TypeF16})
		if _, err := s.SelectAll(bad); err == nil {
			t.Errorf("%s: want a layer error", name)
		}
	}
}

func TestMXFP4MoE(t *testing.T) {
	m := llama32()
	m.nExpert = 32
	want := m.expect(gguf.TypeQ8_0, gguf.TypeQ8_0, func(r string, l int) gguf.Type {
		if strings.HasSuffix(r, "_exps") {
			return gguf.TypeMXFP4
		}
		return gguf.TypeQ8_0
	})
	checkTypes(t, "MXFP4_MOE", runSpec(t, m, FileTypeMXFP4MoE, SelectOptions{}), want)
}

func TestFalcon(t *testing.T) {
	m := llama32()
	m.arch = "falcon"
	want := m.expect(gguf.TypeQ4_K, gguf.TypeQ8_0, func(r string, l int) gguf.Type {
		switch {
		case r == "attn_v" && moreBits32[l]:
			return gguf.TypeQ6_K
		case r == "ffn_down" && l < 2:
			return gguf.TypeQ6_K
		case r == "ffn_down" && moreBits32[l]:
			return gguf.TypeQ5_K
		}
		return gguf.TypeQ4_K
	})
	checkTypes(t, "falcon Q4_K_M", runSpec(t, m, FileTypeQ4_K_M, SelectOptions{}), want)
}

func Test70BBump(t *testing.T) {
	m := llama32()
	m.nLayer, m.nEmbd, m.nHead, m.nHeadKV = 80, 8192, 64, 8
	m.nFF = 28672
	got := runSpec(t, m, FileTypeQ4_K_M, SelectOptions{})
	for l := 0; l < 80; l++ {
		want := gguf.TypeQ5_K // Q4_K raised for 70B
		if moreBitsRef(l, 80) {
			want = gguf.TypeQ6_K
		}
		if c := got[fmt.Sprintf("blk.%d.attn_v.weight", l)]; c.Type != want {
			t.Errorf("70B blk.%d.attn_v = %s, want %s", l, c.Type, want)
		}
	}
	got = runSpec(t, m, FileTypeQ3_K_S, SelectOptions{})
	if c := got["blk.40.attn_v.weight"]; c.Type != gguf.TypeQ5_K {
		t.Errorf("70B Q3_K_S attn_v = %s, want q5_K", c.Type)
	}
	// Not GQA: llama calls it 65B, no bump.
	m.nHeadKV = 64
	got = runSpec(t, m, FileTypeQ4_K_S, SelectOptions{})
	if c := got["blk.40.attn_v.weight"]; c.Type != gguf.TypeQ4_K {
		t.Errorf("65B Q4_K_S attn_v = %s, want q4_K", c.Type)
	}
}

// A fused attn_qkv counts as attn_v and gets attn_v's rules: llama checks
// the attn_v-like categories before its separate attn_qkv rule, so that
// rule (Q4_K_M -> q5_K in the brief's table) never fires.
func TestFusedQKV(t *testing.T) {
	m := llama32()
	m.fusedQKV = true
	m.nHeadKV = 32
	want := m.expect(gguf.TypeQ4_K, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
		if (r == "attn_qkv" || r == "ffn_down") && moreBits32[l] {
			return gguf.TypeQ6_K
		}
		return gguf.TypeQ4_K
	})
	checkTypes(t, "fused qkv Q4_K_M", runSpec(t, m, FileTypeQ4_K_M, SelectOptions{}), want)
}

// tiny builds a 1-layer model with free dimensions.
func tiny(nEmbd, nFF int) llamaSpec {
	return llamaSpec{nLayer: 1, nEmbd: nEmbd, nFF: nFF, nHead: 4, nHeadKV: 4, vocab: 1000}
}

func TestShapeFallbackTo32Blocks(t *testing.T) {
	m := tiny(256, 96) // ffn_down rows of 96: a multiple of 32, not of 256
	// With one layer, use_more_bits(0, 1) holds (0 >= 7*1/8), n/8 = 0.
	cases := []struct {
		ft   FileType
		want gguf.Type
	}{
		{FileTypeQ4_K_M, gguf.TypeQ8_0}, // q6_K -> q8_0
		{FileTypeQ4_K_S, gguf.TypeQ5_0}, // q4_K -> q5_0
		{FileTypeQ2_K, gguf.TypeQ4_0},   // q3_K -> q4_0
		{FileTypeQ3_K_S, gguf.TypeQ4_0}, // q3_K -> q4_0
		{FileTypeQ5_K_S, gguf.TypeQ5_1}, // q5_K -> q5_1
		{FileTypeQ6_K, gguf.TypeQ8_0},   // q6_K -> q8_0
		{FileTypeIQ4_XS, gguf.TypeIQ4_NL},
		{FileTypeTQ2_0, gguf.TypeQ4_0},
		{FileTypeQ4_0, gguf.TypeQ4_0}, // fits, no fallback
	}
	for _, c := range cases {
		ts := m.tensors()
		cs := selectAll(t, c.ft, m.info(), SelectOptions{}, ts)
		got := byName(ts, cs)
		d := got["blk.0.ffn_down.weight"]
		if d.Type != c.want || d.Fallback != (c.ft != FileTypeQ4_0) {
			t.Errorf("%s: ffn_down = %s fallback=%v (%s), want %s", c.ft, d.Type, d.Fallback, d.Reason, c.want)
		}
		wantN := 1
		if c.ft == FileTypeQ4_0 {
			wantN = 0
		}
		if n := Summarize(cs).Fallbacks; n != wantN {
			t.Errorf("%s: %d fallbacks, want %d", c.ft, n, wantN)
		}
	}
}

// TestShapeFallbackF16 uses ne0 = 172, a multiple of neither 256 nor 32:
// the fallback chain ends in f16, and a 32-block target goes straight to
// f16 (what llama-quantize build 11669 prints as "must use F16 due to
// unusual shape").
func TestShapeFallbackF16(t *testing.T) {
	m := tiny(172, 512)
	m.nHead, m.nHeadKV = 4, 4

	// output.weight: ne0 % 256 != 0 -> q8_0, and 172 % 32 != 0 -> f16.
	for _, tied := range []bool{false, true} {
		mm := m
		mm.tied = tied
		out := "output.weight"
		if tied {
			out = "token_embd.weight" // the token embedding doubles as output
		}
		ts := mm.tensors()
		got := byName(ts, selectAll(t, FileTypeQ4_K_M, mm.info(), SelectOptions{}, ts))
		if c := got[out]; c.Type != gguf.TypeF16 || !c.Fallback {
			t.Errorf("tied=%v: %s = %s fallback=%v (%s), want f16 by fallback", tied, out, c.Type, c.Fallback, c.Reason)
		}
	}
	// Every 32-block type falls back to f16; ffn_down (rows of 512) fits.
	for _, ft := range []FileType{FileTypeQ4_0, FileTypeQ4_1, FileTypeQ5_0, FileTypeQ5_1, FileTypeQ8_0, FileTypeIQ4_NL} {
		ts := m.tensors()
		got := byName(ts, selectAll(t, ft, m.info(), SelectOptions{LeaveOutputTensor: true}, ts))
		if c := got["blk.0.attn_q.weight"]; c.Type != gguf.TypeF16 || !c.Fallback {
			t.Errorf("%s: attn_q = %s fallback=%v, want f16 by fallback", ft, c.Type, c.Fallback)
		}
		if c := got["blk.0.ffn_down.weight"]; c.Type == gguf.TypeF16 || c.Fallback {
			t.Errorf("%s: ffn_down = %s fallback=%v, want no fallback", ft, c.Type, c.Fallback)
		}
	}

	// An explicit output type skips the fallback; the rest falls back.
	f16 := gguf.TypeF16
	ts := m.tensors()
	cs := selectAll(t, FileTypeQ4_K_M, m.info(), SelectOptions{OutputTensorType: &f16}, ts)
	got := byName(ts, cs)
	want := map[string]struct {
		typ      gguf.Type
		fallback bool
	}{
		"token_embd.weight":        {gguf.TypeF16, true}, // q4_K -> q5_0 -> f16
		"output.weight":            {gguf.TypeF16, false},
		"output_norm.weight":       {gguf.TypeF32, false},
		"blk.0.attn_norm.weight":   {gguf.TypeF32, false},
		"blk.0.ffn_norm.weight":    {gguf.TypeF32, false},
		"blk.0.attn_q.weight":      {gguf.TypeF16, true},
		"blk.0.attn_k.weight":      {gguf.TypeF16, true},
		"blk.0.attn_v.weight":      {gguf.TypeF16, true}, // q6_K -> q8_0 -> f16
		"blk.0.attn_output.weight": {gguf.TypeF16, true},
		"blk.0.ffn_gate.weight":    {gguf.TypeF16, true},
		"blk.0.ffn_up.weight":      {gguf.TypeF16, true},
		"blk.0.ffn_down.weight":    {gguf.TypeQ6_K, false}, // rows of 512 fit
	}
	for name, w := range want {
		c := got[name]
		if c.Type != w.typ || c.Fallback != w.fallback {
			t.Errorf("%s = %s fallback=%v (%s); want %s fallback=%v", name, c.Type, c.Fallback, c.Reason, w.typ, w.fallback)
		}
	}
	if n := Summarize(cs).Fallbacks; n != 7 {
		t.Errorf("%d fallbacks, want 7", n)
	}
	// Source is F16, so the f16 fallbacks are plain copies.
	if got["blk.0.attn_q.weight"].Quantize {
		t.Error("f16 -> f16 must not be marked Quantize")
	}
}

func TestTensorTypeOverrides(t *testing.T) {
	m := llama32()
	parse := func(ss ...string) []TensorTypeOverride {
		var out []TensorTypeOverride
		for _, s := range ss {
			o, err := ParseTensorTypeOverride(s)
			if err != nil {
				t.Fatalf("ParseTensorTypeOverride(%q): %v", s, err)
			}
			out = append(out, o)
		}
		return out
	}

	// Search semantics, upper case folded, first match wins.
	got := runSpec(t, m, FileTypeQ4_K_M, SelectOptions{TensorTypes: parse("ATTN=Q5_K", "attn_v=q8_0", "down=q8_0")})
	for l := 0; l < 32; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		for _, r := range []string{"attn_q", "attn_k", "attn_v", "attn_output"} {
			if c := got[p+r+".weight"]; c.Type != gguf.TypeQ5_K || !strings.Contains(c.Reason, "--tensor-type") {
				t.Errorf("%s%s = %s (%s), want q5_K by override", p, r, c.Type, c.Reason)
			}
		}
		if c := got[p+"ffn_down.weight"]; c.Type != gguf.TypeQ8_0 {
			t.Errorf("%sffn_down = %s, want q8_0", p, c.Type)
		}
		if c := got[p+"ffn_up.weight"]; c.Type != gguf.TypeQ4_K {
			t.Errorf("%sffn_up = %s, want q4_K", p, c.Type)
		}
	}
	if c := got["output.weight"]; c.Type != gguf.TypeQ6_K {
		t.Errorf("output = %s, want q6_K", c.Type)
	}

	// An overridden attn_v does not advance llama's attn_v counter: with
	// block 0 overridden, block L's attn_v is counted as #L-1.
	got = runSpec(t, m, FileTypeQ4_K_M, SelectOptions{TensorTypes: parse(`^blk\.0\.attn_v=q8_0`)})
	if c := got["blk.0.attn_v.weight"]; c.Type != gguf.TypeQ8_0 {
		t.Errorf("blk.0.attn_v = %s, want q8_0", c.Type)
	}
	for l := 1; l < 32; l++ {
		want := gguf.TypeQ4_K
		if moreBits32[l-1] {
			want = gguf.TypeQ6_K
		}
		if c := got[fmt.Sprintf("blk.%d.attn_v.weight", l)]; c.Type != want {
			t.Errorf("blk.%d.attn_v = %s, want %s", l, c.Type, want)
		}
	}

	// Overrides only apply when the file type is quantized.
	got = runSpec(t, m, FileTypeF16, SelectOptions{TensorTypes: parse("attn_v=q8_0")})
	if c := got["blk.0.attn_v.weight"]; c.Type != gguf.TypeF16 {
		t.Errorf("F16 with override: attn_v = %s, want f16", c.Type)
	}

	// An overridden type still goes through the shape fallback.
	tm := tiny(256, 96)
	got = runSpec(t, tm, FileTypeQ8_0, SelectOptions{TensorTypes: parse("ffn_down=q4_K")})
	if c := got["blk.0.ffn_down.weight"]; c.Type != gguf.TypeQ5_0 || !c.Fallback {
		t.Errorf("override q4_K on rows of 96 = %s, want q5_0 by fallback", c.Type)
	}

	for _, bad := range []string{"attn_v", "=q8_0", "attn_v=", "attn_v=q9_9", "attn_v=q8_0=x", "(=q8_0"} {
		if o, err := ParseTensorTypeOverride(bad); err == nil {
			t.Errorf("ParseTensorTypeOverride(%q) = %+v, want error", bad, o)
		}
	}
	if _, err := NewTypeSelector(FileTypeQ4_K_M, m.info(), SelectOptions{TensorTypes: []TensorTypeOverride{{Pattern: "x", Type: gguf.TypeI32}}}); err == nil {
		t.Error("override to i32: want error")
	}
}

func TestPureAndSpecialTypes(t *testing.T) {
	m := llama32()
	got := runSpec(t, m, FileTypeQ4_K_M, SelectOptions{Pure: true})
	checkTypes(t, "pure", got, m.expect(gguf.TypeQ4_K, gguf.TypeQ4_K, func(string, int) gguf.Type { return gguf.TypeQ4_K }))

	q8, f16 := gguf.TypeQ8_0, gguf.TypeF16
	got = runSpec(t, m, FileTypeQ4_K_M, SelectOptions{Pure: true, OutputTensorType: &q8})
	if c := got["output.weight"]; c.Type != gguf.TypeQ8_0 {
		t.Errorf("pure + --output-tensor-type q8_0: output = %s", c.Type)
	}

	got = runSpec(t, m, FileTypeQ4_K_M, SelectOptions{TokenEmbeddingType: &q8, OutputTensorType: &f16})
	if c := got["token_embd.weight"]; c.Type != gguf.TypeQ8_0 || c.Reason != "--token-embedding-type" {
		t.Errorf("token_embd = %s (%s), want q8_0", c.Type, c.Reason)
	}
	if c := got["output.weight"]; c.Type != gguf.TypeF16 || c.Quantize {
		t.Errorf("output = %s quantize=%v, want f16 copied", c.Type, c.Quantize)
	}
	if c := got["blk.3.attn_v.weight"]; c.Type != gguf.TypeQ6_K {
		t.Errorf("mixture must still apply: blk.3.attn_v = %s", c.Type)
	}
	// The special types apply even to non-quantized file types.
	got = runSpec(t, m, FileTypeF16, SelectOptions{TokenEmbeddingType: &q8})
	if c := got["token_embd.weight"]; c.Type != gguf.TypeQ8_0 {
		t.Errorf("F16 + --token-embedding-type q8_0: token_embd = %s", c.Type)
	}

	got = runSpec(t, m, FileTypeQ4_K_M, SelectOptions{LeaveOutputTensor: true})
	if c := got["output.weight"]; c.Type != gguf.TypeF16 || c.Quantize || c.Allowed {
		t.Errorf("--leave-output-tensor: output = %+v", c)
	}
	if c := got["token_embd.weight"]; c.Type != gguf.TypeQ4_K {
		t.Errorf("--leave-output-tensor: token_embd = %s, want q4_K", c.Type)
	}

	got = runSpec(t, m, FileTypeQ4_K_M, SelectOptions{OnlyCopy: true})
	for name, c := range got {
		if c.Quantize || c.Allowed {
			t.Errorf("COPY: %s = %+v", name, c)
		}
	}
}

func TestNeverQuantized(t *testing.T) {
	m := llama32()
	extra := []TensorDesc{
		{"position_embd.weight", []int64{4096, 2048}, gguf.TypeF16},
		{"token_types.weight", []int64{4096, 2}, gguf.TypeF16},
		{"rope_freqs.weight", []int64{64}, gguf.TypeF32},
		{"blk.0.attn_q.bias", []int64{4096, 4}, gguf.TypeF32},
		{"blk.0.ssm_conv1d.weight", []int64{4, 4096}, gguf.TypeF32},
		{"blk.0.time_mix_first.weight", []int64{64, 64}, gguf.TypeF32},
		{"blk.0.attn_rel_b.weight", []int64{32, 32}, gguf.TypeF16},
		{"blk.0.altup_proj.weight", []int64{4096, 4096}, gguf.TypeF16},
		{"blk.0.post_norm.weight", []int64{4096, 1}, gguf.TypeF32}, // trailing 1: 1-D
		{"blk.0.attn_q_norm.weight", []int64{128, 32}, gguf.TypeF32},
		{"v.patch_embd.weight", []int64{14, 14, 3, 1024}, gguf.TypeF16},
		{"v.blk.0.attn_q.weight", []int64{1024, 1024}, gguf.TypeF16}, // quantized
	}
	ts := append(m.tensors(), extra...)
	got := byName(ts, selectAll(t, FileTypeQ4_K_M, m.info(), SelectOptions{}, ts))
	for _, e := range extra[:len(extra)-1] {
		if c := got[e.Name]; c.Allowed || c.Quantize || c.Type != e.Type || !strings.HasPrefix(c.Reason, "not quantized") {
			t.Errorf("%s = %+v, want kept", e.Name, c)
		}
	}
	if c := got["v.blk.0.attn_q.weight"]; c.Type != gguf.TypeQ4_K {
		t.Errorf("v.blk.0.attn_q = %s, want q4_K", c.Type)
	}
}

func TestImatrixRules(t *testing.T) {
	m := llama32()
	var entries []string
	for _, tt := range m.tensors() {
		if strings.HasPrefix(tt.Name, "blk.") && !strings.HasSuffix(tt.Name, "_norm.weight") {
			entries = append(entries, tt.Name)
		}
	}

	// IQ2_XXS needs an importance matrix.
	s, _ := NewTypeSelector(FileTypeIQ2_XXS, m.info(), SelectOptions{})
	if _, err := s.SelectAll(m.tensors()); err == nil || !strings.Contains(err.Error(), "importance matrix") {
		t.Errorf("IQ2_XXS without imatrix: err = %v", err)
	}
	ts := m.tensors()
	s, _ = NewTypeSelector(FileTypeIQ2_XXS, m.info(), SelectOptions{DryRun: true})
	cs, err := s.SelectAll(ts)
	if err != nil || !Summarize(cs).NeedsImatrix {
		t.Errorf("IQ2_XXS dry run: err=%v summary=%+v", err, Summarize(cs))
	}
	got := runSpec(t, m, FileTypeIQ2_XXS, SelectOptions{Imatrix: true, ImatrixEntries: entries})
	want := m.expect(gguf.TypeQ2_K, gguf.TypeQ5_K, func(r string, l int) gguf.Type {
		switch {
		case r == "attn_v":
			return gguf.TypeQ4_K // GQA 4
		case r == "ffn_down" && l < 4:
			return gguf.TypeQ2_K
		}
		return gguf.TypeIQ2_XXS
	})
	checkTypes(t, "IQ2_XXS", got, want)
	if c := got["blk.5.ffn_gate.weight"]; !c.UseImatrix || !c.RequiresImatrix {
		t.Errorf("IQ2_XXS ffn_gate: %+v", c)
	}
	if c := got["token_embd.weight"]; c.RequiresImatrix {
		t.Error("token_embd never requires an imatrix")
	}

	// Excluding entries leaves those tensors without data: error.
	s, _ = NewTypeSelector(FileTypeIQ2_XXS, m.info(), SelectOptions{Imatrix: true, ImatrixEntries: entries, ExcludeWeights: []string{"ffn_gate"}})
	if _, err := s.SelectAll(m.tensors()); err == nil || !strings.Contains(err.Error(), "ffn_gate") {
		t.Errorf("excluded ffn_gate: err = %v", err)
	}
	s, _ = NewTypeSelector(FileTypeIQ2_XXS, m.info(), SelectOptions{Imatrix: true, ImatrixEntries: entries, IncludeWeights: []string{"blk.0."}})
	if _, err := s.SelectAll(m.tensors()); err == nil || !strings.Contains(err.Error(), "blk.1.") {
		t.Errorf("included only blk.0.: err = %v", err)
	}
	if _, err := NewTypeSelector(FileTypeQ4_0, m.info(), SelectOptions{IncludeWeights: []string{"a"}, ExcludeWeights: []string{"b"}}); err == nil {
		t.Error("include + exclude: want error")
	}

	// Excluding every entry is the same as no imatrix for the rules.
	got = runSpec(t, m, FileTypeQ4_0, SelectOptions{Imatrix: true, ImatrixEntries: entries, ExcludeWeights: []string{"blk."}})
	if c := got["blk.0.ffn_down.weight"]; c.Type != gguf.TypeQ4_0 || c.UseImatrix {
		t.Errorf("Q4_0, all entries excluded: ffn_down = %+v", c)
	}
	got = runSpec(t, m, FileTypeQ4_0, SelectOptions{Imatrix: true, ImatrixEntries: entries, IncludeWeights: []string{"attn_q"}})
	if c := got["blk.0.ffn_down.weight"]; c.Type != gguf.TypeQ4_1 || c.UseImatrix {
		t.Errorf("Q4_0, imatrix kept for attn_q only: ffn_down = %+v", c)
	}
	if c := got["blk.0.attn_q.weight"]; !c.UseImatrix {
		t.Errorf("Q4_0, attn_q should use the imatrix: %+v", c)
	}

	// Q2_K_S: its q2_K tensors need an imatrix (not token_embd).
	s, _ = NewTypeSelector(FileTypeQ2_K_S, m.info(), SelectOptions{})
	if _, err := s.SelectAll(m.tensors()); err == nil {
		t.Error("Q2_K_S without imatrix: want error")
	}
	got = runSpec(t, m, FileTypeQ2_K_S, SelectOptions{Imatrix: true})
	want = m.expect(gguf.TypeQ2_K, gguf.TypeQ6_K, func(r string, l int) gguf.Type {
		if r == "attn_v" || (r == "ffn_down" && l < 4) {
			return gguf.TypeQ4_K
		}
		return gguf.TypeQ2_K
	})
	checkTypes(t, "Q2_K_S", got, want)

	// IQ3_XXS without GQA: attn_v iq3_s without imatrix, iq3_xxs with.
	n := llama32()
	n.nHeadKV = 32
	got = runSpec(t, n, FileTypeIQ3_XXS, SelectOptions{DryRun: true})
	if c := got["blk.0.attn_v.weight"]; c.Type != gguf.TypeIQ3_S {
		t.Errorf("IQ3_XXS no imatrix attn_v = %s, want iq3_s", c.Type)
	}
	if c := got["blk.10.ffn_down.weight"]; c.Type != gguf.TypeQ3_K {
		t.Errorf("IQ3_XXS no imatrix ffn_down = %s, want q3_K", c.Type)
	}
	got = runSpec(t, n, FileTypeIQ3_XXS, SelectOptions{Imatrix: true})
	want = n.expect(gguf.TypeIQ3_S, gguf.TypeQ5_K, func(r string, l int) gguf.Type {
		switch r {
		case "attn_q", "attn_k":
			return gguf.TypeIQ2_S
		case "attn_output":
			return gguf.TypeIQ3_S
		}
		return gguf.TypeIQ3_XXS
	})
	checkTypes(t, "IQ3_XXS imatrix", got, want)
}

func TestRequantize(t *testing.T) {
	m := llama32()
	m.src = gguf.TypeQ8_0
	s, _ := NewTypeSelector(FileTypeQ4_K_M, m.info(), SelectOptions{})
	if _, err := s.SelectAll(m.tensors()); err == nil || !strings.Contains(err.Error(), "requantiz") {
		t.Errorf("q8_0 source without --allow-requantize: err = %v", err)
	}
	runSpec(t, m, FileTypeQ4_K_M, SelectOptions{AllowRequantize: true})
	runSpec(t, m, FileTypeQ4_K_M, SelectOptions{DryRun: true})
	// Same type in and out: a copy, no requantization needed.
	got := runSpec(t, m, FileTypeQ8_0, SelectOptions{})
	if c := got["blk.0.attn_q.weight"]; c.Quantize || c.Type != gguf.TypeQ8_0 {
		t.Errorf("q8_0 -> Q8_0: %+v", c)
	}
	// Integer sources cannot be converted.
	bad := []TensorDesc{{Name: "blk.0.attn_q.weight", Shape: []int64{256, 256}, Type: gguf.TypeI32}}
	s, _ = NewTypeSelector(FileTypeQ4_K_M, tiny(256, 256).info(), SelectOptions{AllowRequantize: true})
	if _, err := s.SelectAll(bad); err == nil {
		t.Error("i32 source: want error")
	}
}

func TestLlamaOrder(t *testing.T) {
	names := []string{"blk.10.attn_q.weight", "output.weight", "blk.2.ffn_down.weight", "token_embd.weight",
		"blk.2.attn_k.weight", "dec.blk.0.attn_v.weight", "blk.-1.x.weight", "blk.1x.weight"}
	var got []string
	for _, i := range LlamaOrder(names) {
		got = append(got, names[i])
	}
	want := []string{"blk.-1.x.weight", "dec.blk.0.attn_v.weight", "output.weight", "token_embd.weight",
		"blk.1x.weight", "blk.2.attn_k.weight", "blk.2.ffn_down.weight", "blk.10.attn_q.weight"}
	if !slices.Equal(got, want) {
		t.Errorf("LlamaOrder = %q\nwant %q", got, want)
	}
}

func TestSelectAllDeterministic(t *testing.T) {
	m := llama32()
	s, _ := NewTypeSelector(FileTypeQ3_K_M, m.info(), SelectOptions{})
	a, err1 := s.SelectAll(m.tensors())
	b, err2 := s.SelectAll(m.tensors())
	if err1 != nil || err2 != nil || !slices.Equal(a, b) {
		t.Error("two SelectAll runs differ: counters must restart")
	}
	dup := append(m.tensors(), m.tensors()[0])
	if _, err := s.SelectAll(dup); err == nil {
		t.Error("duplicate names: want error")
	}
}
