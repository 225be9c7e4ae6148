package convert

import (
	"slices"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/safetensors"
)

// gemmaTensors are the tensors of a synthetic Gemma checkpoint (prefix
// "model." for Gemma 1 to 3; version 2 and 3 have the extra norms, 3 the
// q/k norms), hidden size 8, 2 heads over 1 KV head of 4, FFN 16.
func gemmaTensors(prefix string, version int, nVocabRows int64) []synthTensor {
	ts := []synthTensor{{name: prefix + "embed_tokens.weight", shape: []int64{nVocabRows, 8}}, {name: prefix + "norm.weight", shape: []int64{8}}}
	p := prefix + "layers.0."
	ts = append(ts,
		synthTensor{name: p + "input_layernorm.weight", shape: []int64{8}},
		synthTensor{name: p + "self_attn.q_proj.weight", shape: []int64{8, 8}},
		synthTensor{name: p + "self_attn.k_proj.weight", shape: []int64{4, 8}},
		synthTensor{name: p + "self_attn.v_proj.weight", shape: []int64{4, 8}},
		synthTensor{name: p + "self_attn.o_proj.weight", shape: []int64{8, 8}},
		synthTensor{name: p + "post_attention_layernorm.weight", shape: []int64{8}},
		synthTensor{name: p + "mlp.gate_proj.weight", shape: []int64{16, 8}},
		synthTensor{name: p + "mlp.up_proj.weight", shape: []int64{16, 8}},
		synthTensor{name: p + "mlp.down_proj.weight", shape: []int64{8, 16}})
	if version >= 2 {
		ts = append(ts, synthTensor{name: p + "pre_feedforward_layernorm.weight", shape: []int64{8}},
			synthTensor{name: p + "post_feedforward_layernorm.weight", shape: []int64{8}})
	}
	if version >= 3 {
		ts = append(ts, synthTensor{name: p + "self_attn.q_norm.weight", shape: []int64{4}},
			synthTensor{name: p + "self_attn.k_norm.weight", shape: []int64{4}})
	}
	return ts
}

// gemmaWant are the tensors llama.cpp's gemma loaders take (no output:
// gemma and gemma2 always use token_embd; gemma3 does when output is
// absent).
func gemmaWant(version int) map[string][]int64 {
	m := map[string][]int64{
		"token_embd.weight": {8, 16}, "output_norm.weight": {8},
		"blk.0.attn_norm.weight": {8}, "blk.0.attn_q.weight": {8, 8}, "blk.0.attn_k.weight": {8, 4}, "blk.0.attn_v.weight": {8, 4},
		"blk.0.attn_output.weight": {8, 8}, "blk.0.ffn_norm.weight": {8},
		"blk.0.ffn_gate.weight": {8, 16}, "blk.0.ffn_up.weight": {8, 16}, "blk.0.ffn_down.weight": {16, 8},
	}
	if version >= 2 {
		m["blk.0.post_attention_norm.weight"], m["blk.0.post_ffw_norm.weight"] = []int64{8}, []int64{8}
	}
	if version >= 3 {
		m["blk.0.attn_q_norm.weight"], m["blk.0.attn_k_norm.weight"] = []int64{4}, []int64{4}
	}
	return m
}

// wantShifted checks that each GGUF norm holds its stored norm plus one
// (computed in F32: stored values are multiples of 1/64, so exact) and the
// other tensors their stored values.
func wantShifted(t *testing.T, s *Source, sc *synthCheckpoint, norms, same map[string]string) {
	t.Helper()
	m := tensorMap(s)
	for gg, hf := range norms {
		want := slices.Clone(sc.values[hf])
		for i := range want {
			want[i]++
		}
		if m[gg].Type != gguf.TypeF32 {
			t.Errorf("%s is %s, want F32", gg, m[gg].Type)
		}
		if err := equalValues(values(t, m[gg]), want); err != nil {
			t.Errorf("%s is not %s + 1: %v", gg, hf, err)
		}
	}
	for gg, hf := range same {
		if err := equalValues(values(t, m[gg]), sc.values[hf]); err != nil {
			t.Errorf("%s is not %s as stored: %v", gg, hf, err)
		}
	}
}

// TestHFGemma converts a synthetic GemmaForCausalLM checkpoint stored as
// F16 with an lm_head (dropped: llama.cpp's gemma has no output tensor).
// The norms get 1 added as convert_hf_to_gguf.py adds it, in torch's F16
// arithmetic: the F32 sum rounded to F16 (to nearest, ties to even), then
// written as F32. The metadata has no rope.freq_base (GemmaModel writes
// none), add_space_prefix is false and eot is 107 (CodeGemma's, written
// unchecked as gguf-py writes it).
func TestHFGemma(t *testing.T) {
	config := map[string]any{
		"architectures": []string{"GemmaForCausalLM"}, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
		"num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4, "vocab_size": 16, "max_position_embeddings": 32,
		"rms_norm_eps": 1e-6, "rope_theta": 10000.0, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
	}
	ts := append(gemmaTensors("model.", 1, 16), synthTensor{name: "lm_head.weight", shape: []int64{16, 8}})
	// input_layernorm: values whose sum with 1 rounds in F16.
	norm := []float32{0.5, -0.25, 0.0001, 2, 1.0 / 1024, -1, 1.0 / 2048, 3.0 / 2048}
	ts[2].vals = norm
	sc := writeSynth(t, "gemma-synth", config, ts, safetensors.F16)
	writeSPModel(t, sc.dir, 10)
	s := openSynth(t, sc.dir)
	checkLlamaCppRuns(t, sc.dir)
	wantTensors(t, s, gemmaWant(1))
	m := tensorMap(s)
	// 1.0001 rounds to 1 in F16 (spacing 2^-10 above 1); 1 + 2^-11 is a
	// tie and goes to the even 1; 1 + 3·2^-11 is a tie and goes to the
	// even 1 + 2^-9.
	want := []float32{1.5, 0.75, 1, 3, 1 + 1.0/1024, 0, 1, 1 + 1.0/512}
	if err := equalValues(values(t, m["blk.0.attn_norm.weight"]), want); err != nil {
		t.Errorf("attn_norm: %v (stored %v)", err, sc.values["model.layers.0.input_layernorm.weight"])
	}
	wantShifted(t, s, sc, map[string]string{
		"output_norm.weight": "model.norm.weight", "blk.0.ffn_norm.weight": "model.layers.0.post_attention_layernorm.weight",
	}, map[string]string{
		"token_embd.weight": "model.embed_tokens.weight", "blk.0.attn_q.weight": "model.layers.0.self_attn.q_proj.weight",
		"blk.0.attn_k.weight": "model.layers.0.self_attn.k_proj.weight",
	})
	wantKVs(t, s, map[string]any{
		"general.architecture":                   gguf.String("gemma"),
		"gemma.context_length":                   gguf.Uint32(32),
		"gemma.embedding_length":                 gguf.Uint32(8),
		"gemma.block_count":                      gguf.Uint32(1),
		"gemma.feed_forward_length":              gguf.Uint32(16),
		"gemma.attention.head_count":             gguf.Uint32(2),
		"gemma.attention.head_count_kv":          gguf.Uint32(1),
		"gemma.attention.layer_norm_rms_epsilon": gguf.Float32(1e-6),
		"gemma.attention.key_length":             gguf.Uint32(4),
		"gemma.attention.value_length":           gguf.Uint32(4),
		"gemma.rope.freq_base":                   nil,
		"gemma.rope.dimension_count":             nil,
		"tokenizer.ggml.model":                   gguf.String("llama"),
		"tokenizer.ggml.pre":                     gguf.String("default"),
		"tokenizer.ggml.add_space_prefix":        gguf.Bool(false),
		"tokenizer.ggml.eot_token_id":            gguf.Uint32(107),
		"tokenizer.ggml.bos_token_id":            gguf.Uint32(1),
		"tokenizer.ggml.eos_token_id":            gguf.Uint32(2),
		"tokenizer.ggml.padding_token_id":        gguf.Uint32(0),
		"tokenizer.ggml.prefix_token_id":         nil, // gguf-py has no writer for it any more
	})
	toks, _ := mustKV(t, s, "tokenizer.ggml.tokens").Interface().([]string)
	if len(toks) != 16 || toks[3] != "\u2581a" || toks[15] != "[PAD15]" {
		t.Errorf("tokens %q", toks)
	}

	// The whole file at F16: the 2-D weights are F16, the shifted norms F32.
	f := writeGGUF(t, sc.dir, "f16", nil)
	if ti, _ := f.Tensor("blk.0.attn_norm.weight"); ti.Type != gguf.TypeF32 {
		t.Errorf("attn_norm written as %s", ti.Type)
	}

	if err := removeFile(sc.dir, "tokenizer.model"); err != nil {
		t.Fatal(err)
	}
	wantOpenError(t, sc.dir, ErrUnsupportedArch, "tokenizer.model", "gemma")
}

// TestHFGemma2 converts a synthetic Gemma2ForCausalLM checkpoint stored as
// BF16: the four norms of a layer map to attn_norm, post_attention_norm,
// ffn_norm (pre_feedforward_layernorm) and post_ffw_norm, all shifted by
// one (in F32: BF16 is widened first), with the softcapping and sliding
// window keys, transformers' defaults (50, 30, 4096) when config.json is
// silent, and a refusal when a layer lacks its post-FFN norm.
func TestHFGemma2(t *testing.T) {
	config := map[string]any{
		"architectures": []string{"Gemma2ForCausalLM"}, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
		"num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4, "vocab_size": 16, "max_position_embeddings": 32,
		"attn_logit_softcapping": 40.0, "final_logit_softcapping": 25.0, "sliding_window": 16,
	}
	sc := writeSynth(t, "gemma2-synth", config, gemmaTensors("model.", 2, 16), safetensors.BF16)
	writeSPModel(t, sc.dir, 16)
	s := openSynth(t, sc.dir)
	checkLlamaCppRuns(t, sc.dir)
	wantTensors(t, s, gemmaWant(2))
	p := "model.layers.0."
	wantShifted(t, s, sc, map[string]string{
		"output_norm.weight": "model.norm.weight", "blk.0.attn_norm.weight": p + "input_layernorm.weight",
		"blk.0.post_attention_norm.weight": p + "post_attention_layernorm.weight",
		"blk.0.ffn_norm.weight":            p + "pre_feedforward_layernorm.weight",
		"blk.0.post_ffw_norm.weight":       p + "post_feedforward_layernorm.weight",
	}, map[string]string{"blk.0.ffn_down.weight": p + "mlp.down_proj.weight"})
	wantKVs(t, s, map[string]any{
		"general.architecture":                    gguf.String("gemma2"),
		"gemma2.attn_logit_softcapping":           gguf.Float32(40),
		"gemma2.final_logit_softcapping":          gguf.Float32(25),
		"gemma2.attention.sliding_window":         gguf.Uint32(16),
		"gemma2.attention.key_length":             gguf.Uint32(4),
		"gemma2.attention.layer_norm_rms_epsilon": gguf.Float32(1e-6), // transformers' default
		"gemma2.rope.freq_base":                   nil,
		"tokenizer.ggml.add_space_prefix":         gguf.Bool(false),
		"tokenizer.ggml.eot_token_id":             nil,
	})

	c := jsonRoundTrip(t, config)
	delete(c, "attn_logit_softcapping")
	delete(c, "final_logit_softcapping")
	delete(c, "sliding_window")
	def := writeSynth(t, "gemma2-defaults", c, gemmaTensors("model.", 2, 16), safetensors.F32)
	writeSPModel(t, def.dir, 16)
	wantKVs(t, openSynth(t, def.dir), map[string]any{
		"gemma2.attn_logit_softcapping":   gguf.Float32(50),
		"gemma2.final_logit_softcapping":  gguf.Float32(30),
		"gemma2.attention.sliding_window": gguf.Uint32(4096),
	})

	c["attn_logit_softcapping"] = nil
	null := writeSynth(t, "gemma2-null", c, gemmaTensors("model.", 2, 16), safetensors.F32)
	wantOpenError(t, null.dir, ErrUnsupportedArch, "attn_logit_softcapping is null")

	missing := writeSynth(t, "gemma2-missing", config, slices.DeleteFunc(gemmaTensors("model.", 2, 16), func(x synthTensor) bool {
		return x.name == p+"post_feedforward_layernorm.weight"
	}), safetensors.F32)
	wantOpenError(t, missing.dir, ErrConfigMismatch, "blk.0.post_ffw_norm.weight")
}

// TestHFGemma3 converts the text model of synthetic
// Gemma3ForConditionalGeneration checkpoints in both of transformers'
// layouts ("language_model.model.*" and "model.language_model.*"), with a
// vision tower and projector that are dropped, a minimal text_config
// (Gemma3TextConfig's defaults fill it: rope theta 1e6, local theta 1e4),
// linear rope scaling, token_embd stored with 2 rows past vocab_size (cut,
// as the script cuts it) and the q/k norms shifted like the other norms;
// then a Gemma3ForCausalLM with sliding_window_pattern 1 (no sliding
// window key), final logit softcapping and a stored lm_head (kept as
// output, not shifted), and the refusal of attn_logit_softcapping.
func TestHFGemma3(t *testing.T) {
	text := map[string]any{
		"hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
		"num_key_value_heads": 1, "head_dim": 4, "vocab_size": 16, "max_position_embeddings": 64, "sliding_window": 8,
		"rope_scaling": map[string]any{"factor": 8.0, "rope_type": "linear"}, "model_type": "gemma3_text",
	}
	config := map[string]any{
		"architectures": []string{"Gemma3ForConditionalGeneration"}, "text_config": text,
		"vision_config": map[string]any{"hidden_size": 4}, "eos_token_id": []int{1, 106},
	}
	for _, layout := range []struct{ lm, vision, proj string }{
		{"language_model.model.", "vision_tower.vision_model.", "multi_modal_projector."},
		{"model.language_model.", "model.vision_tower.vision_model.", "model.multi_modal_projector."},
	} {
		t.Run(layout.lm, func(t *testing.T) {
			ts := append(gemmaTensors(layout.lm, 3, 18),
				synthTensor{name: layout.vision + "embeddings.patch_embedding.weight", shape: []int64{4, 3}},
				synthTensor{name: layout.vision + "post_layernorm.weight", shape: []int64{4}},
				synthTensor{name: layout.proj + "mm_input_projection_weight", shape: []int64{4, 8}})
			sc := writeSynth(t, "gemma3-mm", config, ts, safetensors.F32)
			writeSPModel(t, sc.dir, 12)
			s := openSynth(t, sc.dir)
			checkLlamaCppRuns(t, sc.dir)
			wantTensors(t, s, gemmaWant(3))
			p := layout.lm + "layers.0."
			wantShifted(t, s, sc, map[string]string{
				"output_norm.weight": layout.lm + "norm.weight", "blk.0.attn_norm.weight": p + "input_layernorm.weight",
				"blk.0.attn_q_norm.weight": p + "self_attn.q_norm.weight", "blk.0.attn_k_norm.weight": p + "self_attn.k_norm.weight",
				"blk.0.post_attention_norm.weight": p + "post_attention_layernorm.weight",
				"blk.0.ffn_norm.weight":            p + "pre_feedforward_layernorm.weight",
				"blk.0.post_ffw_norm.weight":       p + "post_feedforward_layernorm.weight",
			}, map[string]string{"blk.0.attn_v.weight": p + "self_attn.v_proj.weight"})
			embd := values(t, tensorMap(s)["token_embd.weight"])
			if err := equalValues(embd, sc.values[layout.lm+"embed_tokens.weight"][:16*8]); err != nil {
				t.Errorf("token_embd is not the first 16 stored rows: %v", err)
			}
			wantKVs(t, s, map[string]any{
				"general.architecture":                    gguf.String("gemma3"),
				"gemma3.block_count":                      gguf.Uint32(1),
				"gemma3.context_length":                   gguf.Uint32(64),
				"gemma3.embedding_length":                 gguf.Uint32(8),
				"gemma3.feed_forward_length":              gguf.Uint32(16),
				"gemma3.attention.head_count":             gguf.Uint32(2),
				"gemma3.attention.head_count_kv":          gguf.Uint32(1),
				"gemma3.attention.key_length":             gguf.Uint32(4),
				"gemma3.attention.value_length":           gguf.Uint32(4),
				"gemma3.attention.layer_norm_rms_epsilon": gguf.Float32(1e-6),
				"gemma3.rope.freq_base":                   gguf.Float32(1e6),
				"gemma3.rope.freq_base_swa":               gguf.Float32(1e4),
				"gemma3.rope.scaling.type":                gguf.String("linear"),
				"gemma3.rope.scaling.factor":              gguf.Float32(8),
				"gemma3.attention.sliding_window":         gguf.Uint32(8),
				"gemma3.final_logit_softcapping":          nil,
				"gemma3.attn_logit_softcapping":           nil,
				"tokenizer.ggml.add_space_prefix":         gguf.Bool(false),
				"tokenizer.ggml.eos_token_id":             nil, // a list in config.json: ignored
			})
		})
	}

	causal := map[string]any{"architectures": []string{"Gemma3ForCausalLM"}, "sliding_window_pattern": 1,
		"final_logit_softcapping": 30.0, "rope_theta": 500000.0}
	for k, v := range text {
		causal[k] = v
	}
	delete(causal, "rope_scaling")
	sc := writeSynth(t, "gemma3-causal", causal, append(gemmaTensors("model.", 3, 16),
		synthTensor{name: "lm_head.weight", shape: []int64{16, 8}}), safetensors.F32)
	writeSPModel(t, sc.dir, 16)
	s := openSynth(t, sc.dir)
	checkLlamaCppRuns(t, sc.dir)
	want := gemmaWant(3)
	want["output.weight"] = []int64{8, 16}
	wantTensors(t, s, want)
	wantShifted(t, s, sc, nil, map[string]string{"output.weight": "lm_head.weight"})
	f := writeGGUF(t, sc.dir, "bf16", nil)
	for name, ty := range map[string]gguf.Type{"output.weight": gguf.TypeBF16, "blk.0.attn_q_norm.weight": gguf.TypeF32} {
		if ti, ok := f.Tensor(name); !ok || ti.Type != ty {
			t.Errorf("%s: %v, want %v", name, ti.Type, ty)
		}
	}
	wantKVs(t, s, map[string]any{
		"gemma3.attention.sliding_window": nil,
		"gemma3.final_logit_softcapping":  gguf.Float32(30),
		"gemma3.rope.freq_base":           gguf.Float32(500000),
		"gemma3.rope.scaling.type":        nil,
	})

	causal["attn_logit_softcapping"] = 50.0
	bad := writeSynth(t, "gemma3-cap", causal, gemmaTensors("model.", 3, 16), safetensors.F32)
	wantOpenError(t, bad.dir, ErrUnsupportedArch, "attn_logit_softcapping")
	delete(causal, "attn_logit_softcapping")
	unknown := writeSynth(t, "gemma3-unknown", causal, append(gemmaTensors("model.", 3, 16),
		synthTensor{name: "model.layers.0.self_attn.o_norm.weight", shape: []int64{4}}), safetensors.F32)
	wantOpenError(t, unknown.dir, ErrConfigMismatch, "model.layers.0.self_attn.o_norm.weight")
}
