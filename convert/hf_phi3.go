package convert

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/qconv/qconv/gguf"
)

// phi3Defaults are transformers' Phi3Config defaults for the keys the
// converter reads.
var phi3Defaults = map[string]any{
	"vocab_size": num("32064"), "max_position_embeddings": num("4096"), "original_max_position_embeddings": num("4096"),
	"rms_norm_eps": num("1e-05"), "rope_theta": num("10000.0"), "partial_rotary_factor": num("1.0"),
}

// phi3Names are gguf-py's names for Phi-3: the attention's fused qkv_proj
// and the MLP's fused gate_up_proj (which llama.cpp keeps fused as ffn_up,
// twice the feed-forward width).
var phi3Names = hfNameMap{
	global:        llamaNames.global,
	layerPrefixes: []string{"model.layers."},
	layer: map[string]string{
		"input_layernorm":          "attn_norm",
		"self_attn.qkv_proj":       "attn_qkv",
		"self_attn.o_proj":         "attn_output",
		"post_attention_layernorm": "ffn_norm",
		"mlp.gate_up_proj":         "ffn_up",
		"mlp.down_proj":            "ffn_down",
	},
}

// phi3Rename drops the vision tensors Phi3MiniModel skips.
func phi3Rename(name string) string {
	for _, p := range []string{"model.vision_tower.", "vision_tower.", "model.mm_projector.", "mm_projector."} {
		if strings.HasPrefix(name, p) {
			return ""
		}
	}
	return name
}

// buildPhi3 converts a Phi3ForCausalLM checkpoint as convert_hf_to_gguf.py's
// Phi3MiniModel does: fused attn_qkv and ffn_up kept as they are (no
// permutation: Phi-3 uses NeoX rope), its own metadata (the original
// context length, the rotary dimensions, sliding_window 0 when absent),
// the long/short rope factor tensors and attn_factor of a longrope (or
// yarn) rope_scaling, and its own SentencePiece vocabulary (or BPE when
// tokenizer_config.json names GPT2Tokenizer, as Phi-4 does).
func buildPhi3(h *hfCheckpoint) error {
	c := h.config.withDefaults(phi3Defaults)
	var nLayer, nEmbd, nFF, nHead, nCtx, nOrigCtx, nVocab int64
	var err error
	for _, e := range []struct {
		dst *int64
		key string
	}{
		{&nLayer, "num_hidden_layers"}, {&nEmbd, "hidden_size"}, {&nFF, "intermediate_size"},
		{&nHead, "num_attention_heads"}, {&nCtx, "max_position_embeddings"},
		{&nOrigCtx, "original_max_position_embeddings"}, {&nVocab, "vocab_size"},
	} {
		if *e.dst, err = c.need(e.key); err != nil {
			return err
		}
	}
	if v, ok := c.int("n_positions"); ok && v > 0 {
		nCtx = v // find_hparam(["n_positions", "max_position_embeddings"])
	}
	nHeadKV, err := c.intOr(nHead, "num_key_value_heads")
	if err != nil {
		return err
	}
	rmsEps, err := c.floatOr(1e-5, "rms_norm_eps")
	if err != nil {
		return err
	}
	theta, err := c.floatOr(10000, "rope_theta")
	if err != nil {
		return err
	}
	rotPct, err := c.floatOr(1, "partial_rotary_factor")
	if err != nil {
		return err
	}
	window, err := c.intOr(0, "sliding_window")
	if err != nil {
		return err
	}
	if nEmbd%nHead != 0 || nHeadKV <= 0 || nHead%nHeadKV != 0 {
		return fmt.Errorf("config.json: hidden_size %d, %d attention heads and %d KV heads do not divide evenly", nEmbd, nHead, nHeadKV)
	}
	headDim := nEmbd / nHead
	ropeDims := int64(rotPct*float64(nEmbd)) / nHead
	gqa := headDim * nHeadKV

	mapped, err := h.mapTensors(hfTensorSpec{
		arch: "phi3", nLayer: nLayer, names: phi3Names, rename: phi3Rename, skip: hfSkipped,
		shapes: map[string][]int64{
			"token_embd.weight": {nEmbd, nVocab}, "output.weight": {nEmbd, nVocab}, "output_norm.weight": {nEmbd},
			"attn_norm.weight": {nEmbd}, "ffn_norm.weight": {nEmbd},
			"attn_qkv.weight": {nEmbd, nEmbd + 2*gqa}, "attn_output.weight": {nEmbd, nEmbd},
			"ffn_up.weight": {nEmbd, 2 * nFF}, "ffn_down.weight": {nFF, nEmbd},
		},
		required: []string{"token_embd.weight", "output_norm.weight"},
		layerRequired: []string{"attn_norm.weight", "attn_qkv.weight", "attn_output.weight", "ffn_norm.weight",
			"ffn_up.weight", "ffn_down.weight"},
	})
	if err != nil {
		return err
	}
	out := tensorsOf(mapped)

	// Long-context rope: the factor tensors come first, as the script's
	// generated tensors do.
	attnFactor, hasFactor := 0.0, false
	if rs, ok := h.config["rope_scaling"].(map[string]any); ok {
		rp := hfConfig(rs)
		typ, _ := rp["rope_type"].(string)
		if typ == "" {
			typ, _ = rp["type"].(string)
		}
		typ = strings.ToLower(typ)
		scale := float64(nCtx) / float64(nOrigCtx)
		if nOrigCtx < 2 {
			return fmt.Errorf("config.json: original_max_position_embeddings %d: %w", nOrigCtx, ErrConfigMismatch)
		}
		switch typ {
		case "su", "longrope":
			attnFactor = 1
			if scale > 1 {
				attnFactor = math.Sqrt(1 + math.Log(scale)/math.Log(float64(nOrigCtx)))
			}
		case "yarn":
			attnFactor = 1
			if scale > 1 {
				attnFactor = 0.1*math.Log(scale) + 1
			}
		case "":
			return fmt.Errorf("config.json: rope_scaling has no type: %w", ErrUnsupportedArch)
		default:
			return fmt.Errorf("config.json: rope scaling type %q: %w for phi3 (longrope and yarn are)", typ, ErrUnsupportedArch)
		}
		hasFactor = true
		long, errL := jsonFloats(rp["long_factor"])
		short, errS := jsonFloats(rp["short_factor"])
		if errL != nil || errS != nil {
			return fmt.Errorf("config.json: rope_scaling needs long_factor and short_factor lists of numbers: %w", ErrConfigMismatch)
		}
		if 2*int64(len(long)) != ropeDims || len(short) != len(long) {
			return fmt.Errorf("%w: config.json: rope_scaling has %d long and %d short factors, the %d rotary dimensions need %d each",
				ErrConfigMismatch, len(long), len(short), ropeDims, ropeDims/2)
		}
		out = append([]*Tensor{f32Tensor("rope_factors_long.weight", long), f32Tensor("rope_factors_short.weight", short)}, out...)
	}
	h.out = out

	const pre = "phi3."
	h.generalKVs()
	h.setKV(pre+"context_length", u32(nCtx))
	h.setKV(pre+"rope.scaling.original_context_length", u32(nOrigCtx))
	h.setKV(pre+"embedding_length", u32(nEmbd))
	h.setKV(pre+"feed_forward_length", u32(nFF))
	h.setKV(pre+"block_count", u32(nLayer))
	h.setKV(pre+"attention.head_count", u32(nHead))
	h.setKV(pre+"attention.head_count_kv", u32(nHeadKV))
	h.setKV(pre+"attention.layer_norm_rms_epsilon", f32(rmsEps))
	h.setKV(pre+"rope.dimension_count", u32(ropeDims))
	h.setKV(pre+"rope.freq_base", f32(theta))
	h.setKV(pre+"attention.sliding_window", u32(window))
	if hasFactor {
		h.setKV(pre+"rope.scaling.attn_factor", f32(attnFactor))
	}
	h.setKV("general.quantization_version", gguf.Uint32(2))

	// Vocabulary.
	var nTokens int64
	tc, err := readHFJSONFile(filepath.Join(h.dir, "tokenizer_config.json"))
	if err != nil {
		return err
	}
	if class, _ := tc["tokenizer_class"].(string); class == "GPT2Tokenizer" {
		nTokens, err = h.bpeVocab(nVocab)
	} else if _, errSP := os.Stat(filepath.Join(h.dir, "tokenizer.model")); errors.Is(errSP, os.ErrNotExist) {
		return fmt.Errorf("no tokenizer.model: %w (phi3 reads its SentencePiece tokenizer.model unless tokenizer_config.json names GPT2Tokenizer)", ErrUnsupportedArch)
	} else {
		nTokens, err = h.spVocab(nVocab, spStylePhi3)
	}
	if err != nil {
		return err
	}
	return h.specialVocab(nTokens, specialTokenKeys)
}

// jsonFloats reads a JSON list of numbers as float32.
func jsonFloats(v any) ([]float32, error) {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return nil, fmt.Errorf("not a list of numbers")
	}
	out := make([]float32, len(l))
	for i, x := range l {
		f, ok := jsonFloat(x)
		if !ok {
			return nil, fmt.Errorf("element %d is not a number", i)
		}
		out[i] = float32(f)
	}
	return out, nil
}
