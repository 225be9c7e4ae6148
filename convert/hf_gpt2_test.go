package convert

import (
	"bytes"
	"math"
	"slices"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/sharedfiles"
	"github.com/qconv/qconv/safetensors"
)

// gpt2LoaderTensors are the tensors llama.cpp's gpt2 loader asks for
// (src/models/gpt2.cpp, load_arch_tensors), with their ggml dims, for a
// model of the given sizes; output.weight is optional there (absent, the
// loader duplicates token_embd) and is left out.
func gpt2LoaderTensors(nEmbd, nVocab, nCtx, nFF, nLayer int64) map[string][]int64 {
	m := map[string][]int64{
		"token_embd.weight":    {nEmbd, nVocab},
		"position_embd.weight": {nEmbd, nCtx},
		"output_norm.weight":   {nEmbd},
		"output_norm.bias":     {nEmbd},
	}
	for l := int64(0); l < nLayer; l++ {
		b := "blk." + string(rune('0'+l)) + "."
		for name, dims := range map[string][]int64{
			"attn_norm.weight": {nEmbd}, "attn_norm.bias": {nEmbd},
			"attn_qkv.weight": {nEmbd, 3 * nEmbd}, "attn_qkv.bias": {3 * nEmbd},
			"attn_output.weight": {nEmbd, nEmbd}, "attn_output.bias": {nEmbd},
			"ffn_norm.weight": {nEmbd}, "ffn_norm.bias": {nEmbd},
			"ffn_down.weight": {nFF, nEmbd}, "ffn_down.bias": {nEmbd},
			"ffn_up.weight": {nEmbd, nFF}, "ffn_up.bias": {nFF},
		} {
			m[b+name] = dims
		}
	}
	return m
}

// TestHFGPT2Tiny converts fixtures/hf-gpt2-tiny (a real GPT2LMHeadModel
// directory: n_embd 2, one layer, tied embeddings) to F32 and checks the
// file against llama.cpp's gpt2 loader: exactly its tensors with its
// shapes (no output.weight: the embeddings are tied), the hyperparameter
// keys it reads, and the Conv1D weights transposed: GGUF row r of
// attn_qkv, attn_output, ffn_up and ffn_down is column r of the stored
// [in, out] matrix, the other tensors are the stored bytes.
func TestHFGPT2Tiny(t *testing.T) {
	in := sharedfiles.Path(t, "fixtures", "hf-gpt2-tiny")
	st, err := safetensors.Open(in + "/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored := func(name string) ([]float32, []int64) {
		ti, ok := st.Tensor(name)
		if !ok {
			t.Fatalf("fixture lacks %s", name)
		}
		b, err := st.Data(name)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float32, len(b)/4)
		if err := safetensors.ToFloat32(v, b, ti.DType); err != nil {
			t.Fatal(err)
		}
		return v, ti.Shape
	}

	f := writeGGUF(t, in, "f32", nil)
	want := gpt2LoaderTensors(2, 50257, 1024, 8, 1)
	if len(f.Tensors()) != len(want) {
		t.Errorf("%d tensors, llama.cpp's gpt2 loads %d", len(f.Tensors()), len(want))
	}
	for name, dims := range want {
		ti, ok := f.Tensor(name)
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		if !slices.Equal(ti.Dims, dims) || ti.Type != gguf.TypeF32 {
			t.Errorf("%s: %s %v, want F32 %v", name, ti.Type, ti.Dims, dims)
		}
	}
	if _, ok := f.Tensor("output.weight"); ok {
		t.Error("output.weight written for tied embeddings")
	}

	read := func(name string) []float32 {
		i := f.TensorIndex(name)
		if i < 0 {
			t.Fatalf("no %s", name)
		}
		b := f.TensorData(i)
		v := make([]float32, len(b)/4)
		for k := range v {
			v[k] = math.Float32frombits(uint32(b[4*k]) | uint32(b[4*k+1])<<8 | uint32(b[4*k+2])<<16 | uint32(b[4*k+3])<<24)
		}
		return v
	}
	for gg, hf := range map[string]string{
		"blk.0.attn_qkv.weight":    "transformer.h.0.attn.c_attn.weight",
		"blk.0.attn_output.weight": "transformer.h.0.attn.c_proj.weight",
		"blk.0.ffn_up.weight":      "transformer.h.0.mlp.c_fc.weight",
		"blk.0.ffn_down.weight":    "transformer.h.0.mlp.c_proj.weight",
	} {
		src, shape := stored(hf) // [in, out]
		got := read(gg)          // out rows of in values
		in, out := int(shape[0]), int(shape[1])
		for r := 0; r < out; r++ {
			for c := 0; c < in; c++ {
				if got[r*in+c] != src[c*out+r] {
					t.Fatalf("%s[%d][%d] = %v, want stored %s[%d][%d] = %v", gg, r, c, got[r*in+c], hf, c, r, src[c*out+r])
				}
			}
		}
	}
	for gg, hf := range map[string]string{
		"token_embd.weight": "transformer.wte.weight", "position_embd.weight": "transformer.wpe.weight",
		"output_norm.weight": "transformer.ln_f.weight", "output_norm.bias": "transformer.ln_f.bias",
		"blk.0.attn_qkv.bias": "transformer.h.0.attn.c_attn.bias", "blk.0.ffn_down.bias": "transformer.h.0.mlp.c_proj.bias",
		"blk.0.attn_norm.weight": "transformer.h.0.ln_1.weight", "blk.0.ffn_norm.bias": "transformer.h.0.ln_2.bias",
	} {
		src, _ := stored(hf)
		if err := equalValues(read(gg), src); err != nil {
			t.Errorf("%s vs %s: %v", gg, hf, err)
		}
	}

	// The keys llama.cpp's gpt2 reads (context, embedding and FFN length,
	// blocks, heads, the layer norm epsilon) with the values the script
	// writes, and no head_count_kv (GPT2Model writes none).
	checks := map[string]gguf.Value{
		"general.architecture":              gguf.String("gpt2"),
		"general.name":                      gguf.String("hf-gpt2-tiny"),
		"general.size_label":                gguf.String("103K"), // 102,640 weights
		"general.file_type":                 gguf.Uint32(0),
		"general.quantization_version":      gguf.Uint32(2),
		"gpt2.block_count":                  gguf.Uint32(1),
		"gpt2.context_length":               gguf.Uint32(1024),
		"gpt2.embedding_length":             gguf.Uint32(2),
		"gpt2.feed_forward_length":          gguf.Uint32(8),
		"gpt2.attention.head_count":         gguf.Uint32(1),
		"gpt2.attention.layer_norm_epsilon": gguf.Float32(1e-5),
		"tokenizer.ggml.model":              gguf.String("gpt2"),
		"tokenizer.ggml.pre":                gguf.String("gpt-2"),
		"tokenizer.ggml.bos_token_id":       gguf.Uint32(50256),
		"tokenizer.ggml.eos_token_id":       gguf.Uint32(50256),
		"tokenizer.ggml.unknown_token_id":   gguf.Uint32(50256),
	}
	for k, w := range checks {
		if v, ok := f.KV(k); !ok || !v.Equal(w) {
			t.Errorf("%s = %v, want %v", k, v, w)
		}
	}
	for _, k := range []string{"gpt2.attention.head_count_kv", "gpt2.attention.layer_norm_rms_epsilon", "gpt2.rope.freq_base", "tokenizer.ggml.scores"} {
		if v, ok := f.KV(k); ok {
			t.Errorf("%s = %v, want absent", k, v)
		}
	}
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	merges, _ := f.Strings("tokenizer.ggml.merges")
	if len(toks) != 50257 || len(merges) != 50000 {
		t.Errorf("%d tokens and %d merges, want 50257 and 50000", len(toks), len(merges))
	}

	// F16: the 2-D weights become F16, position_embd stays F32 (never
	// quantized), norms and biases F32.
	g := writeGGUF(t, in, "f16", nil)
	for name, ty := range map[string]gguf.Type{
		"token_embd.weight": gguf.TypeF16, "position_embd.weight": gguf.TypeF32, "blk.0.attn_qkv.weight": gguf.TypeF16,
		"blk.0.attn_qkv.bias": gguf.TypeF32, "output_norm.weight": gguf.TypeF32,
	} {
		if ti, ok := g.Tensor(name); !ok || ti.Type != ty {
			t.Errorf("f16: %s is %v, want %v", name, ti.Type, ty)
		}
	}
}

// TestHFGPT2Synthetic converts a synthetic GPT-2 checkpoint in the older
// layout (no "transformer." prefix, the causal-mask buffers attn.bias and
// attn.masked_bias stored, an untied lm_head, BF16) and checks the names,
// the dropped buffers, the kept output and the transposition of a
// non-square Conv1D weight; then the refusals.
func TestHFGPT2Synthetic(t *testing.T) {
	const n, vocab, ctx = 4, 10, 6
	config := map[string]any{
		"architectures": []string{"GPT2LMHeadModel"}, "n_embd": n, "n_layer": 2, "n_head": 2, "n_ctx": ctx,
		"n_positions": ctx, "vocab_size": vocab, "layer_norm_epsilon": 1e-5, "n_inner": nil,
	}
	tensors := []synthTensor{{name: "wte.weight", shape: []int64{vocab, n}}, {name: "wpe.weight", shape: []int64{ctx, n}},
		{name: "lm_head.weight", shape: []int64{vocab, n}}, {name: "ln_f.weight", shape: []int64{n}}, {name: "ln_f.bias", shape: []int64{n}}}
	for l := range 2 {
		p := "h." + string(rune('0'+l)) + "."
		tensors = append(tensors,
			synthTensor{name: p + "ln_1.weight", shape: []int64{n}}, synthTensor{name: p + "ln_1.bias", shape: []int64{n}},
			synthTensor{name: p + "attn.bias", shape: []int64{1, 1, ctx, ctx}}, synthTensor{name: p + "attn.masked_bias", shape: []int64{1}},
			synthTensor{name: p + "attn.c_attn.weight", shape: []int64{n, 3 * n}}, synthTensor{name: p + "attn.c_attn.bias", shape: []int64{3 * n}},
			synthTensor{name: p + "attn.c_proj.weight", shape: []int64{n, n}}, synthTensor{name: p + "attn.c_proj.bias", shape: []int64{n}},
			synthTensor{name: p + "ln_2.weight", shape: []int64{n}}, synthTensor{name: p + "ln_2.bias", shape: []int64{n}},
			synthTensor{name: p + "mlp.c_fc.weight", shape: []int64{n, 4 * n}}, synthTensor{name: p + "mlp.c_fc.bias", shape: []int64{4 * n}},
			synthTensor{name: p + "mlp.c_proj.weight", shape: []int64{4 * n, n}}, synthTensor{name: p + "mlp.c_proj.bias", shape: []int64{n}})
	}
	sc := writeSynth(t, "gpt2-synth", config, tensors, safetensors.BF16)
	writeBPETokenizer(t, sc.dir, vocab, "")
	s := openSynth(t, sc.dir)
	checkLlamaCppRuns(t, sc.dir)
	want := gpt2LoaderTensors(n, vocab, ctx, 4*n, 2)
	want["output.weight"] = []int64{n, vocab}
	wantTensors(t, s, want)
	m := tensorMap(s)
	if m["blk.1.attn_qkv.weight"].Type != gguf.TypeBF16 || m["position_embd.weight"].Type != gguf.TypeF32 {
		t.Errorf("attn_qkv %s (want BF16 as stored), position_embd %s (want F32)", m["blk.1.attn_qkv.weight"].Type, m["position_embd.weight"].Type)
	}
	src := sc.values["h.1.mlp.c_fc.weight"] // [4, 16]
	got := values(t, m["blk.1.ffn_up.weight"])
	for r := range 4 * n {
		for c := range n {
			if got[r*n+c] != src[c*4*n+r] {
				t.Fatalf("ffn_up[%d][%d] = %v, want c_fc[%d][%d] = %v", r, c, got[r*n+c], c, r, src[c*4*n+r])
			}
		}
	}
	if err := equalValues(values(t, m["output.weight"]), sc.values["lm_head.weight"]); err != nil {
		t.Errorf("output.weight: %v", err)
	}
	if len(s.Warnings) != 0 {
		t.Errorf("warnings %q", s.Warnings)
	}

	// Refusals: a feed-forward width other than 4 × n_embd, a missing
	// bias, a position table that is not n_ctx long, an unknown tensor.
	edit := func(name string, f func(c map[string]any, ts []synthTensor) []synthTensor) string {
		c := jsonRoundTrip(t, config)
		ts := f(c, slices.Clone(tensors))
		return writeSynth(t, name, c, ts, safetensors.F32).dir
	}
	wantOpenError(t, edit("inner", func(c map[string]any, ts []synthTensor) []synthTensor { c["n_inner"] = 3 * n; return ts }),
		ErrUnsupportedArch, "n_inner is 12", "4 × n_embd = 16")
	wantOpenError(t, edit("nobias", func(c map[string]any, ts []synthTensor) []synthTensor {
		return slices.DeleteFunc(ts, func(x synthTensor) bool { return x.name == "h.1.mlp.c_fc.bias" })
	}), ErrConfigMismatch, "blk.1.ffn_up.bias")
	wantOpenError(t, edit("ctx", func(c map[string]any, ts []synthTensor) []synthTensor { c["n_ctx"] = 8; return ts }),
		ErrConfigMismatch, "wpe.weight", "[6, 4]", "[8, 4]")
	wantOpenError(t, edit("extra", func(c map[string]any, ts []synthTensor) []synthTensor {
		return append(ts, synthTensor{name: "h.0.attn.c_attn2.weight", shape: []int64{2}})
	}), ErrConfigMismatch, "h.0.attn.c_attn2.weight", "gpt2")
}

// TestTransposedRows checks the lazy transpose against a plain one for
// every element size GPT-2 checkpoints use (and 8-byte elements), with
// dimensions that are not multiples of its 64-element blocks and row
// ranges that start and end anywhere, through both rawRows and ReadRows.
func TestTransposedRows(t *testing.T) {
	const inRows, inCols = 70, 131 // stored [in=70, out=131]: 131 output rows of 70
	for _, dt := range []safetensors.DType{safetensors.F32, safetensors.F16, safetensors.BF16, safetensors.F64} {
		es := int64(dt.Size())
		data := make([]byte, inRows*inCols*es)
		for i := range data {
			data[i] = byte(i*31 + i/7)
		}
		if dt != safetensors.F64 {
			// keep the values finite for ReadRows: clear each element's top byte bits
			for i := es - 1; i < int64(len(data)); i += es {
				data[i] &= 0x3f
			}
		}
		st := &Tensor{Name: "w", Dims: []int64{inCols, inRows}, Type: gguf.TypeF32, data: data, stDT: dt, rowLen: inCols}
		tr, err := transposed(st)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Rows() != inCols || tr.RowLen() != inRows {
			t.Fatalf("%s: %d rows of %d, want %d of %d", dt, tr.Rows(), tr.RowLen(), inCols, inRows)
		}
		for _, rg := range [][2]int64{{0, inCols}, {0, 1}, {5, 64}, {63, 2}, {100, 31}, {130, 1}} {
			got := tr.rawRows(rg[0], rg[1])
			for c := rg[0]; c < rg[0]+rg[1]; c++ {
				for r := int64(0); r < inRows; r++ {
					o := ((c-rg[0])*inRows + r) * es
					i := (r*inCols + c) * es
					if !bytes.Equal(got[o:o+es], data[i:i+es]) {
						t.Fatalf("%s rows %v: output (%d,%d) is %x, want stored (%d,%d) %x", dt, rg, c, r, got[o:o+es], r, c, data[i:i+es])
					}
				}
			}
			f := make([]float32, rg[1]*inRows)
			if err := tr.ReadRows(rg[0], rg[1], f); err != nil {
				t.Fatal(err)
			}
			want := make([]float32, len(f))
			if err := safetensors.ToFloat32(want, got, dt); err != nil {
				t.Fatal(err)
			}
			for i := range f {
				if f[i] != want[i] && !(f[i] != f[i] && want[i] != want[i]) {
					t.Fatalf("%s rows %v: ReadRows value %d = %v, want %v", dt, rg, i, f[i], want[i])
				}
			}
		}
	}
}
