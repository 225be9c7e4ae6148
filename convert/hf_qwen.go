package convert

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qconv/qconv/gguf"
)

// qwenParams are the hyperparameters of a Qwen2 or Qwen3 checkpoint.
type qwenParams struct {
	nLayer, nCtx, nEmbd, nFF, nHead, nHeadKV, headDim, nVocab int64
	hasHeadDim                                                bool
	ropeTheta, rmsEps                                         float64
	// The experts of a Qwen2MoE or Qwen3MoE checkpoint: num_experts,
	// num_experts_per_tok, moe_intermediate_size and (Qwen2MoE)
	// shared_expert_intermediate_size, with transformers' defaults.
	nExpert, nExpertUsed, nFFExp, nFFShexp int64
}

// qwenConfig reads config.json with transformers' Qwen2Config and
// Qwen3Config defaults for the keys it may omit (Qwen3Config always has a
// head_dim, 128 by default; Qwen2Config has none).
func qwenConfig(arch string, c hfConfig) (qwenParams, error) {
	var p qwenParams
	var err error
	for _, e := range []struct {
		dst  *int64
		keys []string
	}{
		{&p.nLayer, []string{"num_hidden_layers"}}, {&p.nEmbd, []string{"hidden_size"}},
		{&p.nFF, []string{"intermediate_size"}}, {&p.nHead, []string{"num_attention_heads"}},
	} {
		if *e.dst, err = c.need(e.keys...); err != nil {
			return p, err
		}
	}
	if p.nHeadKV, err = c.intOr(p.nHead, "num_key_value_heads"); err != nil {
		return p, err
	}
	if p.nCtx, err = c.intOr(32768, "max_position_embeddings"); err != nil {
		return p, err
	}
	if p.nVocab, err = c.intOr(151936, "vocab_size"); err != nil {
		return p, err
	}
	if p.ropeTheta, err = c.floatOr(10000, "rope_theta"); err != nil {
		return p, err
	}
	if rp := ropeFull(c); rp != nil {
		if v, ok := rp.float("rope_theta"); ok {
			p.ropeTheta = v
		}
	}
	if p.rmsEps, err = c.floatOr(1e-6, "rms_norm_eps"); err != nil {
		return p, err
	}
	p.headDim, p.hasHeadDim = c.int("head_dim")
	if !p.hasHeadDim {
		p.headDim = p.nEmbd / p.nHead
		switch arch {
		case "qwen3":
			p.headDim, p.hasHeadDim = 128, true
		case "qwen3moe":
			// Qwen3MoeConfig sets head_dim to hidden_size / heads.
			p.hasHeadDim = true
		}
	}
	if p.nHeadKV <= 0 || p.nHead%p.nHeadKV != 0 {
		return p, fmt.Errorf("config.json: %d attention heads are not a multiple of %d KV heads", p.nHead, p.nHeadKV)
	}
	if p.headDim <= 0 || p.headDim%2 != 0 {
		return p, fmt.Errorf("config.json: head dimension %d is not a positive even number", p.headDim)
	}
	if !strings.HasSuffix(arch, "moe") {
		if n, ok := c.int("num_experts"); ok && n > 0 {
			return p, fmt.Errorf("config.json: %d experts: %w for %s (Qwen2MoeForCausalLM and Qwen3MoeForCausalLM are)", n, ErrUnsupportedArch, arch)
		}
		return p, nil
	}
	return p, qwenMoeConfig(arch, c, &p)
}

// qwenRename drops the multimodal tensors convert_hf_to_gguf.py's Qwen2 and
// Qwen3 classes skip and strips the "language_model." of wrapped text
// models.
func qwenRename(name string) string {
	name = strings.Replace(name, "language_model.", "", 1)
	for _, p := range []string{"mlp", "multi_modal_projector", "vision_model", "audio_tower", "model.vision_tower",
		"model.multi_modal_projector", "vision_tower.", "model.vision_"} {
		if strings.HasPrefix(name, p) {
			return ""
		}
	}
	return name
}

func buildQwen2(h *hfCheckpoint) error    { return buildQwen(h, "qwen2") }
func buildQwen3(h *hfCheckpoint) error    { return buildQwen(h, "qwen3") }
func buildQwen2Moe(h *hfCheckpoint) error { return buildQwen(h, "qwen2moe") }
func buildQwen3Moe(h *hfCheckpoint) error { return buildQwen(h, "qwen3moe") }

// buildQwen converts a Qwen2ForCausalLM or Qwen3ForCausalLM checkpoint as
// convert_hf_to_gguf.py's Qwen2Model and Qwen3Model do: llama's tensor
// names without the Q/K permutation (Qwen uses NeoX rope), Qwen 2's q/k/v
// biases, Qwen 3's per-head q/k norms, TextModel's metadata (no
// rope.dimension_count and no vocab_size: llama.cpp derives them), and a
// BPE tokenizer.json (or tokenizer.model when there is one).
func buildQwen(h *hfCheckpoint, arch string) error {
	p, err := qwenConfig(arch, h.config)
	if err != nil {
		return err
	}
	pre := arch + "."
	qRows, kvRows := p.nHead*p.headDim, p.nHeadKV*p.headDim
	names := llamaNames
	names.layer = maps.Clone(llamaNames.layer)
	shapes := map[string][]int64{
		"token_embd.weight": {p.nEmbd, p.nVocab}, "output.weight": {p.nEmbd, p.nVocab}, "output_norm.weight": {p.nEmbd},
		"attn_norm.weight": {p.nEmbd}, "ffn_norm.weight": {p.nEmbd},
		"attn_q.weight": {p.nEmbd, qRows}, "attn_k.weight": {p.nEmbd, kvRows}, "attn_v.weight": {p.nEmbd, kvRows},
		"attn_output.weight": {qRows, p.nEmbd},
		"ffn_gate.weight":    {p.nEmbd, p.nFF}, "ffn_up.weight": {p.nEmbd, p.nFF}, "ffn_down.weight": {p.nFF, p.nEmbd},
	}
	layerRequired := llamaLayerRequired
	switch strings.TrimSuffix(arch, "moe") {
	case "qwen2":
		// llama.cpp's qwen2 adds the q/k/v biases unconditionally.
		shapes["attn_q.bias"], shapes["attn_k.bias"], shapes["attn_v.bias"] = []int64{qRows}, []int64{kvRows}, []int64{kvRows}
		layerRequired = append(layerRequired[:len(layerRequired):len(layerRequired)], "attn_q.bias", "attn_k.bias", "attn_v.bias")
	case "qwen3":
		names.layer["self_attn.q_norm"], names.layer["self_attn.k_norm"] = "attn_q_norm", "attn_k_norm"
		shapes["attn_q_norm.weight"], shapes["attn_k_norm.weight"] = []int64{p.headDim}, []int64{p.headDim}
		layerRequired = append(layerRequired[:len(layerRequired):len(layerRequired)], "attn_q_norm.weight", "attn_k_norm.weight")
	}
	spec := hfTensorSpec{
		arch: arch, nLayer: p.nLayer, names: names, rename: qwenRename, skip: hfSkipped, shapes: shapes,
		required: []string{"token_embd.weight", "output_norm.weight"}, layerRequired: layerRequired,
	}
	if p.nExpert > 0 {
		qwenMoeSpec(&spec, p)
	}
	mapped, err := h.mapTensors(spec)
	if err != nil {
		return err
	}
	if arch == "qwen2moe" && !slices.ContainsFunc(mapped, func(m hfMapped) bool { return m.base == "output.weight" }) {
		// Checked with llama.cpp build 11669: its qwen2 and qwen3moe
		// loaders fall back to token_embd, its qwen2moe loader does not.
		return fmt.Errorf("%w: no lm_head.weight (tie_word_embeddings): llama.cpp's qwen2moe needs its own output matrix", ErrUnsupportedArch)
	}
	h.out = tensorsOf(mapped)

	// TextModel.set_gguf_parameters.
	h.generalKVs()
	h.setKV(pre+"block_count", u32(p.nLayer))
	h.setKV(pre+"context_length", u32(p.nCtx))
	h.setKV(pre+"embedding_length", u32(p.nEmbd))
	h.setKV(pre+"feed_forward_length", u32(p.nFF))
	h.setKV(pre+"attention.head_count", u32(p.nHead))
	h.setKV(pre+"attention.head_count_kv", u32(p.nHeadKV))
	if err := h.textRopeScaling(pre, arch, h.config); err != nil {
		return err
	}
	h.setKV(pre+"rope.freq_base", f32(p.ropeTheta))
	h.setKV(pre+"attention.layer_norm_rms_epsilon", f32(p.rmsEps))
	if p.nExpert > 0 {
		h.setKV(pre+"expert_count", u32(p.nExpert))
		h.setKV(pre+"expert_used_count", u32(p.nExpertUsed))
	}
	if p.hasHeadDim {
		h.setKV(pre+"attention.key_length", u32(p.headDim))
		h.setKV(pre+"attention.value_length", u32(p.headDim))
	}
	if p.nExpert > 0 {
		// Qwen2MoeModel.set_gguf_parameters.
		h.setKV(pre+"expert_feed_forward_length", u32(p.nFFExp))
		if p.nFFShexp > 0 {
			h.setKV(pre+"expert_shared_feed_forward_length", u32(p.nFFShexp))
		}
	}
	h.setKV("general.quantization_version", gguf.Uint32(2))

	// Tokenizer: tokenizer.model when there is one, else tokenizer.json.
	var nTokens int64
	if _, err := os.Stat(filepath.Join(h.dir, "tokenizer.model")); err == nil {
		nTokens, err = h.spVocab(p.nVocab, spStyleLlama)
		if err != nil {
			return err
		}
	} else if nTokens, err = h.bpeVocab(p.nVocab); err != nil {
		return err
	}
	return h.specialVocab(nTokens, specialTokenKeys)
}
