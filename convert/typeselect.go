package convert

// Per-tensor type selection, reproducing llama-quantize (llama.cpp
// src/llama-quant.cpp as of commit 007dbbf: tensor_allows_quantization,
// llama_tensor_get_type and its mixture rules, tensor_type_fallback,
// tensor_requires_imatrix and the checks of llama_model_quantize_impl).
// The rules are re-stated here from their documented behaviour; see
// shared/research/anchors-quant.md section 4.

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/qconv/qconv/gguf"
)

// ModelInfo holds the model facts the mixture rules look at. The tensor
// counts llama derives from the tensor list (attn_v-like tensors, whether
// output.weight exists) are taken from the tensors given to SelectAll.
type ModelInfo struct {
	// Arch is general.architecture ("llama", "falcon", ...). Only
	// "falcon" and "bailingmoe3" change rules; "llama" matters for Type70B.
	Arch string
	// NLayer is {arch}.block_count (llama's n_layer_all); the ffn_down,
	// ffn_gate and ffn_up layer counts are all NLayer.
	NLayer int
	// NExpert is {arch}.expert_count, 0 for a dense model.
	NExpert int
	// NHead and NHeadKV are layer 0's attention head counts. NHeadKV must
	// already carry llama's default (NHead) when the key is absent; a zero
	// NHeadKV gives a GQA factor of 0, as in llama.
	NHead   int
	NHeadKV int
	// Type70B marks a model llama.cpp classifies as LLM_TYPE_70B. For Arch
	// "llama" it is also derived (80 layers, NHead != NHeadKV, not an
	// 8-expert model); set it for other architectures llama.cpp tags 70B.
	Type70B bool
}

func (m ModelInfo) gqa() int {
	if m.NHeadKV <= 0 {
		return 0
	}
	return m.NHead / m.NHeadKV
}

func (m ModelInfo) is70B() bool {
	if m.Type70B {
		return true
	}
	return m.Arch == "llama" && m.NExpert != 8 && m.NLayer == 80 && m.NHead != m.NHeadKV
}

// TensorDesc describes one source tensor.
type TensorDesc struct {
	Name  string
	Shape []int64 // ne, in ggml order (Shape[0] is the row length)
	Type  gguf.Type
}

// ne returns ggml's ne[i] (1 past the stored dimensions).
func (t TensorDesc) ne(i int) int64 {
	if i < len(t.Shape) {
		return t.Shape[i]
	}
	return 1
}

// nDims is ggml_n_dims: trailing dimensions of size 1 do not count.
func (t TensorDesc) nDims() int {
	for i := len(t.Shape) - 1; i >= 1; i-- {
		if t.Shape[i] > 1 {
			return i + 1
		}
	}
	return 1
}

// TensorTypeOverride is one --tensor-type REGEX=TYPE rule.
type TensorTypeOverride struct {
	// Pattern is a Go regular expression searched for (not fully matched)
	// in the tensor name, like llama-quantize's std::regex_search.
	Pattern string
	Type    gguf.Type
}

// ParseTensorTypeOverride parses "REGEX=TYPE" like llama-quantize: the
// split is at the first '=', the pattern is lower-cased (ASCII) before it
// is compiled, and TYPE is a ggml type name, case-insensitively.
func ParseTensorTypeOverride(s string) (TensorTypeOverride, error) {
	pat, typ, ok := strings.Cut(s, "=")
	switch {
	case !ok:
		return TensorTypeOverride{}, fmt.Errorf("malformed tensor type %q: want REGEX=TYPE", s)
	case pat == "":
		return TensorTypeOverride{}, fmt.Errorf("tensor type %q: missing tensor name", s)
	case typ == "":
		return TensorTypeOverride{}, fmt.Errorf("tensor type %q: missing quantization type", s)
	}
	t, found := gguf.ParseType(typ)
	if !found {
		return TensorTypeOverride{}, fmt.Errorf("tensor type %q: invalid ggml type %q", s, typ)
	}
	if _, err := regexp.Compile(asciiLower(pat)); err != nil {
		return TensorTypeOverride{}, fmt.Errorf("tensor type %q: %w", s, err)
	}
	return TensorTypeOverride{Pattern: asciiLower(pat), Type: t}, nil
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// SelectOptions mirror llama-quantize's options that affect type choice.
type SelectOptions struct {
	Pure               bool       // --pure: no mixture rules
	OutputTensorType   *gguf.Type // --output-tensor-type
	TokenEmbeddingType *gguf.Type // --token-embedding-type
	LeaveOutputTensor  bool       // --leave-output-tensor
	// TensorTypes are the --tensor-type rules in command-line order; the
	// first pattern found in a tensor's name wins. They only apply when
	// the file type's default type is quantized.
	TensorTypes     []TensorTypeOverride
	AllowRequantize bool // --allow-requantize
	OnlyCopy        bool // TYPE COPY: quantize nothing
	// DryRun turns the checks that llama-quantize only makes when writing
	// (requantization, missing imatrix) from errors into Choice fields.
	DryRun bool

	// Imatrix is set when an importance matrix file is given.
	// ImatrixEntries are its entry names (tensor names); nil means unknown,
	// taken as "an entry for every tensor". IncludeWeights/ExcludeWeights
	// are --include-weights/--exclude-weights: substrings selecting which
	// entries are kept (mutually exclusive). With entries given, an
	// imatrix left with no entry counts as no imatrix, as in llama.
	Imatrix        bool
	ImatrixEntries []string
	IncludeWeights []string
	ExcludeWeights []string
}

// Choice is the decision for one tensor.
type Choice struct {
	// Type is the ggml type the tensor is written in.
	Type gguf.Type
	// Quantize is set when Type differs from the source type, so the data
	// must be converted; otherwise the tensor is copied as is.
	Quantize bool
	// Allowed is llama's tensor_allows_quantization: false for tensors
	// that always keep their stored type (1-D, norms, routers, ...).
	Allowed bool
	// Reason says which rule decided Type, for --dry-run output.
	Reason string
	// Fallback is set when ne0 did not fit the chosen type's block size
	// and the shape fallback picked Type instead.
	Fallback bool
	// RequiresImatrix is set when Type needs an importance matrix
	// (iq1/iq2/iq3_xxs types, q2_K in a Q2_K_S file).
	RequiresImatrix bool
	// UseImatrix is set when the tensor is quantized with imatrix data.
	UseImatrix bool
}

// Summary totals a selection.
type Summary struct {
	Tensors   int
	Quantized int // choices with Quantize set
	Fallbacks int // "N of M tensor(s) required fallback quantization"
	// NeedsImatrix: some tensor requires an imatrix it does not have (a
	// dry run's "actually completing this quantization will require an
	// imatrix" warning).
	NeedsImatrix bool
}

// Summarize totals choices.
func Summarize(choices []Choice) Summary {
	s := Summary{Tensors: len(choices)}
	for _, c := range choices {
		if c.Quantize {
			s.Quantized++
		}
		if c.Fallback {
			s.Fallbacks++
		}
		if c.Allowed && c.RequiresImatrix && !c.UseImatrix {
			s.NeedsImatrix = true
		}
	}
	return s
}

// TypeSelector chooses per-tensor types for one file type, model and set
// of options. It holds no per-run state: every SelectAll starts afresh.
type TypeSelector struct {
	ft         FileType
	def        gguf.Type
	info       ModelInfo
	opts       SelectOptions
	overrides  []compiledOverride
	hasImatrix bool
	imatrix    map[string]bool // entries kept after filtering; nil: any name passing the filters
}

type compiledOverride struct {
	re  *regexp.Regexp
	src string
	typ gguf.Type
}

// NewTypeSelector validates the file type and options and compiles the
// override patterns.
func NewTypeSelector(ft FileType, info ModelInfo, opts SelectOptions) (*TypeSelector, error) {
	if !ft.Valid() {
		return nil, fmt.Errorf("invalid output file type %d", int(ft))
	}
	if len(opts.IncludeWeights) > 0 && len(opts.ExcludeWeights) > 0 {
		return nil, errors.New("--include-weights and --exclude-weights cannot be used together")
	}
	for _, p := range []struct {
		flag string
		t    *gguf.Type
	}{{"--output-tensor-type", opts.OutputTensorType}, {"--token-embedding-type", opts.TokenEmbeddingType}} {
		if p.t != nil && !storable(*p.t) {
			return nil, fmt.Errorf("%s: %s is not a float or quantized ggml type", p.flag, *p.t)
		}
	}
	s := &TypeSelector{ft: ft, def: ft.DefaultType(), info: info, opts: opts}
	for _, o := range opts.TensorTypes {
		if !storable(o.Type) {
			return nil, fmt.Errorf("--tensor-type %s=%s: not a float or quantized ggml type", o.Pattern, o.Type)
		}
		re, err := regexp.Compile(o.Pattern)
		if err != nil {
			return nil, fmt.Errorf("--tensor-type %s: %w", o.Pattern, err)
		}
		s.overrides = append(s.overrides, compiledOverride{re: re, src: o.Pattern, typ: o.Type})
	}
	if opts.Imatrix {
		if opts.ImatrixEntries == nil {
			s.hasImatrix = true
		} else {
			s.imatrix = make(map[string]bool)
			for _, n := range opts.ImatrixEntries {
				if s.keepImatrixEntry(n) {
					s.imatrix[n] = true
				}
			}
			s.hasImatrix = len(s.imatrix) > 0
		}
	}
	return s, nil
}

// storable reports whether tensors can be written in t: a float type
// ggml can convert to, or a quantized type.
func storable(t gguf.Type) bool {
	ti, ok := t.Info()
	if !ok {
		return false
	}
	return ti.Quantized || t == gguf.TypeF32 || t == gguf.TypeF16 || t == gguf.TypeBF16
}

// keepImatrixEntry applies --exclude-weights / --include-weights.
func (s *TypeSelector) keepImatrixEntry(name string) bool {
	for _, x := range s.opts.ExcludeWeights {
		if strings.Contains(name, x) {
			return false
		}
	}
	if len(s.opts.IncludeWeights) == 0 {
		return true
	}
	for _, x := range s.opts.IncludeWeights {
		if strings.Contains(name, x) {
			return true
		}
	}
	return false
}

func (s *TypeSelector) imatrixHas(name string) bool {
	if !s.hasImatrix {
		return false
	}
	if s.imatrix == nil {
		return s.keepImatrixEntry(name)
	}
	return s.imatrix[name]
}

// FileType returns the selector's file type.
func (s *TypeSelector) FileType() FileType { return s.ft }

// HasImatrix reports whether llama would see an importance matrix (after
// --include-weights/--exclude-weights); some mixture rules depend on it.
func (s *TypeSelector) HasImatrix() bool { return s.hasImatrix }

// category is llama's coarse tensor role, decided from the name alone.
type category int

const (
	catOther category = iota
	catTokenEmbd
	catOutput
	catAttnQ
	catAttnK
	catAttnV
	catAttnQKV
	catAttnKVB
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
)

var categoryNames = [...]string{"other", "token_embd", "output", "attn_q", "attn_k", "attn_v", "attn_qkv",
	"attn_kv_b", "attn_output", "ffn_up", "ffn_gate", "ffn_down"}

// categorize mirrors llama's tensor_get_category: exact names first, then
// substring tests in a fixed order (the first hit wins).
func categorize(name string) category {
	switch name {
	case "output.weight":
		return catOutput
	case "token_embd.weight", "per_layer_token_embd.weight":
		return catTokenEmbd
	}
	for _, c := range []struct {
		sub string
		cat category
	}{
		{"attn_qkv.weight", catAttnQKV},
		{"attn_kv_b.weight", catAttnKVB},
		{"attn_v.weight", catAttnV},
		{"attn_k.weight", catAttnK},
		{"attn_q.weight", catAttnQ},
		{"attn_output.weight", catAttnOutput},
		{"ffn_up", catFFNUp},
		{"ffn_gate", catFFNGate},
		{"ffn_down", catFFNDown},
	} {
		if strings.Contains(name, c.sub) {
			return c.cat
		}
	}
	return catOther
}

// attnVLike: tensors that count as attn_v for the i_attention_wv counter
// and get attn_v's rules (fused qkv and MLA kv_b included).
func (c category) attnVLike() bool { return c == catAttnV || c == catAttnQKV || c == catAttnKVB }

// neverQuantized lists name fragments whose tensors keep their type.
var neverQuantized = []struct{ sub, why string }{
	{"_norm.weight", "norm"},
	{"ffn_gate_inp.weight", "MoE router"},
	{"ffn_gate_tid2eid.weight", "token-to-expert table"},
	{"altup", "altup (tiny)"},
	{"laurel", "laurel (tiny)"},
	{"per_layer_model_proj", "per_layer_model_proj"},
	{"ssm_conv1d", "conv1d"},
	{"shortconv.conv.weight", "short conv"},
	{"indexer.k_proj.weight", "indexer projection"},
	{"indexer.q_proj.weight", "indexer projection"},
	{"time_mix_first.weight", "RWKV small weight"},
	{"time_mix_w0.weight", "RWKV small weight"},
	{"time_mix_w1.weight", "RWKV small weight"},
	{"time_mix_w2.weight", "RWKV small weight"},
	{"time_mix_v0.weight", "RWKV small weight"},
	{"time_mix_v1.weight", "RWKV small weight"},
	{"time_mix_v2.weight", "RWKV small weight"},
	{"time_mix_a0.weight", "RWKV small weight"},
	{"time_mix_a1.weight", "RWKV small weight"},
	{"time_mix_a2.weight", "RWKV small weight"},
	{"time_mix_g1.weight", "RWKV small weight"},
	{"time_mix_g2.weight", "RWKV small weight"},
	{"time_mix_decay_w1.weight", "RWKV small weight"},
	{"time_mix_decay_w2.weight", "RWKV small weight"},
	{"time_mix_lerp_fused.weight", "RWKV small weight"},
	{"attn_rel_b.weight", "relative position bias"},
	{".position_embd", "vision position embedding"},
	{"sam.pos_embd", "vision position embedding"},
	{"sam.neck.", "SAM neck"},
	{"sam.net_", "SAM net"},
	{".rel_pos", "relative position"},
	{".patch_embd", "patch embedding"},
	{".patch_merger", "patch merger"},
	{"a.rvq.codebook", "audio codebook"},
	{"mm.a.code_embd", "audio codebook"},
}

// allowsQuantization is llama's tensor_allows_quantization; when it says
// no, the reason names the first rule that refused.
func (s *TypeSelector) allowsQuantization(t TensorDesc) (bool, string) {
	if s.opts.OnlyCopy {
		return false, "not quantized: COPY"
	}
	if t.nDims() < 2 {
		return false, "not quantized: 1-D tensor"
	}
	name := t.Name
	// llama tests rfind("weight") == size-6 with unsigned arithmetic, which
	// is also true for any 5-byte name; kept for fidelity.
	if !strings.HasSuffix(name, "weight") && len(name) != 5 {
		return false, `not quantized: name does not end in "weight"`
	}
	if name == "output.weight" && s.opts.LeaveOutputTensor {
		return false, "not quantized: --leave-output-tensor"
	}
	if name == "position_embd.weight" || name == "token_types.weight" {
		return false, "not quantized: position/token-type embedding"
	}
	for _, n := range neverQuantized {
		if strings.Contains(name, n.sub) {
			return false, "not quantized: " + n.why
		}
	}
	return true, ""
}

// selectState is llama's quantize_state_impl counters for one run.
type selectState struct {
	nAttnV, nFFN               int
	iAttnV, iFFNDown, iFFNGate int
	iFFNUp                     int
	tied                       bool // no output.weight: token_embd doubles as output
}

// SelectAll chooses the type of every tensor. Tensors are visited in
// llama's order (see LlamaOrder), which drives the attn_v / ffn_* layer
// counters exactly as in llama-quantize; choices are returned in the order
// of the input slice. Errors are those llama-quantize would stop with
// (the shape fallback has no answer, a MoE tensor without a layer, an
// imatrix is required, requantizing without AllowRequantize), reported
// for the first offending tensor in llama's order.
func (s *TypeSelector) SelectAll(tensors []TensorDesc) ([]Choice, error) {
	names := make([]string, len(tensors))
	seen := make(map[string]bool, len(tensors))
	for i, t := range tensors {
		if seen[t.Name] {
			return nil, fmt.Errorf("duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		names[i] = t.Name
	}
	order := LlamaOrder(names)

	st := selectState{tied: true, nFFN: s.info.NLayer}
	cats := make([]category, len(tensors))
	for i, t := range tensors {
		cats[i] = categorize(t.Name)
		if cats[i].attnVLike() {
			st.nAttnV++
		}
		if cats[i] == catOutput {
			st.tied = false
		}
	}

	choices := make([]Choice, len(tensors))
	// First pass (llama's preliminary loop): decide every type.
	for _, i := range order {
		t := tensors[i]
		c, err := s.choose(&st, t, cats[i])
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		c.RequiresImatrix = requiresImatrix(t.Name, c.Type, s.ft)
		c.Quantize = c.Type != t.Type
		c.UseImatrix = c.Quantize && s.imatrixHas(t.Name)
		if c.Allowed && c.RequiresImatrix && !s.hasImatrix && !s.opts.DryRun {
			return nil, fmt.Errorf("tensor %s: target type %s requires an importance matrix (--imatrix)", t.Name, c.Type)
		}
		choices[i] = c
	}
	if s.opts.DryRun {
		return choices, nil
	}
	// Second pass (llama's main loop): checks made when converting.
	for _, i := range order {
		t, c := tensors[i], choices[i]
		if !c.Quantize {
			continue
		}
		if c.RequiresImatrix && !c.UseImatrix {
			return nil, fmt.Errorf("tensor %s: missing importance matrix data for a very low-bit type (%s)", t.Name, c.Type)
		}
		ti, ok := t.Type.Info()
		switch {
		case t.Type == gguf.TypeF32, t.Type == gguf.TypeF16, t.Type == gguf.TypeBF16:
		case ok && ti.Quantized:
			if !s.opts.AllowRequantize {
				return nil, fmt.Errorf("tensor %s: requantizing from type %s is disabled (use --allow-requantize)", t.Name, t.Type)
			}
		default:
			return nil, fmt.Errorf("tensor %s: cannot dequantize/convert tensor type %s", t.Name, t.Type)
		}
	}
	return choices, nil
}

// choose is llama_tensor_get_type for one tensor.
func (s *TypeSelector) choose(st *selectState, t TensorDesc, cat category) (Choice, error) {
	if ok, why := s.allowsQuantization(t); !ok {
		return Choice{Type: t.Type, Reason: why}, nil
	}
	c := Choice{Allowed: true}
	if s.opts.TokenEmbeddingType != nil && cat == catTokenEmbd {
		c.Type, c.Reason = *s.opts.TokenEmbeddingType, "--token-embedding-type"
		return c, nil
	}
	if s.opts.OutputTensorType != nil && cat == catOutput {
		c.Type, c.Reason = *s.opts.OutputTensorType, "--output-tensor-type"
		return c, nil
	}
	c.Type, c.Reason = s.def, "default type of "+s.ft.String()
	if !s.ft.IsQuantized() {
		return c, nil
	}
	manual := false
	for _, o := range s.overrides {
		if o.re.MatchString(t.Name) {
			c.Type, c.Reason = o.typ, "--tensor-type "+o.src+"="+o.typ.String()
			manual = true
			break
		}
	}
	if !manual {
		if s.opts.Pure {
			c.Reason = "--pure: " + c.Reason
		} else {
			typ, why, err := s.mixture(st, t, cat)
			if err != nil {
				return c, err
			}
			if why != "" {
				c.Type, c.Reason = typ, s.ft.String()+" mixture: "+why
			}
		}
	}
	ft, fired, err := shapeFallback(t.ne(0), c.Type)
	if err != nil {
		return c, err
	}
	if fired {
		c.Reason += fmt.Sprintf("; ne0 %d not a multiple of %s's block size %d: fallback to %s",
			t.ne(0), c.Type, c.Type.BlockSize(), ft)
		c.Type, c.Fallback = ft, true
	}
	return c, nil
}

// shapeFallback is tensor_type_fallback as llama-quantize applies it today
// (checked against llama.cpp build 11669, Debian's 0.7.0): when a row of ne0
// elements does not fill whole blocks of target, a 256-block type steps down
// to a type with 32-element blocks, and whatever still does not fit (a
// 32-block target included) becomes f16. Older llama.cpp revisions stopped
// with "no tensor type fallback is defined" for 32-block targets.
func shapeFallback(ne0 int64, target gguf.Type) (gguf.Type, bool, error) {
	bs := int64(target.BlockSize())
	if bs == 0 {
		return target, false, fmt.Errorf("unknown ggml type %s", target)
	}
	if ne0%bs == 0 {
		return target, false, nil
	}
	alt := gguf.TypeF16
	switch target {
	case gguf.TypeIQ1_S, gguf.TypeIQ1_M, gguf.TypeIQ2_XXS, gguf.TypeIQ2_XS, gguf.TypeIQ2_S,
		gguf.TypeIQ3_XXS, gguf.TypeIQ3_S, gguf.TypeIQ4_XS:
		alt = gguf.TypeIQ4_NL
	case gguf.TypeQ2_0, gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeTQ1_0, gguf.TypeTQ2_0:
		alt = gguf.TypeQ4_0
	case gguf.TypeQ4_K:
		alt = gguf.TypeQ5_0
	case gguf.TypeQ5_K:
		alt = gguf.TypeQ5_1
	case gguf.TypeQ6_K:
		alt = gguf.TypeQ8_0
	}
	if ne0%int64(alt.BlockSize()) != 0 {
		alt = gguf.TypeF16
	}
	return alt, true, nil
}

// requiresImatrix is tensor_requires_imatrix.
func requiresImatrix(name string, t gguf.Type, ft FileType) bool {
	if name == "token_embd.weight" || name == "per_layer_token_embd.weight" || name == "output.weight" {
		return false
	}
	switch t {
	case gguf.TypeIQ3_XXS, gguf.TypeIQ2_XXS, gguf.TypeIQ2_XS, gguf.TypeIQ2_S, gguf.TypeIQ1_M, gguf.TypeIQ1_S:
		return true
	case gguf.TypeQ2_K:
		return ft == FileTypeQ2_K_S
	}
	return false
}

// useMoreBits picks the layers that get more bits: the first and last
// eighth, and every third layer in between.
func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// is reports whether ft is one of fts.
func is(ft FileType, fts ...FileType) bool {
	for _, f := range fts {
		if ft == f {
			return true
		}
	}
	return false
}

// mixture is the rule table (llama_tensor_get_type_impl). It returns the
// chosen type and a description of the rule, or "" when the tensor keeps
// the default type. It advances the layer counters as llama does: only
// for tensors that reach it, and only in the branches that count.
func (s *TypeSelector) mixture(st *selectState, t TensorDesc, cat category) (gguf.Type, string, error) {
	ft, def := s.ft, s.def
	nExpert := s.info.NExpert
	gqa := s.info.gqa()
	falcon := s.info.Arch == "falcon"
	catName := categoryNames[cat]
	got := func(typ gguf.Type, format string, a ...any) (gguf.Type, string, error) {
		return typ, fmt.Sprintf(format, a...) + " -> " + typ.String(), nil
	}

	// The output tensor, and the token embedding when it doubles as the
	// output (no output.weight in the model).
	if cat == catOutput || (st.tied && cat == catTokenEmbd) {
		what := "output"
		if cat == catTokenEmbd {
			what = "tied token embedding (no output.weight)"
		}
		switch {
		case s.opts.OutputTensorType != nil:
			return got(*s.opts.OutputTensorType, "%s: --output-tensor-type", what)
		case ft == FileTypeMXFP4MoE:
			return got(gguf.TypeQ8_0, "%s in MXFP4_MOE", what)
		case falcon:
			return got(gguf.TypeQ8_0, "%s of falcon", what)
		case t.ne(0)%int64(def.BlockSize()) != 0:
			return got(gguf.TypeQ8_0, "%s with ne0 %d not a multiple of %d", what, t.ne(0), def.BlockSize())
		case is(ft, FileTypeIQ2_XXS, FileTypeIQ2_XS, FileTypeIQ3_XXS, FileTypeIQ1_S, FileTypeIQ2_S, FileTypeIQ2_M, FileTypeIQ1_M):
			return got(gguf.TypeQ5_K, "%s in a 1-3 bit IQ file", what)
		case def != gguf.TypeQ8_0:
			return got(gguf.TypeQ6_K, "%s", what)
		}
		return def, "", nil
	}

	if ft == FileTypeMXFP4MoE {
		expertRole := cat == catFFNUp || cat == catFFNGate || cat == catFFNDown
		if t.ne(2) > 1 && (s.info.Arch != "bailingmoe3" || expertRole) {
			return got(gguf.TypeMXFP4, "3-D expert tensor")
		}
		return got(gguf.TypeQ8_0, "non-expert tensor")
	}

	if cat == catTokenEmbd {
		switch {
		case s.opts.TokenEmbeddingType != nil:
			return got(*s.opts.TokenEmbeddingType, "token embedding: --token-embedding-type")
		case is(ft, FileTypeIQ2_XXS, FileTypeIQ2_XS, FileTypeIQ1_S, FileTypeIQ1_M):
			return got(gguf.TypeQ2_K, "token embedding")
		case is(ft, FileTypeIQ2_S, FileTypeIQ2_M, FileTypeIQ3_XXS):
			return got(gguf.TypeIQ3_S, "token embedding")
		case is(ft, FileTypeTQ1_0, FileTypeTQ2_0, FileTypeQ2_0):
			return got(gguf.TypeQ4_K, "token embedding")
		}
		return def, "", nil
	}

	// 1- and 2-bit IQ file types have their own small table.
	if is(ft, FileTypeIQ2_XXS, FileTypeIQ2_XS, FileTypeIQ1_S, FileTypeIQ2_S, FileTypeIQ2_M, FileTypeIQ1_M) {
		iq2sm := is(ft, FileTypeIQ2_S, FileTypeIQ2_M)
		switch {
		case cat.attnVLike():
			st.iAttnV++
			if gqa >= 4 || nExpert >= 4 {
				return got(gguf.TypeQ4_K, "%s with GQA %d / %d experts", catName, gqa, nExpert)
			}
			if iq2sm {
				return got(gguf.TypeIQ3_S, "%s", catName)
			}
			return got(gguf.TypeQ2_K, "%s", catName)
		case nExpert == 8 && cat == catAttnK:
			return got(gguf.TypeQ4_K, "attn_k of an 8-expert model")
		case cat == catFFNDown:
			i := st.iFFNDown
			st.iFFNDown++
			if i < st.nFFN/8 {
				if iq2sm {
					return got(gguf.TypeIQ3_S, "ffn_down #%d in the first eighth of %d", i, st.nFFN)
				}
				return got(gguf.TypeQ2_K, "ffn_down #%d in the first eighth of %d", i, st.nFFN)
			}
		case cat == catAttnOutput:
			switch {
			case nExpert == 8:
				return got(gguf.TypeQ5_K, "attn_output of an 8-expert model")
			case is(ft, FileTypeIQ1_S, FileTypeIQ1_M):
				return got(gguf.TypeIQ2_XXS, "attn_output")
			case iq2sm:
				return got(gguf.TypeIQ3_S, "attn_output")
			}
		}
		return def, "", nil
	}

	switch {
	case cat.attnVLike():
		i := st.iAttnV
		st.iAttnV++
		typ, why := def, ""
		set := func(t gguf.Type, format string, a ...any) { typ, why = t, fmt.Sprintf(format, a...) }
		switch ft {
		case FileTypeQ2_K:
			if gqa >= 4 {
				set(gguf.TypeQ4_K, "%s with GQA %d", catName, gqa)
			} else {
				set(gguf.TypeQ3_K, "%s with GQA %d", catName, gqa)
			}
		case FileTypeQ2_K_S:
			if gqa >= 4 {
				set(gguf.TypeQ4_K, "%s with GQA %d", catName, gqa)
			}
		case FileTypeIQ3_XXS:
			switch {
			case gqa >= 4:
				set(gguf.TypeQ4_K, "%s with GQA %d", catName, gqa)
			case !s.hasImatrix:
				set(gguf.TypeIQ3_S, "%s without imatrix", catName)
			default:
				set(gguf.TypeIQ3_XXS, "%s with imatrix", catName)
			}
		case FileTypeIQ3_XS, FileTypeIQ3_S:
			if gqa >= 4 {
				set(gguf.TypeQ4_K, "%s with GQA %d", catName, gqa)
			}
		case FileTypeIQ3_M:
			set(gguf.TypeQ4_K, "%s", catName)
		case FileTypeQ3_K_M:
			if i < 2 {
				set(gguf.TypeQ5_K, "%s #%d (first 2)", catName, i)
			} else {
				set(gguf.TypeQ4_K, "%s #%d", catName, i)
			}
		case FileTypeQ3_K_L:
			set(gguf.TypeQ5_K, "%s", catName)
		case FileTypeIQ4_NL, FileTypeIQ4_XS:
			if gqa >= 4 {
				set(gguf.TypeQ5_K, "%s with GQA %d", catName, gqa)
			}
		case FileTypeQ4_K_M, FileTypeQ5_K_M:
			if useMoreBits(i, st.nAttnV) {
				set(gguf.TypeQ6_K, "%s #%d of %d in a more-bits layer", catName, i, st.nAttnV)
			}
		case FileTypeQ4_K_S:
			if i < 4 {
				set(gguf.TypeQ5_K, "%s #%d (first 4)", catName, i)
			}
		}
		if s.info.is70B() && (typ == gguf.TypeQ3_K || typ == gguf.TypeQ4_K) {
			prev := why
			if prev == "" {
				prev = catName
			}
			set(gguf.TypeQ5_K, "%s, raised for a 70B GQA model", prev)
		}
		if nExpert == 8 {
			set(gguf.TypeQ8_0, "%s of an 8-expert model", catName)
		}
		if why == "" {
			return def, "", nil
		}
		return got(typ, "%s", why)

	case cat == catAttnK:
		switch {
		case nExpert == 8:
			return got(gguf.TypeQ8_0, "attn_k of an 8-expert model")
		case ft == FileTypeIQ3_XS:
			return got(gguf.TypeIQ3_XXS, "attn_k")
		case ft == FileTypeIQ3_XXS:
			return got(gguf.TypeIQ2_S, "attn_k")
		}

	case cat == catAttnQ:
		switch ft {
		case FileTypeIQ3_XS:
			return got(gguf.TypeIQ3_XXS, "attn_q")
		case FileTypeIQ3_XXS:
			return got(gguf.TypeIQ2_S, "attn_q")
		}

	case cat == catFFNDown:
		i, n, err := s.layerOf(st.iFFNDown, st.nFFN, t.Name)
		if err != nil {
			return def, "", err
		}
		st.iFFNDown++
		first8, first16, more := i < n/8, i < n/16, useMoreBits(i, n)
		where := fmt.Sprintf("ffn_down layer %d of %d", i, n)
		switch ft {
		case FileTypeQ2_K:
			return got(gguf.TypeQ3_K, "ffn_down")
		case FileTypeQ2_K_S:
			if first8 {
				return got(gguf.TypeQ4_K, "%s (first eighth)", where)
			}
		case FileTypeIQ3_XXS:
			if !s.hasImatrix {
				if first8 {
					return got(gguf.TypeQ4_K, "%s (first eighth) without imatrix", where)
				}
				return got(gguf.TypeQ3_K, "%s without imatrix", where)
			}
		case FileTypeQ3_K_M:
			switch {
			case first16:
				return got(gguf.TypeQ5_K, "%s (first sixteenth)", where)
			case !falcon || more:
				return got(gguf.TypeQ4_K, "%s", where)
			}
			return got(gguf.TypeQ3_K, "%s of falcon", where)
		case FileTypeIQ3_M:
			if first8 || (nExpert == 8 && more) {
				return got(gguf.TypeQ4_K, "%s", where)
			}
		case FileTypeQ3_K_L:
			if falcon {
				return got(gguf.TypeQ4_K, "%s of falcon", where)
			}
			return got(gguf.TypeQ5_K, "%s", where)
		case FileTypeQ4_K_M:
			if falcon {
				switch {
				case first16:
					return got(gguf.TypeQ6_K, "%s of falcon (first sixteenth)", where)
				case more:
					return got(gguf.TypeQ5_K, "%s of falcon in a more-bits layer", where)
				}
				return got(gguf.TypeQ4_K, "%s of falcon", where)
			}
			if more {
				return got(gguf.TypeQ6_K, "%s in a more-bits layer", where)
			}
		case FileTypeIQ4_NL, FileTypeIQ4_XS:
			if first8 && !s.hasImatrix {
				return got(gguf.TypeQ5_K, "%s (first eighth) without imatrix", where)
			}
		case FileTypeQ5_K_M:
			if more {
				return got(gguf.TypeQ6_K, "%s in a more-bits layer", where)
			}
		case FileTypeQ4_K_S:
			if !falcon && first8 {
				return got(gguf.TypeQ5_K, "%s (first eighth)", where)
			}
		case FileTypeQ4_0, FileTypeQ5_0:
			if s.hasImatrix && first8 {
				if ft == FileTypeQ4_0 {
					return got(gguf.TypeQ4_1, "%s (first eighth) with imatrix", where)
				}
				return got(gguf.TypeQ5_1, "%s (first eighth) with imatrix", where)
			}
		}

	case cat == catAttnOutput:
		if falcon {
			if ft == FileTypeQ3_K_L {
				return got(gguf.TypeQ4_K, "attn_output of falcon")
			}
			break
		}
		if nExpert == 8 {
			if is(ft, FileTypeQ2_K, FileTypeIQ3_XS, FileTypeIQ3_XXS, FileTypeQ3_K_S, FileTypeQ3_K_M, FileTypeIQ4_NL,
				FileTypeQ4_K_S, FileTypeQ4_K_M, FileTypeIQ3_S, FileTypeIQ3_M, FileTypeIQ4_XS) {
				return got(gguf.TypeQ5_K, "attn_output of an 8-expert model")
			}
			break
		}
		switch ft {
		case FileTypeQ2_K:
			return got(gguf.TypeQ3_K, "attn_output")
		case FileTypeIQ3_XXS:
			return got(gguf.TypeIQ3_S, "attn_output")
		case FileTypeQ3_K_M, FileTypeIQ3_M:
			return got(gguf.TypeQ4_K, "attn_output")
		case FileTypeQ3_K_L:
			return got(gguf.TypeQ5_K, "attn_output")
		}

	case cat == catFFNGate, cat == catFFNUp:
		ctr := &st.iFFNGate
		if cat == catFFNUp {
			ctr = &st.iFFNUp
		}
		i, n, err := s.layerOf(*ctr, st.nFFN, t.Name)
		if err != nil {
			return def, "", err
		}
		*ctr++
		if ft == FileTypeIQ3_XS && i >= n/8 && i < 7*n/8 {
			return got(gguf.TypeIQ3_XXS, "%s layer %d of %d (middle layers)", catName, i, n)
		}
	}
	return def, "", nil
}

// layerOf returns the layer index for the ffn rules: the running counter
// for a dense model, the blk.N. of the name for a MoE model (whose expert
// tensors need not come in layer order).
func (s *TypeSelector) layerOf(counter, n int, name string) (int, int, error) {
	if s.info.NExpert <= 1 {
		return counter, n, nil
	}
	i, ok := scanBlk(name)
	if !ok {
		return 0, 0, fmt.Errorf("failed to determine layer for tensor %s", name)
	}
	if i < 0 || i >= n {
		return 0, 0, fmt.Errorf("bad layer %d for tensor %s: must be in [0, %d)", i, name, n)
	}
	return i, n, nil
}

// scanBlk reads the N of a "blk.N." prefix the way sscanf("blk.%d.")
// does: optional white space and sign, at least one digit; what follows
// the digits is not checked.
func scanBlk(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, false
	}
	i := 0
	for i < len(rest) && strings.IndexByte(" \t\n\v\f\r", rest[i]) >= 0 {
		i++
	}
	neg := false
	if i < len(rest) && (rest[i] == '+' || rest[i] == '-') {
		neg = rest[i] == '-'
		i++
	}
	start := i
	var v int64
	for ; i < len(rest) && '0' <= rest[i] && rest[i] <= '9'; i++ {
		if v <= 1<<31 {
			v = v*10 + int64(rest[i]-'0')
		}
	}
	if i == start {
		return 0, false
	}
	if neg {
		v = -v
	}
	v = max(min(v, 1<<31-1), -(1 << 31))
	return int(v), true
}

// LlamaOrder returns the indices of names in the order llama-quantize
// visits and writes tensors (its weights map): tensors outside any
// "blk.N." block first, then block by block in increasing N, and by byte
// order of the name within each group. The type counters depend on this
// order, and writing tensors in it reproduces llama-quantize's layout.
func LlamaOrder(names []string) []int {
	layer := make([]int, len(names))
	for i, n := range names {
		l, ok := scanBlk(n)
		if !ok {
			l = -1
		}
		layer[i] = l
	}
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ia, ib := idx[a], idx[b]
		if layer[ia] != layer[ib] {
			return layer[ia] < layer[ib]
		}
		return names[ia] < names[ib]
	})
	return idx
}
