package convert

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/safetensors"
)

// qwenTensors are the tensors of a synthetic Qwen checkpoint of nLayer
// layers: q has qRows rows, k and v kvRows, with q/k/v biases (Qwen 2) or
// per-head q/k norms of headDim (Qwen 3).
func qwenTensors(nLayer int, nEmbd, nFF, qRows, kvRows, headDim, nVocab int64, qwen3 bool) []synthTensor {
	ts := []synthTensor{{name: "model.embed_tokens.weight", shape: []int64{nVocab, nEmbd}}, {name: "model.norm.weight", shape: []int64{nEmbd}}}
	for l := range nLayer {
		p := fmt.Sprintf("model.layers.%d.", l)
		ts = append(ts,
			synthTensor{name: p + "input_layernorm.weight", shape: []int64{nEmbd}},
			synthTensor{name: p + "self_attn.q_proj.weight", shape: []int64{qRows, nEmbd}},
			synthTensor{name: p + "self_attn.k_proj.weight", shape: []int64{kvRows, nEmbd}},
			synthTensor{name: p + "self_attn.v_proj.weight", shape: []int64{kvRows, nEmbd}},
			synthTensor{name: p + "self_attn.o_proj.weight", shape: []int64{nEmbd, qRows}},
			synthTensor{name: p + "post_attention_layernorm.weight", shape: []int64{nEmbd}},
			synthTensor{name: p + "mlp.gate_proj.weight", shape: []int64{nFF, nEmbd}},
			synthTensor{name: p + "mlp.up_proj.weight", shape: []int64{nFF, nEmbd}},
			synthTensor{name: p + "mlp.down_proj.weight", shape: []int64{nEmbd, nFF}},
			synthTensor{name: p + "self_attn.rotary_emb.inv_freq", shape: []int64{2}})
		if qwen3 {
			ts = append(ts, synthTensor{name: p + "self_attn.q_norm.weight", shape: []int64{headDim}},
				synthTensor{name: p + "self_attn.k_norm.weight", shape: []int64{headDim}})
		} else {
			ts = append(ts, synthTensor{name: p + "self_attn.q_proj.bias", shape: []int64{qRows}},
				synthTensor{name: p + "self_attn.k_proj.bias", shape: []int64{kvRows}},
				synthTensor{name: p + "self_attn.v_proj.bias", shape: []int64{kvRows}})
		}
	}
	return ts
}

// qwenWant are the GGUF tensors llama.cpp's qwen2/qwen3 loaders take for
// such a checkpoint (output absent: tied embeddings).
func qwenWant(nLayer int, nEmbd, nFF, qRows, kvRows, headDim, nVocab int64, qwen3 bool) map[string][]int64 {
	m := map[string][]int64{"token_embd.weight": {nEmbd, nVocab}, "output_norm.weight": {nEmbd}}
	for l := range nLayer {
		b := fmt.Sprintf("blk.%d.", l)
		for n, d := range map[string][]int64{
			"attn_norm.weight": {nEmbd}, "attn_q.weight": {nEmbd, qRows}, "attn_k.weight": {nEmbd, kvRows},
			"attn_v.weight": {nEmbd, kvRows}, "attn_output.weight": {qRows, nEmbd}, "ffn_norm.weight": {nEmbd},
			"ffn_gate.weight": {nEmbd, nFF}, "ffn_up.weight": {nEmbd, nFF}, "ffn_down.weight": {nFF, nEmbd},
		} {
			m[b+n] = d
		}
		if qwen3 {
			m[b+"attn_q_norm.weight"], m[b+"attn_k_norm.weight"] = []int64{headDim}, []int64{headDim}
		} else {
			m[b+"attn_q.bias"], m[b+"attn_k.bias"], m[b+"attn_v.bias"] = []int64{qRows}, []int64{kvRows}, []int64{kvRows}
		}
	}
	return m
}

// TestHFQwen2 converts a synthetic Qwen2ForCausalLM checkpoint (GQA with
// 4 heads over 2 KV heads, tied embeddings, q/k/v biases, a Qwen 2
// tokenizer.json) and checks the GGUF names and shapes, that q/k are NOT
// permuted (Qwen uses NeoX rope: every tensor is its stored values), that
// the biases are kept as F32, and TextModel's metadata: no
// rope.dimension_count, vocab_size or key_length (config.json has no
// head_dim), BPE vocabulary with pre "qwen2".
func TestHFQwen2(t *testing.T) {
	const nEmbd, nFF, nVocab = 8, 16, 12
	config := map[string]any{
		"architectures": []string{"Qwen2ForCausalLM"}, "hidden_size": nEmbd, "intermediate_size": nFF,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": nVocab,
		"max_position_embeddings": 128, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": true,
		"bos_token_id": 10, "eos_token_id": 10, "sliding_window": 64, "use_sliding_window": false,
	}
	sc := writeSynth(t, "qwen2-synth", config, qwenTensors(2, nEmbd, nFF, 8, 4, 2, nVocab, false), safetensors.BF16)
	writeBPETokenizer(t, sc.dir, 11, bpeRegexQwen2) // 11 tokens, vocab_size 12: one [PAD11]
	s := openSynth(t, sc.dir)
	checkLlamaCppRuns(t, sc.dir)
	wantTensors(t, s, qwenWant(2, nEmbd, nFF, 8, 4, 2, nVocab, false))
	m := tensorMap(s)
	for gg, hf := range map[string]string{
		"blk.1.attn_q.weight": "model.layers.1.self_attn.q_proj.weight", "blk.1.attn_k.weight": "model.layers.1.self_attn.k_proj.weight",
		"blk.0.attn_q.bias": "model.layers.0.self_attn.q_proj.bias", "blk.0.attn_k.bias": "model.layers.0.self_attn.k_proj.bias",
		"blk.0.attn_v.bias": "model.layers.0.self_attn.v_proj.bias", "token_embd.weight": "model.embed_tokens.weight",
	} {
		if err := equalValues(values(t, m[gg]), sc.values[hf]); err != nil {
			t.Errorf("%s is not %s as stored: %v", gg, hf, err)
		}
	}
	if m["blk.0.attn_q.weight"].Type != gguf.TypeBF16 || m["blk.0.attn_q.bias"].Type != gguf.TypeF32 {
		t.Errorf("attn_q.weight %s (want BF16), attn_q.bias %s (want F32)", m["blk.0.attn_q.weight"].Type, m["blk.0.attn_q.bias"].Type)
	}
	wantKVs(t, s, map[string]any{
		"general.architecture":                   gguf.String("qwen2"),
		"general.name":                           gguf.String("qwen2-synth"),
		"qwen2.block_count":                      gguf.Uint32(2),
		"qwen2.context_length":                   gguf.Uint32(128),
		"qwen2.embedding_length":                 gguf.Uint32(nEmbd),
		"qwen2.feed_forward_length":              gguf.Uint32(nFF),
		"qwen2.attention.head_count":             gguf.Uint32(4),
		"qwen2.attention.head_count_kv":          gguf.Uint32(2),
		"qwen2.rope.freq_base":                   gguf.Float32(1e6),
		"qwen2.attention.layer_norm_rms_epsilon": gguf.Float32(1e-6),
		"general.quantization_version":           gguf.Uint32(2),
		"qwen2.rope.dimension_count":             nil,
		"qwen2.vocab_size":                       nil,
		"qwen2.attention.key_length":             nil,
		"qwen2.attention.sliding_window":         nil,
		"tokenizer.ggml.model":                   gguf.String("gpt2"),
		"tokenizer.ggml.pre":                     gguf.String("qwen2"),
		"tokenizer.ggml.bos_token_id":            gguf.Uint32(10),
		"tokenizer.ggml.eos_token_id":            gguf.Uint32(10),
	})
	toks, _ := mustKV(t, s, "tokenizer.ggml.tokens").Interface().([]string)
	types, _ := mustKV(t, s, "tokenizer.ggml.token_type").Interface().([]int32)
	if len(toks) != nVocab || toks[10] != "<|endoftext|>" || types[10] != tokControl || toks[11] != "[PAD11]" || types[11] != tokUnused {
		t.Errorf("tokens %q types %v", toks, types)
	}
	if len(s.Warnings) != 0 {
		t.Errorf("warnings %q", s.Warnings)
	}

	// The converted file: F16 weights, F32 norms and biases.
	f := writeGGUF(t, sc.dir, "f16", nil)
	for name, ty := range map[string]gguf.Type{"blk.0.attn_q.weight": gguf.TypeF16, "blk.0.attn_q.bias": gguf.TypeF32, "output_norm.weight": gguf.TypeF32} {
		if ti, ok := f.Tensor(name); !ok || ti.Type != ty {
			t.Errorf("%s: %v, want %v", name, ti.Type, ty)
		}
	}

	// Refusals, each naming the file or tensor at fault.
	edit := func(name string, cfg func(map[string]any), ts func([]synthTensor) []synthTensor) string {
		c := jsonRoundTrip(t, config)
		if cfg != nil {
			cfg(c)
		}
		tensors := qwenTensors(2, nEmbd, nFF, 8, 4, 2, nVocab, false)
		if ts != nil {
			tensors = ts(tensors)
		}
		sc := writeSynth(t, name, c, tensors, safetensors.F32)
		writeBPETokenizer(t, sc.dir, 11, bpeRegexQwen2)
		return sc.dir
	}
	drop := func(name string) func([]synthTensor) []synthTensor {
		return func(ts []synthTensor) []synthTensor {
			return slices.DeleteFunc(ts, func(x synthTensor) bool { return x.name == name })
		}
	}
	wantOpenError(t, edit("nobias", nil, drop("model.layers.1.self_attn.k_proj.bias")), ErrConfigMismatch, "blk.1.attn_k.bias")
	wantOpenError(t, edit("layers", func(c map[string]any) { c["num_hidden_layers"] = 3 }, nil), ErrConfigMismatch, "blk.2.attn_q.weight", "blk.2.attn_q.bias")
	wantOpenError(t, edit("kvheads", func(c map[string]any) { c["num_key_value_heads"] = 4 }, nil), ErrConfigMismatch,
		"model.layers.0.self_attn.k_proj.weight", "[4, 8]", "[8, 8]")
	wantOpenError(t, edit("unknown", nil, func(ts []synthTensor) []synthTensor {
		return append(ts, synthTensor{name: "model.layers.0.mlp.up_proj.bias", shape: []int64{nFF}})
	}), ErrConfigMismatch, "model.layers.0.mlp.up_proj.bias", "blk.0.ffn_up.bias", "qwen2")
	wantOpenError(t, edit("name", nil, func(ts []synthTensor) []synthTensor {
		return append(ts, synthTensor{name: "model.layers.0.self_attn.rotary.weight", shape: []int64{2}})
	}), ErrConfigMismatch, "model.layers.0.self_attn.rotary.weight")
	wantOpenError(t, edit("longrope", func(c map[string]any) {
		c["rope_scaling"] = map[string]any{"type": "longrope", "long_factor": []float64{1}, "short_factor": []float64{1}}
	}, nil), ErrUnsupportedArch, "longrope", "qwen2")
}

func mustKV(t *testing.T, s *Source, k string) gguf.Value {
	t.Helper()
	v, ok := s.KV(k)
	if !ok {
		t.Fatalf("no %s", k)
	}
	return v
}

// TestHFQwen3 converts a synthetic Qwen3ForCausalLM checkpoint whose
// head_dim (4) is not hidden_size / heads (8 / 4 = 2): q has 4 × 4 rows,
// the per-head q/k norms have 4 values and map to attn_q_norm /
// attn_k_norm (F32, not shifted: Qwen's RMSNorm multiplies by the weight),
// key_length/value_length are 4, there are no biases; and a config.json
// without head_dim means transformers' default 128, which these tensors do
// not have.
func TestHFQwen3(t *testing.T) {
	const nEmbd, nFF, nVocab = 8, 16, 12
	config := map[string]any{
		"architectures": []string{"Qwen3ForCausalLM"}, "hidden_size": nEmbd, "intermediate_size": nFF,
		"num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 4, "vocab_size": nVocab,
		"max_position_embeddings": 256, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
		"rope_scaling": map[string]any{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64},
	}
	sc := writeSynth(t, "qwen3-synth", config, qwenTensors(1, nEmbd, nFF, 16, 8, 4, nVocab, true), safetensors.F32)
	writeBPETokenizer(t, sc.dir, 12, bpeRegexQwen2)
	s := openSynth(t, sc.dir)
	checkLlamaCppRuns(t, sc.dir)
	wantTensors(t, s, qwenWant(1, nEmbd, nFF, 16, 8, 4, nVocab, true))
	m := tensorMap(s)
	for gg, hf := range map[string]string{
		"blk.0.attn_q_norm.weight": "model.layers.0.self_attn.q_norm.weight", "blk.0.attn_k_norm.weight": "model.layers.0.self_attn.k_norm.weight",
		"blk.0.attn_q.weight": "model.layers.0.self_attn.q_proj.weight", "blk.0.attn_output.weight": "model.layers.0.self_attn.o_proj.weight",
	} {
		if err := equalValues(values(t, m[gg]), sc.values[hf]); err != nil {
			t.Errorf("%s is not %s as stored: %v", gg, hf, err)
		}
	}
	wantKVs(t, s, map[string]any{
		"general.architecture":                       gguf.String("qwen3"),
		"qwen3.attention.head_count":                 gguf.Uint32(4),
		"qwen3.attention.head_count_kv":              gguf.Uint32(2),
		"qwen3.attention.key_length":                 gguf.Uint32(4),
		"qwen3.attention.value_length":               gguf.Uint32(4),
		"qwen3.context_length":                       gguf.Uint32(256),
		"qwen3.rope.freq_base":                       gguf.Float32(1e6),
		"qwen3.rope.scaling.type":                    gguf.String("yarn"),
		"qwen3.rope.scaling.factor":                  gguf.Float32(4),
		"qwen3.rope.scaling.original_context_length": gguf.Uint32(64),
		"qwen3.rope.dimension_count":                 nil,
		"tokenizer.ggml.pre":                         gguf.String("qwen2"),
	})

	c := jsonRoundTrip(t, config)
	delete(c, "head_dim")
	noHD := writeSynth(t, "qwen3-nohd", c, qwenTensors(1, nEmbd, nFF, 16, 8, 4, nVocab, true), safetensors.F32)
	wantOpenError(t, noHD.dir, ErrConfigMismatch, "q_proj.weight", "[512, 8]")
	biased := writeSynth(t, "qwen3-bias", config, append(qwenTensors(1, nEmbd, nFF, 16, 8, 4, nVocab, true),
		synthTensor{name: "model.layers.0.self_attn.q_proj.bias", shape: []int64{16}}), safetensors.F32)
	wantOpenError(t, biased.dir, ErrConfigMismatch, "q_proj.bias", "qwen3")
}

// TestHFBPEWarning checks that a BPE pre-tokenizer qconv does not
// recognize still converts (pre "default", as before) and is reported in
// Source.Warnings, naming tokenizer.json.
func TestHFBPEWarning(t *testing.T) {
	config := map[string]any{
		"architectures": []string{"Qwen2ForCausalLM"}, "hidden_size": 8, "intermediate_size": 16,
		"num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 12,
	}
	sc := writeSynth(t, "qwen2-pre", config, qwenTensors(1, 8, 16, 8, 4, 2, 12, false), safetensors.F32)
	writeBPETokenizer(t, sc.dir, 12, `\p{L}+|\s+`)
	s := openSynth(t, sc.dir)
	if v, _ := s.KV("tokenizer.ggml.pre"); !v.Equal(gguf.String("default")) {
		t.Errorf("pre = %v, want default", v)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "tokenizer.json") || !strings.Contains(s.Warnings[0], `"default"`) {
		t.Errorf("warnings %q, want one about tokenizer.json's pre-tokenizer", s.Warnings)
	}
}
