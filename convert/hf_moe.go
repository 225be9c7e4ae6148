package convert

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Mixture-of-experts checkpoints. Hugging Face stores each expert's
// feed-forward matrices as tensors of their own
// (model.layers.N.block_sparse_moe.experts.E.w1.weight,
// model.layers.N.mlp.experts.E.gate_proj.weight); convert_hf_to_gguf.py
// stacks them per layer into one 3-D tensor per kind (torch.stack along a
// new outermost dimension), which llama.cpp reads as ggml dims
// [row length, rows, n_expert]. qconv stacks them without copying: the
// 3-D tensor is backed by the experts' own views of the mapped files (see
// Tensor.parts), so expert e's rows are rows [e*rows, (e+1)*rows) of the
// stacked tensor.

// hfExperts describes the per-expert tensors of an architecture.
type hfExperts struct {
	// n is the number of experts, from config.json's countKey.
	n        int64
	countKey string
	// prefix is the part of a layer tensor's name after "<layer prefix><N>."
	// and before the expert index ("block_sparse_moe.experts.").
	prefix string
	// kinds are the names after the expert index (without ".weight") and
	// their stacked GGUF base names, in the order the converter writes
	// them.
	kinds []hfExpertKind
}

type hfExpertKind struct{ stored, gguf string }

// mixtralExperts are the experts of a Mixtral (llama) checkpoint: w1 is
// the gate, w2 the down and w3 the up projection.
func mixtralExperts(n int64) *hfExperts {
	return &hfExperts{n: n, countKey: "num_local_experts", prefix: "block_sparse_moe.experts.", kinds: []hfExpertKind{
		{"w1", "ffn_gate_exps"}, {"w2", "ffn_down_exps"}, {"w3", "ffn_up_exps"}}}
}

// qwenMoeExperts are the routed experts of a Qwen2MoE or Qwen3MoE
// checkpoint, in the order convert_hf_to_gguf.py's Qwen2MoeModel writes
// them.
func qwenMoeExperts(n int64) *hfExperts {
	return &hfExperts{n: n, countKey: "num_experts", prefix: "mlp.experts.", kinds: []hfExpertKind{
		{"down_proj", "ffn_down_exps"}, {"gate_proj", "ffn_gate_exps"}, {"up_proj", "ffn_up_exps"}}}
}

// expertStacker collects the expert tensors of a checkpoint while
// mapTensors walks it, and stacks a layer's experts once all of them have
// been seen (where convert_hf_to_gguf.py writes the merged tensors).
type expertStacker struct {
	h      *hfCheckpoint
	s      *hfTensorSpec
	layers map[int64]*expertLayer
}

type expertLayer struct {
	prefix string      // the stored names' common start, "model.layers.N.block_sparse_moe.experts."
	parts  [][]*Tensor // [kind][expert]
	names  [][]string  // stored names, [kind][expert]
	count  int64       // expert tensors seen
	done   bool        // stacked
}

func newExpertStacker(h *hfCheckpoint, s *hfTensorSpec) *expertStacker {
	if s.experts == nil {
		return nil
	}
	return &expertStacker{h: h, s: s, layers: map[int64]*expertLayer{}}
}

// parse recognizes an expert tensor's (mapped) name: its layer, expert,
// kind index and the name's start up to the expert index.
func (x *expertStacker) parse(mapped string) (layer, expert int64, kind int, prefix string, ok bool) {
	base, ok := strings.CutSuffix(mapped, ".weight")
	if !ok {
		return 0, 0, 0, "", false
	}
	for _, lp := range x.s.names.layerPrefixes {
		rest, ok := strings.CutPrefix(base, lp)
		if !ok {
			continue
		}
		num, part, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		after, ok := strings.CutPrefix(part, x.s.experts.prefix)
		if !ok {
			continue
		}
		eStr, kindName, ok := strings.Cut(after, ".")
		if !ok {
			continue
		}
		l, err1 := strconv.ParseInt(num, 10, 64)
		e, err2 := strconv.ParseInt(eStr, 10, 64)
		if err1 != nil || err2 != nil || l < 0 || e < 0 || strconv.FormatInt(l, 10) != num || strconv.FormatInt(e, 10) != eStr {
			continue
		}
		k := slices.IndexFunc(x.s.experts.kinds, func(k hfExpertKind) bool { return k.stored == kindName })
		if k < 0 {
			continue
		}
		return l, e, k, lp + num + "." + x.s.experts.prefix, true
	}
	return 0, 0, 0, "", false
}

// add takes stored tensor name (mapped is its name after the spec's
// rename) when it is an expert tensor: handled reports that it was, and
// stacked holds the layer's stacked tensors when this was its last expert
// tensor.
func (x *expertStacker) add(name, mapped string) (handled bool, stacked []hfMapped, err error) {
	layer, e, k, prefix, ok := x.parse(mapped)
	if !ok {
		return false, nil, nil
	}
	ex := x.s.experts
	if layer >= x.s.nLayer {
		return true, nil, fmt.Errorf("%w: tensor %s is in layer %d, but num_hidden_layers is %d", ErrConfigMismatch, name, layer, x.s.nLayer)
	}
	if e >= ex.n {
		return true, nil, fmt.Errorf("%w: tensor %s is expert %d, but %s is %d", ErrConfigMismatch, name, e, ex.countKey, ex.n)
	}
	kind := ex.kinds[k]
	stackedName := "blk." + strconv.FormatInt(layer, 10) + "." + kind.gguf + ".weight"
	shape, known := x.s.shapes[kind.gguf+".weight"]
	if !known || len(shape) < 1 {
		return true, nil, fmt.Errorf("%w: llama.cpp's %s has no place for tensor %s (%s)", ErrConfigMismatch, x.s.arch, name, stackedName)
	}
	l := x.layers[layer]
	if l == nil {
		l = &expertLayer{prefix: prefix, parts: make([][]*Tensor, len(ex.kinds)), names: make([][]string, len(ex.kinds))}
		for i := range ex.kinds {
			l.parts[i] = make([]*Tensor, ex.n)
			l.names[i] = make([]string, ex.n)
		}
		x.layers[layer] = l
	}
	if l.parts[k][e] != nil {
		return true, nil, fmt.Errorf("%w: two tensors are expert %d of %s (%s and %s)", ErrConfigMismatch, e, stackedName, l.names[k][e], name)
	}
	t := x.h.hfTensor(name, name)
	if want := shape[:len(shape)-1]; !equalDims(t.Dims, want) {
		return true, nil, fmt.Errorf("%w: %s (expert %d of %s) has shape %s, config.json implies %s", ErrConfigMismatch, name, e, stackedName, hfShape(t.Dims), hfShape(want))
	}
	l.parts[k][e], l.names[k][e] = t, name
	l.count++
	if l.count < ex.n*int64(len(ex.kinds)) {
		return true, nil, nil
	}
	l.done = true
	for i, kind := range ex.kinds {
		sn := "blk." + strconv.FormatInt(layer, 10) + "." + kind.gguf + ".weight"
		st, err := stackTensors(sn, l.parts[i])
		if err != nil {
			return true, nil, fmt.Errorf("%w: %w", ErrConfigMismatch, err)
		}
		if !equalDims(st.Dims, x.s.shapes[kind.gguf+".weight"]) {
			return true, nil, fmt.Errorf("%w: %s has shape %s, config.json implies %s", ErrConfigMismatch, sn, hfShape(st.Dims), hfShape(x.s.shapes[kind.gguf+".weight"]))
		}
		stacked = append(stacked, hfMapped{stored: l.names[i][0], layer: layer, base: kind.gguf + ".weight", t: st})
	}
	l.parts, l.names = nil, nil
	return true, stacked, nil
}

// finish reports the layers whose experts are incomplete, naming the
// missing tensors.
func (x *expertStacker) finish() error {
	layers := make([]int64, 0, len(x.layers))
	for l := range x.layers {
		layers = append(layers, l)
	}
	slices.Sort(layers)
	var missing []string
	for _, li := range layers {
		l := x.layers[li]
		if l.done {
			continue
		}
		for k, kind := range x.s.experts.kinds {
			for e, t := range l.parts[k] {
				if t == nil {
					missing = append(missing, l.prefix+strconv.Itoa(e)+"."+kind.stored+".weight")
				}
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	more := ""
	if len(missing) > 12 {
		more = fmt.Sprintf(" and %d more", len(missing)-12)
		missing = missing[:12]
	}
	return fmt.Errorf("%w: %s is %d, but the checkpoint lacks expert tensor(s) %s%s", ErrConfigMismatch,
		x.s.experts.countKey, x.s.experts.n, strings.Join(missing, ", "), more)
}

// llamaMoeSpec turns a llama tensor spec into a Mixtral one: every layer
// has the router block_sparse_moe.gate (ffn_gate_inp, F32) and the
// experts' w1/w2/w3 stacked into ffn_{gate,down,up}_exps of ggml dims
// [n_embd, n_ff, n_expert] (down: [n_ff, n_embd, n_expert]) instead of the
// dense feed-forward tensors, which llama.cpp's llama has no place for in
// a MoE model.
func llamaMoeSpec(s *hfTensorSpec, p llamaParams) {
	s.names.layer = maps.Clone(s.names.layer)
	s.names.layer["block_sparse_moe.gate"] = "ffn_gate_inp"
	s.shapes = maps.Clone(s.shapes)
	for _, n := range []string{"ffn_gate", "ffn_up", "ffn_down"} {
		delete(s.shapes, n+".weight")
		delete(s.shapes, n+".bias")
	}
	s.shapes["ffn_gate_inp.weight"] = []int64{p.nEmbd, p.nExpert}
	s.shapes["ffn_gate_exps.weight"] = []int64{p.nEmbd, p.nFF, p.nExpert}
	s.shapes["ffn_up_exps.weight"] = []int64{p.nEmbd, p.nFF, p.nExpert}
	s.shapes["ffn_down_exps.weight"] = []int64{p.nFF, p.nEmbd, p.nExpert}
	s.layerRequired = moeLayerRequired(s.layerRequired)
	s.experts = mixtralExperts(p.nExpert)
}

// moeLayerRequired is a dense architecture's per-layer required tensors
// with the feed-forward weights replaced by the router and the stacked
// experts.
func moeLayerRequired(dense []string) []string {
	var out []string
	for _, n := range dense {
		switch n {
		case "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight":
		default:
			out = append(out, n)
		}
	}
	return append(out, "ffn_gate_inp.weight", "ffn_gate_exps.weight", "ffn_down_exps.weight", "ffn_up_exps.weight")
}

// qwenMoeConfig reads the expert hyperparameters of a Qwen2MoE or
// Qwen3MoE config.json, with Qwen2MoeConfig's and Qwen3MoeConfig's
// defaults. Layers with a dense feed-forward (mlp_only_layers,
// decoder_sparse_step other than 1) are refused: llama.cpp's qwen2moe and
// qwen3moe expect experts in every layer.
func qwenMoeConfig(arch string, c hfConfig, p *qwenParams) error {
	defExpert, defUsed, defFF, defShexp := int64(60), int64(4), int64(1408), int64(5632)
	if arch == "qwen3moe" {
		defExpert, defUsed, defFF, defShexp = 128, 8, 768, 0
	}
	var err error
	if p.nExpert, err = c.intOr(defExpert, "num_experts"); err != nil {
		return err
	}
	if p.nExpertUsed, err = c.intOr(defUsed, "num_experts_per_tok"); err != nil {
		return err
	}
	if p.nFFExp, err = c.intOr(defFF, "moe_intermediate_size"); err != nil {
		return err
	}
	if arch == "qwen2moe" {
		if p.nFFShexp, err = c.intOr(defShexp, "shared_expert_intermediate_size"); err != nil {
			return err
		}
	}
	if p.nExpert <= 0 || p.nExpertUsed <= 0 || p.nExpertUsed > p.nExpert || p.nFFExp <= 0 {
		return fmt.Errorf("config.json: num_experts %d, num_experts_per_tok %d, moe_intermediate_size %d: not a mixture of experts llama.cpp can run",
			p.nExpert, p.nExpertUsed, p.nFFExp)
	}
	if arch == "qwen2moe" && p.nFFShexp <= 0 {
		return fmt.Errorf("config.json: shared_expert_intermediate_size %d: %w (llama.cpp's qwen2moe needs the shared expert)", p.nFFShexp, ErrUnsupportedArch)
	}
	if step, err := c.intOr(1, "decoder_sparse_step"); err != nil {
		return err
	} else if step != 1 {
		return fmt.Errorf("config.json: decoder_sparse_step %d: %w (layers without experts; llama.cpp's %s has experts in every layer)", step, ErrUnsupportedArch, arch)
	}
	if l, ok := c["mlp_only_layers"].([]any); ok && len(l) > 0 {
		return fmt.Errorf("config.json: mlp_only_layers %v: %w (layers without experts; llama.cpp's %s has experts in every layer)", l, ErrUnsupportedArch, arch)
	}
	return nil
}

// qwenMoeSpec turns a Qwen2 or Qwen3 tensor spec into a Qwen2MoE or
// Qwen3MoE one: the router mlp.gate (ffn_gate_inp), the experts'
// gate/up/down_proj stacked into ffn_{gate,up,down}_exps of ggml dims
// [n_embd, moe_intermediate_size, n_expert] (down: [moe_intermediate_size,
// n_embd, n_expert]), and Qwen2MoE's shared expert (mlp.shared_expert.* ->
// ffn_{gate,up,down}_shexp, mlp.shared_expert_gate -> ffn_gate_inp_shexp,
// F32, ggml dims [n_embd, 1]) instead of the dense feed-forward.
func qwenMoeSpec(s *hfTensorSpec, p qwenParams) {
	s.names.layer = maps.Clone(s.names.layer)
	s.names.layer["mlp.gate"] = "ffn_gate_inp"
	s.shapes = maps.Clone(s.shapes)
	for _, n := range []string{"ffn_gate", "ffn_up", "ffn_down"} {
		delete(s.shapes, n+".weight")
	}
	s.shapes["ffn_gate_inp.weight"] = []int64{p.nEmbd, p.nExpert}
	s.shapes["ffn_gate_exps.weight"] = []int64{p.nEmbd, p.nFFExp, p.nExpert}
	s.shapes["ffn_up_exps.weight"] = []int64{p.nEmbd, p.nFFExp, p.nExpert}
	s.shapes["ffn_down_exps.weight"] = []int64{p.nFFExp, p.nEmbd, p.nExpert}
	s.layerRequired = moeLayerRequired(s.layerRequired)
	if p.nFFShexp > 0 {
		s.names.layer["mlp.shared_expert_gate"] = "ffn_gate_inp_shexp"
		s.names.layer["mlp.shared_expert.gate_proj"] = "ffn_gate_shexp"
		s.names.layer["mlp.shared_expert.up_proj"] = "ffn_up_shexp"
		s.names.layer["mlp.shared_expert.down_proj"] = "ffn_down_shexp"
		s.shapes["ffn_gate_inp_shexp.weight"] = []int64{p.nEmbd, 1}
		s.shapes["ffn_gate_shexp.weight"] = []int64{p.nEmbd, p.nFFShexp}
		s.shapes["ffn_up_shexp.weight"] = []int64{p.nEmbd, p.nFFShexp}
		s.shapes["ffn_down_shexp.weight"] = []int64{p.nFFShexp, p.nEmbd}
		s.layerRequired = append(s.layerRequired, "ffn_gate_inp_shexp.weight", "ffn_gate_shexp.weight", "ffn_up_shexp.weight", "ffn_down_shexp.weight")
	}
	s.experts = qwenMoeExperts(p.nExpert)
}
