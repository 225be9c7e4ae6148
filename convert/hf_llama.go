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

// llamaLayerNames maps the tensors of a Hugging Face llama layer
// (model.layers.N.<name>) to their GGUF names (blk.N.<name>).
var llamaLayerNames = map[string]string{
	"input_layernorm":          "attn_norm",
	"self_attn.q_proj":         "attn_q",
	"self_attn.k_proj":         "attn_k",
	"self_attn.v_proj":         "attn_v",
	"self_attn.o_proj":         "attn_output",
	"post_attention_layernorm": "ffn_norm",
	"mlp.gate_proj":            "ffn_gate",
	"mlp.up_proj":              "ffn_up",
	"mlp.down_proj":            "ffn_down",
}

// llamaLayerRequired are the weights every llama layer must have.
var llamaLayerRequired = []string{"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"}

// llamaGlobalNames maps the tensors outside the layers.
var llamaGlobalNames = map[string]string{
	"model.embed_tokens": "token_embd",
	"model.norm":         "output_norm",
	"lm_head":            "output",
}

// llamaSkipped are tensors convert_hf_to_gguf.py drops (buffers, not
// weights).
var llamaSkipped = []string{".rotary_emb.inv_freq", ".attention.masked_bias", ".attention.bias"}

// llamaParams are the hyperparameters of a llama checkpoint, from
// config.json with transformers' defaults for the keys it may omit.
type llamaParams struct {
	nLayer, nEmbd, nFF, nHead, nHeadKV, headDim, nCtx, nVocab int64
	hasHeadDim                                                bool
	ropeTheta, rmsEps                                         float64
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
	if arch == "MistralForCausalLM" {
		p.nHeadKV, p.nCtx = 8, 4096*32
	} else {
		p.nCtx = 2048
	}
	p.nVocab, p.ropeTheta, p.rmsEps = 32000, 10000, 1e-6
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
	if n, ok := c.int("num_local_experts"); ok && n > 0 {
		return p, fmt.Errorf("config.json: %d experts: %w (mixture-of-experts llama checkpoints are not supported yet)", n, ErrUnsupportedArch)
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
	u32 := func(v int64) gguf.Value { return gguf.Uint32(uint32(v)) }

	// Tensors, renamed, checked against the config and permuted.
	want := map[string][]int64{
		"token_embd.weight":  {p.nEmbd, p.nVocab},
		"output.weight":      {p.nEmbd, p.nVocab},
		"output_norm.weight": {p.nEmbd},
	}
	qRows, kvRows := p.nHead*p.headDim, p.nHeadKV*p.headDim
	layerShapes := map[string][]int64{
		"attn_norm.weight": {p.nEmbd}, "ffn_norm.weight": {p.nEmbd},
		"attn_q.weight": {p.nEmbd, qRows}, "attn_k.weight": {p.nEmbd, kvRows}, "attn_v.weight": {p.nEmbd, kvRows},
		"attn_output.weight": {qRows, p.nEmbd},
		"attn_q.bias":        {qRows}, "attn_k.bias": {kvRows}, "attn_v.bias": {kvRows}, "attn_output.bias": {p.nEmbd},
		"ffn_gate.weight": {p.nEmbd, p.nFF}, "ffn_up.weight": {p.nEmbd, p.nFF}, "ffn_down.weight": {p.nFF, p.nEmbd},
	}
	have := map[string]bool{}
	var unmapped []string
	var out []*Tensor
	for _, t := range h.src.Tensors {
		name := t.Name
		if hasAnySuffix(name, llamaSkipped) {
			h.used[name] = true
			continue
		}
		newName, layer, ok := llamaTensorName(name)
		if !ok {
			unmapped = append(unmapped, name)
			continue
		}
		if layer >= p.nLayer {
			return fmt.Errorf("%w: tensor %s is in layer %d, but num_hidden_layers is %d", ErrConfigMismatch, name, layer, p.nLayer)
		}
		if have[newName] {
			return fmt.Errorf("%w: two tensors map to %s", ErrConfigMismatch, newName)
		}
		have[newName] = true
		nt := h.hfTensor(name, newName)
		shape, known := want[newName]
		if layer >= 0 {
			shape, known = layerShapes[strings.TrimPrefix(newName, "blk."+strconv.FormatInt(layer, 10)+".")]
		}
		if known && !equalDims(nt.Dims, shape) {
			return fmt.Errorf("%w: %s (%s) has shape %s, config.json implies %s", ErrConfigMismatch, name, newName, hfShape(nt.Dims), hfShape(shape))
		}
		switch {
		case strings.HasSuffix(name, "q_proj.weight") || strings.HasSuffix(name, "q_proj.bias"):
			err = permuteRows(nt, p.nHead)
		case strings.HasSuffix(name, "k_proj.weight") || strings.HasSuffix(name, "k_proj.bias"):
			err = permuteRows(nt, p.nHeadKV)
		}
		if err != nil {
			return err
		}
		out = append(out, nt)
	}
	if len(unmapped) > 0 {
		return fmt.Errorf("%w: cannot map tensor(s) %s to llama GGUF names", ErrConfigMismatch, strings.Join(unmapped, ", "))
	}
	var missing []string
	for _, n := range []string{"token_embd.weight", "output_norm.weight"} {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	for l := int64(0); l < p.nLayer; l++ {
		for _, n := range llamaLayerRequired {
			if g := fmt.Sprintf("blk.%d.%s.weight", l, n); !have[g] {
				missing = append(missing, g)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: num_hidden_layers %d needs tensor(s) the checkpoint lacks: %s", ErrConfigMismatch, p.nLayer, strings.Join(missing, ", "))
	}

	// Rope scaling.
	var ropeKVs []gguf.KV
	if rp := ropeParams(h.config); rp != nil {
		typ, _ := rp["rope_type"].(string)
		if typ == "" {
			typ, _ = rp["type"].(string)
		}
		factor, hasFactor := rp.float("factor")
		switch strings.ToLower(typ) {
		case "", "default", "dynamic":
			// convert_hf_to_gguf.py writes nothing for these.
		case "linear":
			if hasFactor {
				ropeKVs = append(ropeKVs, gguf.KV{Key: pre + "rope.scaling.type", Value: gguf.String("linear")},
					gguf.KV{Key: pre + "rope.scaling.factor", Value: gguf.Float32(float32(factor))})
			}
		case "yarn":
			if hasFactor {
				orig, ok := rp.int("original_max_position_embeddings")
				if !ok {
					return fmt.Errorf("config.json: yarn rope scaling without original_max_position_embeddings")
				}
				ropeKVs = append(ropeKVs, gguf.KV{Key: pre + "rope.scaling.type", Value: gguf.String("yarn")},
					gguf.KV{Key: pre + "rope.scaling.factor", Value: gguf.Float32(float32(factor))},
					gguf.KV{Key: pre + "rope.scaling.original_context_length", Value: u32(orig)})
				for _, e := range []struct{ key, cfg string }{
					{"yarn_ext_factor", "extrapolation_factor"}, {"yarn_attn_factor", "attention_factor"},
					{"yarn_attn_factor", "attn_factor"}, {"yarn_beta_fast", "beta_fast"}, {"yarn_beta_slow", "beta_slow"},
				} {
					if v, ok := rp.float(e.cfg); ok && !hasKey(ropeKVs, pre+"rope.scaling."+e.key) {
						ropeKVs = append(ropeKVs, gguf.KV{Key: pre + "rope.scaling." + e.key, Value: gguf.Float32(float32(v))})
					}
				}
			}
		case "llama3":
			out = append([]*Tensor{llama3RopeFreqs(p, rp, h.config)}, out...)
		default:
			return fmt.Errorf("config.json: rope scaling type %q: %w for llama (linear, yarn and llama3 are)", typ, ErrUnsupportedArch)
		}
	}
	h.out = out

	// Metadata, in convert_hf_to_gguf.py's order.
	var params int64
	for _, t := range out {
		params += t.Elements()
	}
	name := filepath.Base(h.dir)
	if abs, err := filepath.Abs(h.dir); err == nil {
		name = filepath.Base(abs)
	}
	h.setKV("general.type", gguf.String("model"))
	h.setKV("general.name", gguf.String(name))
	h.setKV("general.size_label", gguf.String(sizeLabel(params)))
	h.setKV(pre+"block_count", u32(p.nLayer))
	h.setKV(pre+"context_length", u32(p.nCtx))
	h.setKV(pre+"embedding_length", u32(p.nEmbd))
	h.setKV(pre+"feed_forward_length", u32(p.nFF))
	h.setKV(pre+"attention.head_count", u32(p.nHead))
	h.setKV(pre+"attention.head_count_kv", u32(p.nHeadKV))
	h.setKV(pre+"rope.freq_base", gguf.Float32(float32(p.ropeTheta)))
	h.setKV(pre+"attention.layer_norm_rms_epsilon", gguf.Float32(float32(p.rmsEps)))
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
// checkpoint and returns the number of tokens.
func (h *hfCheckpoint) llamaVocab(nVocab int64) (int64, error) {
	_, errSP := os.Stat(filepath.Join(h.dir, "tokenizer.model"))
	_, errJSON := os.Stat(filepath.Join(h.dir, "tokenizer.json"))
	if errors.Is(errSP, os.ErrNotExist) && errJSON == nil {
		v, err := parseBPETokenizer(h.dir, nVocab)
		if err != nil {
			return 0, err
		}
		h.setKV("tokenizer.ggml.model", gguf.String("gpt2"))
		h.setKV("tokenizer.ggml.pre", gguf.String(v.pre))
		h.setKV("tokenizer.ggml.tokens", gguf.Array(v.tokens))
		h.setKV("tokenizer.ggml.token_type", gguf.Array(v.types))
		if len(v.merges) > 0 {
			h.setKV("tokenizer.ggml.merges", gguf.Array(v.merges))
		}
		return int64(len(v.tokens)), nil
	}
	tc, err := readHFJSONFile(filepath.Join(h.dir, "tokenizer_config.json"))
	if err != nil {
		return 0, err
	}
	if b, ok := jsonBool(tc, "add_prefix_space"); ok {
		h.setKV("tokenizer.ggml.add_space_prefix", gguf.Bool(b))
	}
	v, err := h.sentencePieceVocab(nVocab)
	if err != nil {
		return 0, err
	}
	h.setKV("tokenizer.ggml.model", gguf.String("llama"))
	h.setKV("tokenizer.ggml.pre", gguf.String("default"))
	h.setKV("tokenizer.ggml.tokens", gguf.Array(v.tokens))
	h.setKV("tokenizer.ggml.scores", gguf.Array(v.scores))
	h.setKV("tokenizer.ggml.token_type", gguf.Array(v.types))
	return int64(len(v.tokens)), nil
}

// llamaTensorName maps a Hugging Face llama tensor name to its GGUF name
// and layer (-1 outside the layers).
func llamaTensorName(name string) (string, int64, bool) {
	base, suffix, ok := cutSuffix(name, ".weight", ".bias")
	if !ok {
		return "", 0, false
	}
	if g, ok := llamaGlobalNames[base]; ok {
		return g + suffix, -1, true
	}
	rest, ok := strings.CutPrefix(base, "model.layers.")
	if !ok {
		return "", 0, false
	}
	num, part, ok := strings.Cut(rest, ".")
	if !ok {
		return "", 0, false
	}
	layer, err := strconv.ParseInt(num, 10, 64)
	if err != nil || layer < 0 {
		return "", 0, false
	}
	g, ok := llamaLayerNames[part]
	if !ok {
		return "", 0, false
	}
	return "blk." + num + "." + g + suffix, layer, true
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
