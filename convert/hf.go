package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/quantize"
	"github.com/qconv/qconv/safetensors"
)

// ErrUnsupportedArch is returned by OpenHF for a checkpoint whose
// architecture qconv cannot convert.
var ErrUnsupportedArch = errors.New("unsupported architecture")

// ErrConfigMismatch is returned by OpenHF when config.json and the tensors
// disagree (a hidden size that is not the embedding's width, a layer with
// a tensor missing, a tensor no layer of the config has).
var ErrConfigMismatch = errors.New("config.json does not match the tensors")

// hfArch converts one family of Hugging Face architectures: it renames and
// reorders the checkpoint's tensors and writes the GGUF metadata, as
// convert_hf_to_gguf.py does for that family.
type hfArch struct {
	// gguf is the value of general.architecture.
	gguf string
	// build fills h.out and h.kvs from h.in.
	build func(h *hfCheckpoint) error
}

// hfArchs maps config.json's architectures[0] to its converter.
var hfArchs = map[string]hfArch{
	"LlamaForCausalLM":               {gguf: "llama", build: buildLlama},
	"MistralForCausalLM":             {gguf: "llama", build: buildLlama},
	"MixtralForCausalLM":             {gguf: "llama", build: buildLlama},
	"Qwen2ForCausalLM":               {gguf: "qwen2", build: buildQwen2},
	"Qwen3ForCausalLM":               {gguf: "qwen3", build: buildQwen3},
	"Qwen2MoeForCausalLM":            {gguf: "qwen2moe", build: buildQwen2Moe},
	"Qwen3MoeForCausalLM":            {gguf: "qwen3moe", build: buildQwen3Moe},
	"GemmaForCausalLM":               {gguf: "gemma", build: buildGemma},
	"Gemma2ForCausalLM":              {gguf: "gemma2", build: buildGemma2},
	"Gemma3ForCausalLM":              {gguf: "gemma3", build: buildGemma3},
	"Gemma3ForConditionalGeneration": {gguf: "gemma3", build: buildGemma3},
	"Phi3ForCausalLM":                {gguf: "phi3", build: buildPhi3},
	"GPT2LMHeadModel":                {gguf: "gpt2", build: buildGPT2},
}

// SupportedHFArchitectures lists the Hugging Face architectures OpenHF
// converts.
func SupportedHFArchitectures() []string {
	names := make([]string, 0, len(hfArchs))
	for n := range hfArchs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// hfCheckpoint is a Hugging Face checkpoint directory being converted.
type hfCheckpoint struct {
	dir    string
	arch   string // architectures[0]
	config hfConfig
	src    *Source            // the safetensors tensors as stored
	in     map[string]*Tensor // src's tensors by name
	used   map[string]bool    // tensors consumed by build
	out    []*Tensor
	kvs    []gguf.KV
	// warnings are non-fatal problems, returned in Source.Warnings.
	warnings []string
}

// warn records a non-fatal problem for Source.Warnings.
func (h *hfCheckpoint) warn(format string, args ...any) {
	h.warnings = append(h.warnings, fmt.Sprintf(format, args...))
}

// OpenHF opens a Hugging Face checkpoint directory (config.json plus
// safetensors) and presents it as convert_hf_to_gguf.py would write it:
// tensors renamed to GGUF names and transformed as the architecture needs
// (the llama Q/K rows permuted lazily, as a row mapping; Gemma's norms
// shifted by one; GPT-2's Conv1D weights transposed), 1-D tensors and
// norms as F32, and the GGUF metadata and tokenizer. The output types of
// the other tensors are left to the plan. Problems that do not stop the
// conversion (a BPE pre-tokenizer qconv does not recognize) are listed in
// the returned Source's Warnings.
func OpenHF(dir string) (*Source, error) {
	cfgPath := filepath.Join(dir, "config.json")
	cfg, err := readHFConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	arch, ok := cfg.archName()
	if !ok {
		return nil, fmt.Errorf("%s: no architectures[0]: %w (supported: %s; --raw keeps tensor names as they are)",
			cfgPath, ErrUnsupportedArch, strings.Join(SupportedHFArchitectures(), ", "))
	}
	a, ok := hfArchs[arch]
	if !ok {
		return nil, fmt.Errorf("%s: %q: %w (supported: %s; --raw keeps tensor names as they are)",
			cfgPath, arch, ErrUnsupportedArch, strings.Join(SupportedHFArchitectures(), ", "))
	}
	src, err := openSafetensorsSource(dir)
	if err != nil {
		return nil, err
	}
	h := &hfCheckpoint{dir: dir, arch: arch, config: cfg, src: src, in: map[string]*Tensor{}, used: map[string]bool{}}
	for _, t := range src.Tensors {
		h.in[t.Name] = t
	}
	h.kvs = append(h.kvs, gguf.KV{Key: "general.architecture", Value: gguf.String(a.gguf)})
	if err := a.build(h); err != nil {
		src.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	var unused []string
	for _, t := range src.Tensors {
		if !h.used[t.Name] {
			unused = append(unused, t.Name)
		}
	}
	if len(unused) > 0 {
		src.Close()
		return nil, fmt.Errorf("%s: %w: %s has no place for tensor(s) %s", dir, ErrConfigMismatch, arch, strings.Join(unused, ", "))
	}
	s := &Source{Path: dir, Format: "safetensors", Tensors: h.out, KVs: h.kvs, Checkpoint: src.Checkpoint,
		Files: append(src.Files, cfgPath), Warnings: h.warnings}
	return s, nil
}

// hfTensor returns the stored tensor name as the checkpoint's converted
// tensor newName, with convert_hf_to_gguf.py's dtype rule: 1-D tensors,
// norms, tensors not named *.weight and the kinds of hfAlwaysF32 are F32;
// the others keep F32, F16 or BF16 as stored (other float types widen to
// F32), for the plan to turn into the requested type.
func (h *hfCheckpoint) hfTensor(name, newName string) *Tensor {
	t := h.in[name]
	h.used[name] = true
	c := *t
	c.Name = newName
	c.Dims = slices.Clone(t.Dims)
	switch {
	case t.unsupported != "":
	case len(t.Dims) <= 1 || strings.HasSuffix(newName, "_norm.weight") || !strings.HasSuffix(newName, ".weight") ||
		hasAnySuffix(newName, hfAlwaysF32):
		c.Type = gguf.TypeF32
	case t.Type == gguf.TypeF32 || t.Type == gguf.TypeF16 || t.Type == gguf.TypeBF16:
	case t.stDT.IsFloat():
		c.Type = gguf.TypeF32
	default:
		c.unsupported = fmt.Sprintf("integer dtype %s where the model needs floats", t.DType)
	}
	return &c
}

// hfAlwaysF32 are the GGUF names convert_hf_to_gguf.py always writes as
// F32 (its list of tensor kinds that stay F32, for the architectures qconv
// converts).
var hfAlwaysF32 = []string{"ffn_gate_inp.weight", "ffn_gate_inp_shexp.weight", "position_embd.weight", "token_types.weight"}

// f32Tensor is a tensor computed by the converter (llama3's rope_freqs).
func f32Tensor(name string, v []float32) *Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		putF32(b[4*i:], x)
	}
	return &Tensor{Name: name, Dims: []int64{int64(len(v))}, Type: gguf.TypeF32, DType: "F32",
		data: b, stDT: safetensors.F32, rowLen: int64(len(v))}
}

func putF32(b []byte, x float32) {
	u := math.Float32bits(x)
	b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
}

// permuteRows sets t's row mapping to convert_hf_to_gguf.py's llama
// permutation: the rows, seen as [heads][2][rows/heads/2], are read with
// the last two axes swapped, turning Hugging Face's rotate-half pairs
// (i, i+d/2) into the adjacent pairs (2i, 2i+1) of ggml's normal rope. A
// 1-D tensor (a bias) is permuted element by element into memory.
func permuteRows(t *Tensor, heads int64) error {
	if t.parts != nil {
		return fmt.Errorf("tensor %q: cannot permute the rows of a stacked tensor", t.Name)
	}
	rows := t.Rows()
	if len(t.Dims) <= 1 {
		rows = t.Elements()
	}
	if heads <= 0 || rows%(2*heads) != 0 {
		return fmt.Errorf("%w: %s has %d rows, not a multiple of 2 x %d heads", ErrConfigMismatch, t.Name, rows, heads)
	}
	half := rows / heads / 2
	m := make([]int64, rows)
	for h := int64(0); h < heads; h++ {
		for j := int64(0); j < half; j++ {
			for k := int64(0); k < 2; k++ {
				// output [h][j][k] <- stored [h][k][j]
				m[h*2*half+j*2+k] = h*2*half + k*half + j
			}
		}
	}
	if len(t.Dims) > 1 {
		t.rowMap = m
		return nil
	}
	eb := int64(len(t.data)) / max(rows, 1)
	b := make([]byte, len(t.data))
	for i, r := range m {
		copy(b[int64(i)*eb:int64(i+1)*eb], t.data[r*eb:(r+1)*eb])
	}
	t.data = b
	return nil
}

// hfConfig is config.json, numbers kept as json.Number.
type hfConfig map[string]any

func readHFConfig(path string) (hfConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseHFJSON(path, b)
}

func parseHFJSON(path string, b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// readHFJSONFile reads an optional JSON object file; nil when absent.
func readHFJSONFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseHFJSON(path, b)
}

func (c hfConfig) archName() (string, bool) {
	a, ok := c["architectures"].([]any)
	if !ok || len(a) == 0 {
		return "", false
	}
	s, ok := a[0].(string)
	return s, ok && s != ""
}

// jsonInt returns v as an integer when it is a JSON integer.
func jsonInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

func jsonFloat(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

// int returns the first of keys present as an integer.
func (c hfConfig) int(keys ...string) (int64, bool) {
	for _, k := range keys {
		if v, ok := c[k]; ok && v != nil {
			return jsonInt(v)
		}
	}
	return 0, false
}

func (c hfConfig) float(keys ...string) (float64, bool) {
	for _, k := range keys {
		if v, ok := c[k]; ok && v != nil {
			return jsonFloat(v)
		}
	}
	return 0, false
}

// hfNameMap maps an architecture's stored tensor names to GGUF names, as
// gguf-py's TensorNameMap does for that architecture.
type hfNameMap struct {
	// global maps the base name (without ".weight" or ".bias") of a tensor
	// outside the layers to its GGUF base name.
	global map[string]string
	// layerPrefixes start the names of layer N's tensors:
	// <prefix><N>.<part>.
	layerPrefixes []string
	// layer maps <part> (without ".weight" or ".bias") to the GGUF name
	// after "blk.N.".
	layer map[string]string
}

// name returns the GGUF name of a stored tensor name and its layer (-1
// outside the layers).
func (m *hfNameMap) name(stored string) (string, int64, bool) {
	base, suffix, ok := cutSuffix(stored, ".weight", ".bias")
	if !ok {
		return "", 0, false
	}
	if g, ok := m.global[base]; ok {
		return g + suffix, -1, true
	}
	for _, p := range m.layerPrefixes {
		rest, ok := strings.CutPrefix(base, p)
		if !ok {
			continue
		}
		num, part, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		layer, err := strconv.ParseInt(num, 10, 64)
		if err != nil || layer < 0 || strconv.FormatInt(layer, 10) != num {
			continue
		}
		if g, ok := m.layer[part]; ok {
			return "blk." + num + "." + g + suffix, layer, true
		}
	}
	return "", 0, false
}

// hfTensorSpec describes the tensors of an architecture: how they are
// named, which ones are dropped, and the shape config.json implies for
// each GGUF name.
type hfTensorSpec struct {
	arch   string // GGUF architecture name, for messages
	nLayer int64
	names  hfNameMap
	// rename, when set, rewrites a stored name before it is mapped
	// ("language_model." prefixes); an empty result drops the tensor, as
	// convert_hf_to_gguf.py drops vision towers.
	rename func(string) string
	// skip are suffixes of stored names the converter drops (buffers).
	skip []string
	// shapes are the ggml dims of every GGUF name the architecture has,
	// per-layer names without their "blk.N." prefix. A stored tensor
	// whose GGUF name is not listed is an error: llama.cpp would refuse
	// the file.
	shapes map[string][]int64
	// required are the GGUF names outside the layers that must exist;
	// layerRequired the per-layer names every layer must have.
	required, layerRequired []string
	// experts, when set, are the per-expert tensors of a mixture-of-experts
	// checkpoint, stacked into one 3-D tensor per layer and kind.
	experts *hfExperts
}

// hfMapped is one stored tensor with its GGUF name.
type hfMapped struct {
	stored string // the name in the checkpoint
	layer  int64  // -1 outside the layers
	base   string // the GGUF name without "blk.N."
	t      *Tensor
}

// mapTensors renames the checkpoint's tensors by s and checks them against
// the config: every stored tensor is mapped or dropped, no two map to the
// same name, no layer is past nLayer, every shape is the one config.json
// implies, and every required tensor is there. Tensors come in stored
// order.
func (h *hfCheckpoint) mapTensors(s hfTensorSpec) ([]hfMapped, error) {
	have := map[string]bool{}
	var unmapped, unplaced []string
	var out []hfMapped
	st := newExpertStacker(h, &s)
	for _, t := range h.src.Tensors {
		name := t.Name
		if hasAnySuffix(name, s.skip) {
			h.used[name] = true
			continue
		}
		mapped := name
		if s.rename != nil {
			if mapped = s.rename(name); mapped == "" {
				h.used[name] = true
				continue
			}
		}
		if st != nil {
			done, stacked, err := st.add(name, mapped)
			if err != nil {
				return nil, err
			}
			if done {
				for _, m := range stacked {
					have[m.t.Name] = true
					out = append(out, m)
				}
				continue
			}
		}
		newName, layer, ok := s.names.name(mapped)
		if !ok {
			unmapped = append(unmapped, name)
			continue
		}
		if layer >= s.nLayer {
			return nil, fmt.Errorf("%w: tensor %s is in layer %d, but num_hidden_layers is %d", ErrConfigMismatch, name, layer, s.nLayer)
		}
		if have[newName] {
			return nil, fmt.Errorf("%w: two tensors map to %s (the second is %s)", ErrConfigMismatch, newName, name)
		}
		have[newName] = true
		base := newName
		if layer >= 0 {
			base = strings.TrimPrefix(newName, "blk."+strconv.FormatInt(layer, 10)+".")
		}
		shape, known := s.shapes[base]
		if !known {
			unplaced = append(unplaced, name+" ("+newName+")")
			continue
		}
		nt := h.hfTensor(name, newName)
		if !equalDims(nt.Dims, shape) {
			return nil, fmt.Errorf("%w: %s (%s) has shape %s, config.json implies %s", ErrConfigMismatch, name, newName, hfShape(nt.Dims), hfShape(shape))
		}
		out = append(out, hfMapped{stored: name, layer: layer, base: base, t: nt})
	}
	if len(unmapped) > 0 {
		return nil, fmt.Errorf("%w: cannot map tensor(s) %s to %s GGUF names", ErrConfigMismatch, strings.Join(unmapped, ", "), s.arch)
	}
	if len(unplaced) > 0 {
		return nil, fmt.Errorf("%w: llama.cpp's %s has no place for tensor(s) %s", ErrConfigMismatch, s.arch, strings.Join(unplaced, ", "))
	}
	if st != nil {
		if err := st.finish(); err != nil {
			return nil, err
		}
	}
	var missing []string
	for _, n := range s.required {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	for l := int64(0); l < s.nLayer; l++ {
		for _, n := range s.layerRequired {
			if g := "blk." + strconv.FormatInt(l, 10) + "." + n; !have[g] {
				missing = append(missing, g)
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: num_hidden_layers %d needs tensor(s) the checkpoint lacks: %s", ErrConfigMismatch, s.nLayer, strings.Join(missing, ", "))
	}
	return out, nil
}

// tensorsOf returns the tensors of m.
func tensorsOf(m []hfMapped) []*Tensor {
	out := make([]*Tensor, len(m))
	for i, x := range m {
		out[i] = x.t
	}
	return out
}

// shifted returns 1-D tensor t as F32 with add added to every value, as
// convert_hf_to_gguf.py's Gemma classes add 1 to the norm weights: the
// sum is computed in torch's dtype, which is F16 for an F16 tensor (the
// float32 sum rounded to F16) and F32 otherwise (BF16 and other floats
// are widened to F32 first). The result is held in memory (norms are
// small).
func shifted(t *Tensor, add float32) (*Tensor, error) {
	if len(t.Dims) != 1 {
		return nil, fmt.Errorf("%w: %s has %d dimensions, a norm has 1", ErrConfigMismatch, t.Name, len(t.Dims))
	}
	if !t.Decodable() {
		return nil, fmt.Errorf("tensor %q: %s: cannot read its values", t.Name, t.DType)
	}
	v := make([]float32, t.Elements())
	if err := t.ReadRows(0, t.Rows(), v); err != nil {
		return nil, err
	}
	for i := range v {
		v[i] += add
	}
	if t.stDT == safetensors.F16 {
		tr, ok := quantize.Lookup(gguf.TypeF16)
		if !ok || tr.QuantizeRow == nil || tr.DequantizeRow == nil {
			return nil, fmt.Errorf("tensor %q: no F16 conversion", t.Name)
		}
		b := make([]byte, 2*len(v))
		tr.QuantizeRow(b, v, nil)
		tr.DequantizeRow(v, b)
	}
	return f32Tensor(t.Name, v), nil
}

// transposed returns 2-D tensor t with its two dimensions swapped: the
// layout change of GPT-2's Conv1D weights, which Hugging Face stores [in,
// out]. The result is a view of the same stored bytes whose rows are
// gathered when read (Tensor.transposed), so no weight is copied at open.
func transposed(t *Tensor) (*Tensor, error) {
	if len(t.Dims) != 2 || t.parts != nil || t.rowMap != nil || t.tile != 0 || t.transposed != 0 {
		return nil, fmt.Errorf("%w: %s has %d dimensions, expected a 2-D Conv1D weight", ErrConfigMismatch, t.Name, len(t.Dims))
	}
	cols, rows := t.Dims[0], t.Dims[1]
	n := cols * rows
	if n == 0 || int64(len(t.data))%n != 0 {
		return nil, fmt.Errorf("tensor %q: %s: cannot transpose %d bytes of %d elements", t.Name, t.DType, len(t.data), n)
	}
	if t.stDT == 0 && t.Type.BlockSize() != 1 {
		return nil, fmt.Errorf("tensor %q: cannot transpose a %s tensor (blocks of %d)", t.Name, t.Type, t.Type.BlockSize())
	}
	c := *t
	c.transposed = int64(len(t.data)) / n
	c.Dims = []int64{rows, cols}
	c.rowLen = rows
	return &c, nil
}

// generalKVs writes the general.* keys gguf-py writes for every model:
// type, name (the directory's name: qconv reads no model card) and the
// size label of h.out's parameter count.
//
// For a mixture of experts the label is gguf-py's "{experts}x{size}": size
// counts the shared tensors once and each expert tensor ("_exps.") divided
// by its expert count, that is one expert's worth of every expert tensor.
func (h *hfCheckpoint) generalKVs() {
	var params, shared, perExpert, expertSum, expertTensors int64
	for _, t := range h.out {
		n := t.Elements()
		params += n
		if strings.Contains(t.Name, "_exps.") {
			// gguf-py takes the experts from numpy's shape[-3] (weights)
			// or shape[-2] (biases): ggml's Dims[2] or Dims[1].
			var count int64
			switch {
			case strings.Contains(t.Name, ".bias") && len(t.Dims) >= 2:
				count = t.Dims[1]
			case len(t.Dims) >= 3:
				count = t.Dims[2]
			}
			if count > 0 {
				perExpert += n / count
				expertSum += count
				expertTensors++
				continue
			}
		}
		shared += n
	}
	label := sizeLabel(params)
	if expertTensors > 0 {
		label = fmt.Sprintf("%dx%s", expertSum/expertTensors, sizeLabel(shared+perExpert))
	}
	name := filepath.Base(h.dir)
	if abs, err := filepath.Abs(h.dir); err == nil {
		name = filepath.Base(abs)
	}
	h.setKV("general.type", gguf.String("model"))
	h.setKV("general.name", gguf.String(name))
	h.setKV("general.size_label", gguf.String(label))
}

// u32 is a uint32 metadata value.
func u32(v int64) gguf.Value { return gguf.Uint32(uint32(v)) }

// f32 is a float32 metadata value.
func f32(v float64) gguf.Value { return gguf.Float32(float32(v)) }

// need returns the first of keys present in c as a positive integer, or an
// error naming the keys.
func (c hfConfig) need(keys ...string) (int64, error) {
	v, ok := c.int(keys...)
	if !ok || v <= 0 {
		return 0, fmt.Errorf("config.json: %s missing or not a positive integer", strings.Join(keys, " / "))
	}
	return v, nil
}

// intOr returns the first of keys present as an integer, or def. A key
// present with a value that is not an integer is an error.
func (c hfConfig) intOr(def int64, keys ...string) (int64, error) {
	for _, k := range keys {
		if v, ok := c[k]; ok && v != nil {
			i, ok := jsonInt(v)
			if !ok || i < 0 {
				return 0, fmt.Errorf("config.json: %s is not a non-negative integer", k)
			}
			return i, nil
		}
	}
	return def, nil
}

// floatOr returns the first of keys present as a number, or def.
func (c hfConfig) floatOr(def float64, keys ...string) (float64, error) {
	for _, k := range keys {
		if v, ok := c[k]; ok && v != nil {
			f, ok := jsonFloat(v)
			if !ok {
				return 0, fmt.Errorf("config.json: %s is not a number", k)
			}
			return f, nil
		}
	}
	return def, nil
}

// withDefaults returns c with the keys of defs it lacks (or has as null)
// set: transformers' config class defaults, which convert_hf_to_gguf.py
// sees because it reads the config through AutoConfig.
func (c hfConfig) withDefaults(defs map[string]any) hfConfig {
	out := hfConfig{}
	for k, v := range defs {
		out[k] = v
	}
	for k, v := range c {
		if v != nil {
			out[k] = v
		}
	}
	return out
}

// num is a json.Number for defaults tables.
func num(s string) json.Number { return json.Number(s) }

// ropeFull is the rope parameters TextModel reads: config.json's
// rope_scaling or rope_parameters, or that map's "full_attention" entry
// when it has one (transformers' per-layer-type form); nil when absent.
func ropeFull(c hfConfig) hfConfig {
	rp := ropeParams(c)
	if full, ok := rp["full_attention"].(map[string]any); ok {
		return hfConfig(full)
	}
	return rp
}

// ropeScaling returns the rope.scaling keys convert_hf_to_gguf.py's
// TextModel writes for the rope parameters rp ("linear" and "yarn" with a
// factor), under the key prefix pre, and the lower-cased scaling type for
// the caller to judge ("" when rp names none).
func ropeScaling(pre string, rp hfConfig) ([]gguf.KV, string, error) {
	typ, _ := rp["rope_type"].(string)
	if typ == "" {
		typ, _ = rp["type"].(string)
	}
	typ = strings.ToLower(typ)
	factor, hasFactor := rp.float("factor")
	var kvs []gguf.KV
	switch {
	case typ == "linear" && hasFactor:
		kvs = append(kvs, gguf.KV{Key: pre + "rope.scaling.type", Value: gguf.String("linear")},
			gguf.KV{Key: pre + "rope.scaling.factor", Value: f32(factor)})
	case typ == "yarn" && hasFactor:
		orig, ok := rp.int("original_max_position_embeddings")
		if !ok {
			return nil, typ, fmt.Errorf("config.json: yarn rope scaling without original_max_position_embeddings")
		}
		kvs = append(kvs, gguf.KV{Key: pre + "rope.scaling.type", Value: gguf.String("yarn")},
			gguf.KV{Key: pre + "rope.scaling.factor", Value: f32(factor)},
			gguf.KV{Key: pre + "rope.scaling.original_context_length", Value: u32(orig)})
		for _, e := range []struct{ key, cfg string }{
			{"yarn_ext_factor", "extrapolation_factor"}, {"yarn_attn_factor", "attention_factor"},
			{"yarn_attn_factor", "attn_factor"}, {"yarn_beta_fast", "beta_fast"}, {"yarn_beta_slow", "beta_slow"},
		} {
			if v, ok := rp.float(e.cfg); ok && !hasKey(kvs, pre+"rope.scaling."+e.key) {
				kvs = append(kvs, gguf.KV{Key: pre + "rope.scaling." + e.key, Value: f32(v)})
			}
		}
	}
	return kvs, typ, nil
}

// textRopeScaling is ropeScaling as the architectures built on TextModel
// alone (qwen2, qwen3, gemma3) apply it: linear and yarn are written,
// default and dynamic write nothing, longrope (which needs factor tensors
// only some architectures generate) is refused, and any other type is
// ignored with a warning, as the script does. c is the config the model
// class reads (text_config merged in for multimodal checkpoints).
func (h *hfCheckpoint) textRopeScaling(pre, arch string, c hfConfig) error {
	rp := ropeFull(c)
	if rp == nil {
		return nil
	}
	kvs, typ, err := ropeScaling(pre, rp)
	if err != nil {
		return err
	}
	switch typ {
	case "", "default", "dynamic", "linear", "yarn", "llama3":
		// The script writes nothing for dynamic and llama3 here (only its
		// llama class makes llama3's rope_freqs).
	case "su", "longrope":
		return fmt.Errorf("config.json: rope scaling type %q: %w for %s (llama.cpp would need rope factor tensors the converter does not write)", typ, ErrUnsupportedArch, arch)
	default:
		h.warn("config.json: rope scaling type %q is unknown to convert_hf_to_gguf.py; no rope scaling is written, so llama.cpp runs %s without it", typ, arch)
	}
	for _, kv := range kvs {
		h.setKV(kv.Key, kv.Value)
	}
	return nil
}
