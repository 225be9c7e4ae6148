package convert

import (
	"math"
	"slices"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/safetensors"
)

func phi3Tensors() []synthTensor {
	return []synthTensor{
		{name: "model.embed_tokens.weight", shape: []int64{16, 8}},
		{name: "model.layers.0.input_layernorm.weight", shape: []int64{8}},
		{name: "model.layers.0.self_attn.qkv_proj.weight", shape: []int64{24, 8}},
		{name: "model.layers.0.self_attn.o_proj.weight", shape: []int64{8, 8}},
		{name: "model.layers.0.post_attention_layernorm.weight", shape: []int64{8}},
		{name: "model.layers.0.mlp.gate_up_proj.weight", shape: []int64{24, 8}},
		{name: "model.layers.0.mlp.down_proj.weight", shape: []int64{8, 12}},
		{name: "model.norm.weight", shape: []int64{8}},
		{name: "lm_head.weight", shape: []int64{16, 8}},
	}
}

// TestHFPhi3 converts a synthetic Phi3ForCausalLM checkpoint with a
// longrope rope_scaling: the fused qkv_proj and gate_up_proj stay fused
// (attn_qkv of 8 + 2·8 rows, ffn_up of 2 × 12 rows, values as stored),
// the long and short factors become the F32 tensors rope_factors_long /
// rope_factors_short (first, of rope dims / 2 = 2 values), attn_factor is
// sqrt(1 + ln(128/32) / ln(32)), and Phi3MiniModel's keys are written
// (original context, rotary dimensions, sliding window) but no
// rope.scaling.type. Its vocabulary takes added tokens as they are: a
// non-special "<|user|>" is user-defined (llama's rule would make it a
// control token), "▁" is kept, tokenizer.json's added tokens count too.
func TestHFPhi3(t *testing.T) {
	config := map[string]any{
		"architectures": []string{"Phi3ForCausalLM"}, "hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 1,
		"num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": 16, "max_position_embeddings": 128,
		"original_max_position_embeddings": 32, "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "sliding_window": 2047,
		"rope_scaling": map[string]any{"type": "longrope", "long_factor": []float64{1.5, 2.5}, "short_factor": []float64{1, 1.25}},
		"bos_token_id": 1, "eos_token_id": 11,
	}
	sc := writeSynth(t, "phi3-synth", config, phi3Tensors(), safetensors.BF16)
	writeSPModel(t, sc.dir, 10)
	writeJSON(t, sc.dir, "tokenizer_config.json", map[string]any{"tokenizer_class": "LlamaTokenizer", "add_bos_token": false,
		"added_tokens_decoder": map[string]any{
			"10": map[string]any{"content": "<|user|>", "special": false},
			"11": map[string]any{"content": "<|end|>", "special": true},
			"12": map[string]any{"content": "my\u2581word", "special": false},
		}})
	writeJSON(t, sc.dir, "tokenizer.json", map[string]any{"added_tokens": []any{
		map[string]any{"id": 13, "content": "<|assistant|>", "special": true},
	}})
	s := openSynth(t, sc.dir)
	checkLlamaCppRuns(t, sc.dir)
	wantTensors(t, s, map[string][]int64{
		"rope_factors_long.weight": {2}, "rope_factors_short.weight": {2},
		"token_embd.weight": {8, 16}, "output.weight": {8, 16}, "output_norm.weight": {8},
		"blk.0.attn_norm.weight": {8}, "blk.0.attn_qkv.weight": {8, 24}, "blk.0.attn_output.weight": {8, 8},
		"blk.0.ffn_norm.weight": {8}, "blk.0.ffn_up.weight": {8, 24}, "blk.0.ffn_down.weight": {12, 8},
	})
	if s.Tensors[0].Name != "rope_factors_long.weight" || s.Tensors[1].Name != "rope_factors_short.weight" {
		t.Errorf("first tensors %s, %s", s.Tensors[0].Name, s.Tensors[1].Name)
	}
	m := tensorMap(s)
	if err := equalValues(values(t, m["rope_factors_long.weight"]), []float32{1.5, 2.5}); err != nil {
		t.Errorf("rope_factors_long: %v", err)
	}
	if err := equalValues(values(t, m["rope_factors_short.weight"]), []float32{1, 1.25}); err != nil {
		t.Errorf("rope_factors_short: %v", err)
	}
	for gg, hf := range map[string]string{
		"blk.0.attn_qkv.weight": "model.layers.0.self_attn.qkv_proj.weight", "blk.0.ffn_up.weight": "model.layers.0.mlp.gate_up_proj.weight",
		"blk.0.ffn_down.weight": "model.layers.0.mlp.down_proj.weight", "blk.0.attn_norm.weight": "model.layers.0.input_layernorm.weight",
		"output.weight": "lm_head.weight",
	} {
		if err := equalValues(values(t, m[gg]), sc.values[hf]); err != nil {
			t.Errorf("%s is not %s as stored: %v", gg, hf, err)
		}
	}
	wantKVs(t, s, map[string]any{
		"general.architecture":                      gguf.String("phi3"),
		"phi3.context_length":                       gguf.Uint32(128),
		"phi3.rope.scaling.original_context_length": gguf.Uint32(32),
		"phi3.embedding_length":                     gguf.Uint32(8),
		"phi3.feed_forward_length":                  gguf.Uint32(12),
		"phi3.block_count":                          gguf.Uint32(1),
		"phi3.attention.head_count":                 gguf.Uint32(2),
		"phi3.attention.head_count_kv":              gguf.Uint32(2),
		"phi3.attention.layer_norm_rms_epsilon":     gguf.Float32(1e-5),
		"phi3.rope.dimension_count":                 gguf.Uint32(4),
		"phi3.rope.freq_base":                       gguf.Float32(10000),
		"phi3.attention.sliding_window":             gguf.Uint32(2047),
		"phi3.rope.scaling.attn_factor":             gguf.Float32(float32(math.Sqrt(1 + math.Log(4)/math.Log(32)))),
		"phi3.rope.scaling.type":                    nil,
		"tokenizer.ggml.model":                      gguf.String("llama"),
		"tokenizer.ggml.add_space_prefix":           nil,
		"tokenizer.ggml.add_bos_token":              gguf.Bool(false),
		"tokenizer.ggml.eos_token_id":               gguf.Uint32(11),
	})
	toks, _ := mustKV(t, s, "tokenizer.ggml.tokens").Interface().([]string)
	types, _ := mustKV(t, s, "tokenizer.ggml.token_type").Interface().([]int32)
	scores, _ := mustKV(t, s, "tokenizer.ggml.scores").Interface().([]float32)
	if !slices.Equal(toks[10:], []string{"<|user|>", "<|end|>", "my\u2581word", "<|assistant|>", "[PAD14]", "[PAD15]"}) ||
		!slices.Equal(types[10:], []int32{tokUserDefined, tokControl, tokUserDefined, tokControl, tokUnused, tokUnused}) ||
		!slices.Equal(scores[10:14], []float32{-1000, -1000, -1000, -1000}) {
		t.Errorf("added tokens %q types %v scores %v", toks[10:], types[10:], scores[10:])
	}

	// The written file: F16 weights, F32 norms and rope factors.
	f := writeGGUF(t, sc.dir, "f16", nil)
	for name, ty := range map[string]gguf.Type{"rope_factors_long.weight": gguf.TypeF32, "blk.0.attn_qkv.weight": gguf.TypeF16,
		"blk.0.ffn_up.weight": gguf.TypeF16, "blk.0.ffn_norm.weight": gguf.TypeF32} {
		if ti, ok := f.Tensor(name); !ok || ti.Type != ty {
			t.Errorf("%s: %v, want %v", name, ti.Type, ty)
		}
	}

	// yarn: attn_factor 0.1·ln(scale) + 1; no rope_scaling: no factors,
	// no attn_factor, sliding_window 0; refusals.
	edit := func(name string, f func(map[string]any)) *Source {
		c := jsonRoundTrip(t, config)
		f(c)
		sc := writeSynth(t, name, c, phi3Tensors(), safetensors.F32)
		writeSPModel(t, sc.dir, 16)
		return openSynth(t, sc.dir)
	}
	y := edit("phi3-yarn", func(c map[string]any) { c["rope_scaling"].(map[string]any)["type"] = "yarn" })
	wantKVs(t, y, map[string]any{"phi3.rope.scaling.attn_factor": gguf.Float32(float32(0.1*math.Log(4) + 1))})
	plain := edit("phi3-plain", func(c map[string]any) { delete(c, "rope_scaling"); delete(c, "sliding_window") })
	wantKVs(t, plain, map[string]any{"phi3.rope.scaling.attn_factor": nil, "phi3.attention.sliding_window": gguf.Uint32(0)})
	if _, ok := tensorMap(plain)["rope_factors_long.weight"]; ok || len(plain.Tensors) != 9 {
		t.Errorf("without rope_scaling: %d tensors", len(plain.Tensors))
	}
	for _, c := range []struct {
		name string
		edit func(map[string]any)
		is   error
		has  []string
	}{
		{"phi3-default", func(c map[string]any) { c["rope_scaling"].(map[string]any)["type"] = "default" }, ErrUnsupportedArch, []string{`"default"`, "phi3"}},
		{"phi3-factors", func(c map[string]any) { c["rope_scaling"].(map[string]any)["long_factor"] = []float64{1, 2, 3} }, ErrConfigMismatch, []string{"3 long and 2 short", "4 rotary dimensions"}},
		{"phi3-kv", func(c map[string]any) { c["num_key_value_heads"] = 1 }, ErrConfigMismatch, []string{"qkv_proj.weight", "[24, 8]", "[16, 8]"}},
	} {
		cfg := jsonRoundTrip(t, config)
		c.edit(cfg)
		sc := writeSynth(t, c.name, cfg, phi3Tensors(), safetensors.F32)
		writeSPModel(t, sc.dir, 16)
		wantOpenError(t, sc.dir, c.is, c.has...)
	}

	// tokenizer_config.json naming GPT2Tokenizer (Phi-4): the BPE
	// tokenizer.json is read instead.
	bpe := writeSynth(t, "phi3-bpe", config, phi3Tensors(), safetensors.F32)
	writeBPETokenizer(t, bpe.dir, 16, bpeRegexLlama3)
	writeJSON(t, bpe.dir, "tokenizer_config.json", map[string]any{"tokenizer_class": "GPT2Tokenizer"})
	wantKVs(t, openSynth(t, bpe.dir), map[string]any{"tokenizer.ggml.model": gguf.String("gpt2"), "tokenizer.ggml.pre": gguf.String("llama-bpe")})
	checkLlamaCppRuns(t, bpe.dir)
}
