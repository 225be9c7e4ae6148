package convert

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/qconv/qconv/gguf"
)

// Transformers' defaults for the Gemma config keys the converter reads
// (GemmaConfig, Gemma2Config, Gemma3TextConfig): convert_hf_to_gguf.py
// reads config.json through AutoConfig and so sees them when config.json
// is silent, as a Gemma 3 text_config often is.
var (
	gemmaDefaults = map[string]any{
		"vocab_size": num("256000"), "hidden_size": num("3072"), "intermediate_size": num("24576"),
		"num_hidden_layers": num("28"), "num_attention_heads": num("16"), "num_key_value_heads": num("16"),
		"head_dim": num("256"), "max_position_embeddings": num("8192"), "rms_norm_eps": num("1e-06"),
		"rope_theta": num("10000.0"),
	}
	gemma2Defaults = map[string]any{
		"vocab_size": num("256000"), "hidden_size": num("2304"), "intermediate_size": num("9216"),
		"num_hidden_layers": num("26"), "num_attention_heads": num("8"), "num_key_value_heads": num("4"),
		"head_dim": num("256"), "max_position_embeddings": num("8192"), "rms_norm_eps": num("1e-06"),
		"rope_theta": num("10000.0"), "attn_logit_softcapping": num("50.0"), "final_logit_softcapping": num("30.0"),
		"sliding_window": num("4096"),
	}
	gemma3Defaults = map[string]any{
		"vocab_size": num("262208"), "hidden_size": num("2304"), "intermediate_size": num("9216"),
		"num_hidden_layers": num("26"), "num_attention_heads": num("8"), "num_key_value_heads": num("4"),
		"head_dim": num("256"), "max_position_embeddings": num("131072"), "rms_norm_eps": num("1e-06"),
		"rope_theta": num("1000000.0"), "rope_local_base_freq": num("10000.0"), "sliding_window": num("4096"),
	}
)

// gemmaParams are the hyperparameters of a Gemma checkpoint.
type gemmaParams struct {
	nLayer, nCtx, nEmbd, nFF, nHead, nHeadKV, headDim, nVocab int64
	rmsEps                                                    float64
}

func gemmaConfig(c hfConfig) (gemmaParams, error) {
	var p gemmaParams
	var err error
	for _, e := range []struct {
		dst *int64
		key string
	}{
		{&p.nLayer, "num_hidden_layers"}, {&p.nEmbd, "hidden_size"}, {&p.nFF, "intermediate_size"},
		{&p.nHead, "num_attention_heads"}, {&p.nHeadKV, "num_key_value_heads"}, {&p.headDim, "head_dim"},
		{&p.nCtx, "max_position_embeddings"}, {&p.nVocab, "vocab_size"},
	} {
		if *e.dst, err = c.need(e.key); err != nil {
			return p, err
		}
	}
	if p.rmsEps, err = c.floatOr(1e-6, "rms_norm_eps"); err != nil {
		return p, err
	}
	if p.nHead%p.nHeadKV != 0 {
		return p, fmt.Errorf("config.json: %d attention heads are not a multiple of %d KV heads", p.nHead, p.nHeadKV)
	}
	return p, nil
}

// gemmaNames are gguf-py's names for Gemma 1; Gemma 2 and 3 have four
// norms per layer (gemma2Names).
var gemmaNames = llamaNames

var gemma2Names = hfNameMap{
	global:        llamaNames.global,
	layerPrefixes: []string{"model.layers."},
	layer: map[string]string{
		"input_layernorm":            "attn_norm",
		"self_attn.q_proj":           "attn_q",
		"self_attn.k_proj":           "attn_k",
		"self_attn.v_proj":           "attn_v",
		"self_attn.o_proj":           "attn_output",
		"post_attention_layernorm":   "post_attention_norm",
		"pre_feedforward_layernorm":  "ffn_norm",
		"post_feedforward_layernorm": "post_ffw_norm",
		"mlp.gate_proj":              "ffn_gate",
		"mlp.up_proj":                "ffn_up",
		"mlp.down_proj":              "ffn_down",
	},
}

// gemmaShapes are the tensor shapes of every Gemma version (the names a
// version lacks never map).
func gemmaShapes(p gemmaParams) map[string][]int64 {
	qRows, kvRows := p.nHead*p.headDim, p.nHeadKV*p.headDim
	return map[string][]int64{
		"token_embd.weight": {p.nEmbd, p.nVocab}, "output.weight": {p.nEmbd, p.nVocab}, "output_norm.weight": {p.nEmbd},
		"attn_norm.weight": {p.nEmbd}, "ffn_norm.weight": {p.nEmbd},
		"post_attention_norm.weight": {p.nEmbd}, "post_ffw_norm.weight": {p.nEmbd},
		"attn_q.weight": {p.nEmbd, qRows}, "attn_k.weight": {p.nEmbd, kvRows}, "attn_v.weight": {p.nEmbd, kvRows},
		"attn_output.weight": {qRows, p.nEmbd},
		"attn_q_norm.weight": {p.headDim}, "attn_k_norm.weight": {p.headDim},
		"ffn_gate.weight": {p.nEmbd, p.nFF}, "ffn_up.weight": {p.nEmbd, p.nFF}, "ffn_down.weight": {p.nFF, p.nEmbd},
	}
}

// gemmaSkipped adds lm_head, which GemmaModel and Gemma2Model drop
// (llama.cpp's gemma and gemma2 take the output from token_embd).
var gemmaSkipped = append(hfSkipped[:len(hfSkipped):len(hfSkipped)], "lm_head.weight")

var gemmaLayerRequired = []string{"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
	"ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"}

// gemma2LayerRequired adds the norms after attention and after the FFN.
var gemma2LayerRequired = append(gemmaLayerRequired[:len(gemmaLayerRequired):len(gemmaLayerRequired)],
	"post_attention_norm.weight", "post_ffw_norm.weight")

// shiftNorms adds 1 to every tensor of m whose stored name ends in
// "norm.weight", as convert_hf_to_gguf.py's Gemma classes do: Gemma's
// RMSNorm multiplies by (1 + weight), llama.cpp's by weight.
func shiftNorms(m []hfMapped) error {
	for i := range m {
		if !strings.HasSuffix(m[i].stored, "norm.weight") {
			continue
		}
		t, err := shifted(m[i].t, 1)
		if err != nil {
			return err
		}
		m[i].t = t
	}
	return nil
}

// gemmaKVs writes the metadata GemmaModel and Gemma2Model write (no
// TextModel base: no rope.freq_base, which llama.cpp takes as 10000).
func (h *hfCheckpoint) gemmaKVs(pre string, p gemmaParams, c hfConfig) {
	h.generalKVs()
	h.setKV(pre+"context_length", u32(p.nCtx))
	h.setKV(pre+"embedding_length", u32(p.nEmbd))
	h.setKV(pre+"block_count", u32(p.nLayer))
	h.setKV(pre+"feed_forward_length", u32(p.nFF))
	h.setKV(pre+"attention.head_count", u32(p.nHead))
	h.setKV(pre+"attention.head_count_kv", u32(p.nHeadKV))
	h.setKV(pre+"attention.layer_norm_rms_epsilon", f32(p.rmsEps))
	h.setKV(pre+"attention.key_length", u32(p.headDim))
	h.setKV(pre+"attention.value_length", u32(p.headDim))
	if theta, ok := c.float("rope_theta"); ok && theta != 10000 {
		h.warn("config.json: rope_theta is %g, but convert_hf_to_gguf.py writes no rope.freq_base for %s and llama.cpp uses 10000", theta, strings.TrimSuffix(pre, "."))
	}
}

// gemmaVocab writes tokenizer.model's vocabulary and the special tokens,
// then add_space_prefix = false, as the Gemma classes do.
func (h *hfCheckpoint) gemmaVocab(arch string, nVocab int64, eot bool) error {
	if _, err := os.Stat(filepath.Join(h.dir, "tokenizer.model")); errors.Is(err, os.ErrNotExist) {
		if arch == "gemma3" {
			// Gemma3Model falls back to tokenizer.json.
			n, err := h.bpeVocab(nVocab)
			if err != nil {
				return err
			}
			return h.specialVocab(n, specialTokenKeys)
		}
		return fmt.Errorf("no tokenizer.model: %w (%s needs its SentencePiece tokenizer.model)", ErrUnsupportedArch, arch)
	}
	n, err := h.spVocab(nVocab, spStyleLlama)
	if err != nil {
		return err
	}
	if err := h.specialVocab(n, specialTokenKeys); err != nil {
		return err
	}
	if eot {
		// GemmaModel asks for CodeGemma's prefix, suffix, middle, fsep and
		// eot tokens (67, 69, 68, 70, 107 unless the tokenizer files name
		// them); gguf-py writes only eot, the one it has a key for, and
		// without checking it against the vocabulary.
		const key = "tokenizer.ggml.eot_token_id"
		if err := h.specialVocab(math.MaxInt64, []struct{ typ, key string }{{"eot", key}}); err != nil {
			return err
		}
		if !hasKey(h.kvs, key) {
			h.setKV(key, gguf.Uint32(107))
		}
	}
	h.setKV("tokenizer.ggml.add_space_prefix", gguf.Bool(false))
	return nil
}

// buildGemma converts a GemmaForCausalLM checkpoint as convert_hf_to_gguf.py's
// GemmaModel does: llama's names (no Q/K permutation), lm_head dropped
// (llama.cpp's gemma uses the tied embedding), 1 added to the norms.
func buildGemma(h *hfCheckpoint) error {
	c := h.config.withDefaults(gemmaDefaults)
	p, err := gemmaConfig(c)
	if err != nil {
		return err
	}
	mapped, err := h.mapTensors(hfTensorSpec{
		arch: "gemma", nLayer: p.nLayer, names: gemmaNames, skip: gemmaSkipped, shapes: gemmaShapes(p),
		required: []string{"token_embd.weight", "output_norm.weight"}, layerRequired: gemmaLayerRequired,
	})
	if err != nil {
		return err
	}
	if err := shiftNorms(mapped); err != nil {
		return err
	}
	h.out = tensorsOf(mapped)
	h.gemmaKVs("gemma.", p, h.config)
	h.setKV("general.quantization_version", gguf.Uint32(2))
	return h.gemmaVocab("gemma", p.nVocab, true)
}

// buildGemma2 converts a Gemma2ForCausalLM checkpoint as Gemma2Model does:
// Gemma's conversion with the two extra norms per layer, the attention and
// final logit softcapping and the sliding window.
func buildGemma2(h *hfCheckpoint) error {
	for _, k := range []string{"attn_logit_softcapping", "final_logit_softcapping", "sliding_window"} {
		if v, ok := h.config[k]; ok && v == nil {
			return fmt.Errorf("config.json: %s is null: %w (convert_hf_to_gguf.py needs a value for gemma2)", k, ErrUnsupportedArch)
		}
	}
	c := h.config.withDefaults(gemma2Defaults)
	p, err := gemmaConfig(c)
	if err != nil {
		return err
	}
	mapped, err := h.mapTensors(hfTensorSpec{
		arch: "gemma2", nLayer: p.nLayer, names: gemma2Names, skip: gemmaSkipped, shapes: gemmaShapes(p),
		required: []string{"token_embd.weight", "output_norm.weight"}, layerRequired: gemma2LayerRequired,
	})
	if err != nil {
		return err
	}
	if err := shiftNorms(mapped); err != nil {
		return err
	}
	h.out = tensorsOf(mapped)
	const pre = "gemma2."
	h.gemmaKVs(pre, p, h.config)
	attnCap, err := c.floatOr(0, "attn_logit_softcapping")
	if err != nil {
		return err
	}
	finalCap, err := c.floatOr(0, "final_logit_softcapping")
	if err != nil {
		return err
	}
	window, err := c.need("sliding_window")
	if err != nil {
		return err
	}
	h.setKV(pre+"attn_logit_softcapping", f32(attnCap))
	h.setKV(pre+"final_logit_softcapping", f32(finalCap))
	h.setKV(pre+"attention.sliding_window", u32(window))
	h.setKV("general.quantization_version", gguf.Uint32(2))
	return h.gemmaVocab("gemma2", p.nVocab, false)
}

// gemma3Rename maps the text model of a Gemma3ForConditionalGeneration
// checkpoint to Gemma3ForCausalLM's names and drops its vision tower and
// projector ("language_model.model.*" and "model.language_model.*" both
// become "model.*").
func gemma3Rename(name string) string {
	if strings.Contains(name, "language_model.") {
		return strings.Replace(name, "language_model.", "", 1)
	}
	for _, p := range []string{"multi_modal_projector.", "vision_tower.", "multimodal_projector.", "vision_model.",
		"model.multi_modal_projector.", "model.vision_tower."} {
		if strings.HasPrefix(name, p) {
			return ""
		}
	}
	return name
}

// buildGemma3 converts a Gemma3ForCausalLM checkpoint, or the text model
// of a Gemma3ForConditionalGeneration one (config.json's text_config
// merged over the top level, the vision tensors dropped), as
// convert_hf_to_gguf.py's Gemma3Model does: Gemma 2's tensors plus the
// per-head q/k norms, 1 added to every norm (q/k norms included), the
// tied output kept when stored, and TextModel's metadata with Gemma 3's
// defaults.
func buildGemma3(h *hfCheckpoint) error {
	c := maps.Clone(h.config)
	if tc, ok := c["text_config"].(map[string]any); ok {
		maps.Copy(c, tc)
	}
	if v := c["attn_logit_softcapping"]; v != nil {
		return fmt.Errorf("config.json: attn_logit_softcapping is set: %w (Gemma 3 has none; convert_hf_to_gguf.py refuses it)", ErrUnsupportedArch)
	}
	c = c.withDefaults(gemma3Defaults)
	p, err := gemmaConfig(c)
	if err != nil {
		return err
	}
	names := gemma2Names
	names.layer = maps.Clone(gemma2Names.layer)
	names.layer["self_attn.q_norm"], names.layer["self_attn.k_norm"] = "attn_q_norm", "attn_k_norm"
	shapes := gemmaShapes(p)
	// The script cuts token_embd to the vocabulary's size: rows past
	// vocab_size are dropped.
	embd := ""
	for _, t := range h.src.Tensors {
		if gemma3Rename(t.Name) == "model.embed_tokens.weight" {
			embd = t.Name
			if len(t.Dims) == 2 && t.Dims[0] == p.nEmbd && t.Dims[1] > p.nVocab {
				shapes["token_embd.weight"] = []int64{p.nEmbd, t.Dims[1]}
			}
		}
	}
	mapped, err := h.mapTensors(hfTensorSpec{
		arch: "gemma3", nLayer: p.nLayer, names: names, rename: gemma3Rename, skip: hfSkipped, shapes: shapes,
		required: []string{"token_embd.weight", "output_norm.weight"},
		layerRequired: append(gemma2LayerRequired[:len(gemma2LayerRequired):len(gemma2LayerRequired)],
			"attn_q_norm.weight", "attn_k_norm.weight"),
	})
	if err != nil {
		return err
	}
	if err := shiftNorms(mapped); err != nil {
		return err
	}
	for i := range mapped {
		if t := mapped[i].t; mapped[i].stored == embd && t.Dims[1] > p.nVocab {
			cut := *t
			cut.Dims = []int64{t.Dims[0], p.nVocab}
			cut.data = t.data[:p.nVocab*t.rowBytes()]
			mapped[i].t = &cut
		}
	}
	h.out = tensorsOf(mapped)

	// TextModel.set_gguf_parameters, then Gemma3Model's own keys.
	const pre = "gemma3."
	h.generalKVs()
	h.setKV(pre+"block_count", u32(p.nLayer))
	h.setKV(pre+"context_length", u32(p.nCtx))
	h.setKV(pre+"embedding_length", u32(p.nEmbd))
	h.setKV(pre+"feed_forward_length", u32(p.nFF))
	h.setKV(pre+"attention.head_count", u32(p.nHead))
	h.setKV(pre+"attention.head_count_kv", u32(p.nHeadKV))
	if err := h.textRopeScaling(pre, "gemma3", c); err != nil {
		return err
	}
	theta, err := c.floatOr(1e6, "rope_theta")
	if err != nil {
		return err
	}
	swaTheta, err := c.floatOr(10000, "rope_local_base_freq")
	if err != nil {
		return err
	}
	if rp := ropeParams(c); rp != nil {
		// transformers' per-layer-type form: {"full_attention": {...},
		// "sliding_attention": {...}}.
		if full, ok := rp["full_attention"].(map[string]any); ok {
			if v, ok := hfConfig(full).float("rope_theta"); ok {
				theta = v
			}
		} else if v, ok := rp.float("rope_theta"); ok {
			theta = v
		}
		if swa, ok := rp["sliding_attention"].(map[string]any); ok {
			if v, ok := hfConfig(swa).float("rope_theta"); ok {
				swaTheta = v
			}
		}
	}
	h.setKV(pre+"rope.freq_base", f32(theta))
	h.setKV(pre+"rope.freq_base_swa", f32(swaTheta))
	h.setKV(pre+"attention.layer_norm_rms_epsilon", f32(p.rmsEps))
	h.setKV(pre+"attention.key_length", u32(p.headDim))
	h.setKV(pre+"attention.value_length", u32(p.headDim))
	if v, err := c.floatOr(0, "final_logit_softcapping"); err != nil {
		return err
	} else if v != 0 {
		h.setKV(pre+"final_logit_softcapping", f32(v))
	}
	if pattern, ok := c.int("sliding_window_pattern"); !ok || pattern != 1 {
		window, err := c.need("sliding_window")
		if err != nil {
			return err
		}
		h.setKV(pre+"attention.sliding_window", u32(window))
	}
	h.setKV("general.quantization_version", gguf.Uint32(2))
	return h.gemmaVocab("gemma3", p.nVocab, false)
}
