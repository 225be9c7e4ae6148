package convert

import (
	"fmt"

	"github.com/qconv/qconv/gguf"
)

// gpt2Names are gguf-py's GPT-2 names, with and without the
// "transformer." prefix (GPT2LMHeadModel saves it, older checkpoints such
// as openai-community/gpt2 do not).
var gpt2Names = hfNameMap{
	global: map[string]string{
		"transformer.wte": "token_embd", "wte": "token_embd",
		"transformer.wpe": "position_embd", "wpe": "position_embd",
		"transformer.ln_f": "output_norm", "ln_f": "output_norm",
		"lm_head": "output",
	},
	layerPrefixes: []string{"transformer.h.", "h."},
	layer: map[string]string{
		"ln_1":        "attn_norm",
		"attn.c_attn": "attn_qkv",
		"attn.c_proj": "attn_output",
		"ln_2":        "ffn_norm",
		"mlp.c_fc":    "ffn_up",
		"mlp.c_proj":  "ffn_down",
	},
}

// gpt2Skipped adds the attention buffers GPT-2 checkpoints may carry (the
// causal mask "attn.bias" and "attn.masked_bias", not weights).
var gpt2Skipped = append(hfSkipped[:len(hfSkipped):len(hfSkipped)], ".attn.bias", ".attn.masked_bias")

// gpt2Conv1D are the GGUF names of GPT-2's Conv1D weights, which Hugging
// Face stores [in, out], the transpose of a Linear weight.
var gpt2Conv1D = map[string]bool{
	"attn_qkv.weight": true, "attn_output.weight": true, "ffn_up.weight": true, "ffn_down.weight": true,
}

// gpt2Defaults are transformers' GPT2Config defaults for the keys the
// converter reads.
var gpt2Defaults = map[string]any{
	"vocab_size": num("50257"), "n_positions": num("1024"), "n_embd": num("768"), "n_layer": num("12"),
	"n_head": num("12"), "layer_norm_epsilon": num("1e-05"),
}

// buildGPT2 converts a GPT2LMHeadModel checkpoint as convert_hf_to_gguf.py's
// GPT2Model does: the Conv1D weights transposed to GGUF's [out, in] rows
// (c_attn becomes the fused attn_qkv), every bias kept, wpe as
// position_embd (F32), ln_f as output_norm, lm_head as output when stored
// (absent with the usual tied embeddings: llama.cpp then uses token_embd),
// the feed-forward width written as 4 × n_embd, and the byte-level BPE
// vocabulary of tokenizer.json.
func buildGPT2(h *hfCheckpoint) error {
	c := h.config.withDefaults(gpt2Defaults)
	var nLayer, nEmbd, nHead, nVocab, nPos int64
	var err error
	for _, e := range []struct {
		dst  *int64
		keys []string
	}{
		{&nLayer, []string{"n_layers", "num_hidden_layers", "n_layer", "num_layers"}}, {&nEmbd, []string{"n_embd"}},
		{&nHead, []string{"n_head"}}, {&nVocab, []string{"vocab_size"}}, {&nPos, []string{"n_positions"}},
	} {
		if *e.dst, err = c.need(e.keys...); err != nil {
			return err
		}
	}
	// The script writes n_ctx as the context length; llama.cpp sizes
	// position_embd by it.
	nCtx, err := c.intOr(nPos, "n_ctx")
	if err != nil {
		return err
	}
	eps, err := c.floatOr(1e-5, "layer_norm_epsilon")
	if err != nil {
		return err
	}
	if inner, ok := c.int("n_inner"); ok && inner != 4*nEmbd {
		return fmt.Errorf("config.json: n_inner is %d: %w (convert_hf_to_gguf.py and llama.cpp's gpt2 take the feed-forward width as 4 × n_embd = %d)",
			inner, ErrUnsupportedArch, 4*nEmbd)
	}
	if nEmbd%nHead != 0 {
		return fmt.Errorf("config.json: n_embd %d is not a multiple of n_head %d", nEmbd, nHead)
	}
	nFF := 4 * nEmbd
	// Stored shapes: the Conv1D weights as Hugging Face keeps them,
	// transposed below.
	mapped, err := h.mapTensors(hfTensorSpec{
		arch: "gpt2", nLayer: nLayer, names: gpt2Names, skip: gpt2Skipped,
		shapes: map[string][]int64{
			"token_embd.weight": {nEmbd, nVocab}, "position_embd.weight": {nEmbd, nCtx}, "output.weight": {nEmbd, nVocab},
			"output_norm.weight": {nEmbd}, "output_norm.bias": {nEmbd},
			"attn_norm.weight": {nEmbd}, "attn_norm.bias": {nEmbd}, "ffn_norm.weight": {nEmbd}, "ffn_norm.bias": {nEmbd},
			"attn_qkv.weight": {3 * nEmbd, nEmbd}, "attn_qkv.bias": {3 * nEmbd},
			"attn_output.weight": {nEmbd, nEmbd}, "attn_output.bias": {nEmbd},
			"ffn_up.weight": {nFF, nEmbd}, "ffn_up.bias": {nFF},
			"ffn_down.weight": {nEmbd, nFF}, "ffn_down.bias": {nEmbd},
		},
		required: []string{"token_embd.weight", "position_embd.weight", "output_norm.weight", "output_norm.bias"},
		layerRequired: []string{"attn_norm.weight", "attn_norm.bias", "attn_qkv.weight", "attn_qkv.bias",
			"attn_output.weight", "attn_output.bias", "ffn_norm.weight", "ffn_norm.bias",
			"ffn_up.weight", "ffn_up.bias", "ffn_down.weight", "ffn_down.bias"},
	})
	if err != nil {
		return err
	}
	for i := range mapped {
		if gpt2Conv1D[mapped[i].base] {
			if mapped[i].t, err = transposed(mapped[i].t); err != nil {
				return err
			}
		}
	}
	h.out = tensorsOf(mapped)

	const pre = "gpt2."
	h.generalKVs()
	h.setKV(pre+"block_count", u32(nLayer))
	h.setKV(pre+"context_length", u32(nCtx))
	h.setKV(pre+"embedding_length", u32(nEmbd))
	h.setKV(pre+"feed_forward_length", u32(nFF))
	h.setKV(pre+"attention.head_count", u32(nHead))
	h.setKV(pre+"attention.layer_norm_epsilon", f32(eps))
	h.setKV("general.quantization_version", gguf.Uint32(2))

	nTokens, err := h.bpeVocab(nVocab)
	if err != nil {
		return err
	}
	return h.specialVocab(nTokens, specialTokenKeys)
}
