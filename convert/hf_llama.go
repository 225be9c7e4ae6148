package convert

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qconv/qconv/gguf"
)

// llamaNames are gguf-py's llama tensor names.
var llamaNames = hfNameMap{
	global: map[string]string{
		"model.embed_tokens": "token_embd",
		"model.norm":         "output_norm",
		"lm_head":            "output",
	},
	layerPrefixes: []string{"model.layers."},
	layer: map[string]string{
		"input_layernorm":          "attn_norm",
		"self_attn.q_proj":         "attn_q",
		"self_attn.k_proj":         "attn_k",
		"self_attn.v_proj":         "attn_v",
		"self_attn.o_proj":         "attn_output",
		"post_attention_layernorm": "ffn_norm",
		"mlp.gate_proj":            "ffn_gate",
		"mlp.up_proj":              "ffn_up",
		"mlp.down_proj":            "ffn_down",
	},
}

// llamaLayerRequired are the weights every llama layer must have.
var llamaLayerRequired = []string{"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
	"ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"}

// hfSkipped are tensors convert_hf_to_gguf.py drops for every
// architecture (buffers, not weights).
var hfSkipped = []string{".rotary_emb.inv_freq", ".attention.masked_bias", ".attention.bias"}

// llamaParams are the hyperparameters of a llama checkpoint, from
// config.json with transformers' defaults for the keys it may omit.
type llamaParams struct {
	nLayer, nEmbd, nFF, nHead, nHeadKV, headDim, nCtx, nVocab int64
	hasHeadDim                                                bool
	ropeTheta, rmsEps                                         float64
	// nExpert and nExpertUsed are num_local_experts and
	// num_experts_per_tok of a mixture-of-experts (Mixtral) checkpoint,
	// 0 for a dense one.
	nExpert, nExpertUsed int64
}

func llamaConfig(arch string, c hfConfig) (llamaParams, error) {
	var p llamaParams
	need := func(dst *int64, keys ...string) error {
		v, ok := c.int(keys...)
		if !ok || v <= 0 {
			return fmt.Errorf("config.json: %s missing or not a positive integer", keys[0])
		}
		*dst = v
		return nil
	}
	for _, e := range []error{
		need(&p.nLayer, "num_hidden_layers", "n_layers", "n_layer", "num_layers"),
		need(&p.nEmbd, "hidden_size", "n_embd", "dim"),
		need(&p.nFF, "intermediate_size", "n_inner", "hidden_dim"),
		need(&p.nHead, "num_attention_heads", "n_head", "n_heads"),
	} {
		if e != nil {
			return p, e
		}
	}
	// transformers' defaults where config.json may be silent.
	p.nHeadKV = p.nHead
	p.nVocab, p.ropeTheta, p.rmsEps = 32000, 10000, 1e-6
	switch arch {
	case "MistralForCausalLM":
		p.nHeadKV, p.nCtx = 8, 4096*32
	case "MixtralForCausalLM":
		// MixtralConfig's defaults.
		p.nHeadKV, p.nCtx, p.ropeTheta, p.rmsEps = 8, 4096*32, 1e6, 1e-5
		p.nExpert, p.nExpertUsed = 8, 2
	default:
		p.nCtx = 2048
	}
	if v, ok := c.int("num_key_value_heads", "n_kv_heads"); ok {
		p.nHeadKV = v
	}
	if v, ok := c.int("max_position_embeddings", "n_ctx", "n_positions", "max_length"); ok {
		p.nCtx = v
	}
	if v, ok := c.int("vocab_size"); ok {
		p.nVocab = v
	}
	if v, ok := c.float("rope_theta"); ok {
		p.ropeTheta = v
	} else if rp := ropeParams(c); rp != nil {
		if v, ok := rp.float("rope_theta"); ok {
			p.ropeTheta = v
		}
	}
	if v, ok := c.float("rms_norm_eps", "norm_eps"); ok {
		p.rmsEps = v
	}
	p.headDim, p.hasHeadDim = c.int("head_dim")
	if !p.hasHeadDim {
		p.headDim = p.nEmbd / p.nHead
	}
	if p.nHeadKV <= 0 || p.nHead%p.nHeadKV != 0 {
		return p, fmt.Errorf("config.json: %d attention heads are not a multiple of %d KV heads", p.nHead, p.nHeadKV)
	}
	if p.headDim <= 0 || p.headDim%2 != 0 {
		return p, fmt.Errorf("config.json: head dimension %d is not a positive even number", p.headDim)
	}
	if v, ok := c["num_local_experts"]; ok && v != nil {
		n, ok := jsonInt(v)
		if !ok || n < 0 {
			return p, fmt.Errorf("config.json: num_local_experts is not a non-negative integer")
		}
		p.nExpert = n
	}
	if v, ok := c["num_experts_per_tok"]; ok && v != nil {
		n, ok := jsonInt(v)
		if !ok || n < 0 {
			return p, fmt.Errorf("config.json: num_experts_per_tok is not a non-negative integer")
		}
		p.nExpertUsed = n
	}
	if p.nExpert > 0 && (p.nExpertUsed <= 0 || p.nExpertUsed > p.nExpert) {
		return p, fmt.Errorf("config.json: num_experts_per_tok %d is not between 1 and num_local_experts %d (llama.cpp needs it)", p.nExpertUsed, p.nExpert)
	}
	return p, nil
}

// ropeParams is config.json's rope_scaling (or rope_parameters), nil when
// absent.
func ropeParams(c hfConfig) hfConfig {
	for _, k := range []string{"rope_scaling", "rope_parameters"} {
		if m, ok := c[k].(map[string]any); ok {
			return hfConfig(m)
		}
	}
	return nil
}

// buildLlama converts a LlamaForCausalLM or MistralForCausalLM checkpoint
// as convert_hf_to_gguf.py's LlamaModel does.
func buildLlama(h *hfCheckpoint) error {
	p, err := llamaConfig(h.arch, h.config)
	if err != nil {
		return err
	}
	const pre = "llama."

	// Tensors, renamed, checked against the config and permuted.
	qRows, kvRows := p.nHead*p.headDim, p.nHeadKV*p.headDim
	spec := hfTensorSpec{
		arch: "llama", nLayer: p.nLayer, names: llamaNames, skip: hfSkipped,
		shapes: map[string][]int64{
			"token_embd.weight": {p.nEmbd, p.nVocab}, "output.weight": {p.nEmbd, p.nVocab}, "output_norm.weight": {p.nEmbd},
			"attn_norm.weight": {p.nEmbd}, "ffn_norm.weight": {p.nEmbd},
			"attn_q.weight": {p.nEmbd, qRows}, "attn_k.weight": {p.nEmbd, kvRows}, "attn_v.weight": {p.nEmbd, kvRows},
			"attn_output.weight": {qRows, p.nEmbd},
			"attn_q.bias":        {qRows}, "attn_k.bias": {kvRows}, "attn_v.bias": {kvRows}, "attn_output.bias": {p.nEmbd},
			"ffn_gate.weight": {p.nEmbd, p.nFF}, "ffn_up.weight": {p.nEmbd, p.nFF}, "ffn_down.weight": {p.nFF, p.nEmbd},
			"ffn_gate.bias": {p.nFF}, "ffn_up.bias": {p.nFF}, "ffn_down.bias": {p.nEmbd},
		},
		required:      []string{"token_embd.weight", "output_norm.weight"},
		layerRequired: llamaLayerRequired,
	}
	if p.nExpert > 0 {
		llamaMoeSpec(&spec, p)
	}
	mapped, err := h.mapTensors(spec)
	if err != nil {
		return err
	}
	for _, m := range mapped {
		switch m.base {
		case "attn_q.weight", "attn_q.bias":
			err = permuteRows(m.t, p.nHead)
		case "attn_k.weight", "attn_k.bias":
			err = permuteRows(m.t, p.nHeadKV)
		}
		if err != nil {
			return err
		}
	}
	out := tensorsOf(mapped)

	// Rope scaling.
	var ropeKVs []gguf.KV
	if rp := ropeParams(h.config); rp != nil {
		kvs, typ, err := ropeScaling(pre, rp)
		if err != nil {
			return err
		}
		ropeKVs = kvs
		switch typ {
		case "", "default", "dynamic", "linear", "yarn":
		case "llama3":
			out = append([]*Tensor{llama3RopeFreqs(p, rp, h.config)}, out...)
		default:
			return fmt.Errorf("config.json: rope scaling type %q: %w for llama (linear, yarn and llama3 are)", typ, ErrUnsupportedArch)
		}
	}
	h.out = out

	// Metadata, in convert_hf_to_gguf.py's order.
	h.generalKVs()
	h.setKV(pre+"block_count", u32(p.nLayer))
	h.setKV(pre+"context_length", u32(p.nCtx))
	h.setKV(pre+"embedding_length", u32(p.nEmbd))
	h.setKV(pre+"feed_forward_length", u32(p.nFF))
	h.setKV(pre+"attention.head_count", u32(p.nHead))
	h.setKV(pre+"attention.head_count_kv", u32(p.nHeadKV))
	h.setKV(pre+"rope.freq_base", gguf.Float32(float32(p.ropeTheta)))
	h.setKV(pre+"attention.layer_norm_rms_epsilon", gguf.Float32(float32(p.rmsEps)))
	if p.nExpert > 0 {
		h.setKV(pre+"expert_count", u32(p.nExpert))
		h.setKV(pre+"expert_used_count", u32(p.nExpertUsed))
	}
	if p.hasHeadDim {
		h.setKV(pre+"attention.key_length", u32(p.headDim))
		h.setKV(pre+"attention.value_length", u32(p.headDim))
	}
	for _, kv := range ropeKVs {
		h.setKV(kv.Key, kv.Value)
	}
	h.setKV(pre+"vocab_size", u32(p.nVocab))
	h.setKV(pre+"rope.dimension_count", u32(p.headDim))
	h.setKV("general.quantization_version", gguf.Uint32(2))

	// Tokenizer: SentencePiece when tokenizer.model exists, else a
	// byte-level BPE tokenizer.json (Llama 3 style).
	nTokens, err := h.llamaVocab(p.nVocab)
	if err != nil {
		return err
	}
	if err := h.specialVocab(nTokens, specialTokenKeys); err != nil {
		return err
	}
	switch p.nVocab {
	case 32016: // CodeLlama's infill tokens
		for _, e := range []struct {
			key string
			id  uint32
		}{{"prefix", 32007}, {"suffix", 32008}, {"middle", 32009}, {"eot", 32010}} {
			h.setKV("tokenizer.ggml."+e.key+"_token_id", gguf.Uint32(e.id))
		}
	case 49152: // small Granite models
		h.setKV("tokenizer.ggml.add_bos_token", gguf.Bool(false))
	}
	return nil
}

// llamaVocab writes the tokenizer.ggml vocabulary keys of a llama
// checkpoint and returns the number of tokens: SentencePiece when
// tokenizer.model exists (with add_space_prefix from tokenizer_config.json),
// else a byte-level BPE tokenizer.json.
func (h *hfCheckpoint) llamaVocab(nVocab int64) (int64, error) {
	_, errSP := os.Stat(filepath.Join(h.dir, "tokenizer.model"))
	_, errJSON := os.Stat(filepath.Join(h.dir, "tokenizer.json"))
	if errors.Is(errSP, os.ErrNotExist) && errJSON == nil {
		return h.bpeVocab(nVocab)
	}
	tc, err := readHFJSONFile(filepath.Join(h.dir, "tokenizer_config.json"))
	if err != nil {
		return 0, err
	}
	if b, ok := jsonBool(tc, "add_prefix_space"); ok {
		h.setKV("tokenizer.ggml.add_space_prefix", gguf.Bool(b))
	}
	return h.spVocab(nVocab, spStyleLlama)
}

// llama3RopeFreqs computes the rope_freqs.weight tensor convert_hf_to_gguf.py
// adds for rope_type llama3: per frequency pair, 1 for high frequencies,
// factor for low ones, and a smooth blend between, computed in float32.
func llama3RopeFreqs(p llamaParams, rp, c hfConfig) *Tensor {
	base := float32(p.ropeTheta)
	if v, ok := rp.float("rope_theta"); ok {
		base = float32(v)
	}
	get := func(key string, def float64) float32 {
		if v, ok := rp.float(key); ok {
			return float32(v)
		}
		return float32(def)
	}
	factor, low, high := get("factor", 8), get("low_freq_factor", 1), get("high_freq_factor", 4)
	oldCtx := float32(8192)
	if v, ok := rp.float("original_max_position_embeddings"); ok {
		oldCtx = float32(v)
	} else if v, ok := c.float("original_max_position_embeddings"); ok {
		oldCtx = float32(v)
	}
	lowWave, highWave := oldCtx/low, oldCtx/high
	dim := p.headDim
	v := make([]float32, 0, dim/2)
	for i := int64(0); i < dim; i += 2 {
		freq := 1 / float32(math.Pow(float64(base), float64(float32(i)/float32(dim))))
		wave := float32(2*math.Pi) / freq
		switch {
		case wave < highWave:
			v = append(v, 1)
		case wave > lowWave:
			v = append(v, factor)
		default:
			smooth := (oldCtx/wave - low) / (high - low)
			v = append(v, 1/((1-smooth)/factor+smooth))
		}
	}
	return f32Tensor("rope_freqs.weight", v)
}

// sizeLabel is gguf-py's parameter-count label: the count in K, M, B or T
// with at least two significant digits ("293K", "6.7B", "70B").
func sizeLabel(n int64) string {
	x, suffix := float64(n), "K"
	switch {
	case x > 1e12:
		x, suffix = x*1e-12, "T"
	case x > 1e9:
		x, suffix = x*1e-9, "B"
	case x > 1e6:
		x, suffix = x*1e-6, "M"
	default:
		x *= 1e-3
	}
	digits := len(strings.TrimLeft(strconv.FormatFloat(math.RoundToEven(x), 'f', 0, 64), "0"))
	return strconv.FormatFloat(x, 'f', max(2-digits, 0), 64) + suffix
}

func hasAnySuffix(s string, suffixes []string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

func cutSuffix(s string, suffixes ...string) (string, string, bool) {
	for _, x := range suffixes {
		if b, ok := strings.CutSuffix(s, x); ok {
			return b, x, true
		}
	}
	return "", "", false
}

func hasKey(kvs []gguf.KV, key string) bool {
	for _, kv := range kvs {
		if kv.Key == key {
			return true
		}
	}
	return false
}

func equalDims(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// hfShape formats ggml dims in Hugging Face (row-major) order.
func hfShape(d []int64) string {
	s := make([]string, len(d))
	for i, x := range d {
		s[len(d)-1-i] = strconv.FormatInt(x, 10)
	}
	return "[" + strings.Join(s, ", ") + "]"
}
