package convert

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/kernels"
	"github.com/qconv/qconv/quantize"
)

// Options configure a conversion. The zero value plus a Target converts
// with llama-quantize's defaults.
type Options struct {
	Target Target
	Select SelectOptions
	// Imatrix is the importance matrix (already filtered by
	// --include-weights/--exclude-weights), nil for none.
	Imatrix *quantize.Imatrix
	// AllowNonFinite lets NaN and Inf through instead of failing.
	AllowNonFinite bool
	// KVOverrides are set after everything else (--override-kv).
	KVOverrides []gguf.KV
	// KeepSplit writes one output file per file of a split GGUF input,
	// each with the tensors of its input file, as llama-quantize
	// --keep-split does (see Plan.Write for the names). An input in one
	// file gives one output file.
	KeepSplit bool
	// SplitMaxSize and SplitMaxTensors, when positive, split the output
	// into files of at most that many bytes of tensor data (a larger
	// tensor gets a file of its own) or that many tensors, as llama.cpp's
	// gguf-split --split-max-size / --split-max-tensors do; an output that
	// fits in one file is written as one. Not with KeepSplit.
	SplitMaxSize    int64
	SplitMaxTensors int
	// Layout is the layout of the output's quantized matrices: RowMajor
	// (the zero value, standard GGUF) or a block-major layout, which
	// tiles every matrix whose type has a block-major form (see
	// docs/layouts.md; token_embd.weight and matrices with fewer rows than
	// a tile stay row-major).
	Layout kernels.Layout
}

// PlannedTensor is one output tensor and how it is made.
type PlannedTensor struct {
	Src    *Tensor
	Choice Choice
	Out    gguf.TensorInfo // Type and Dims; offsets set by the layout
	// File is the index of the output file holding the tensor (in
	// Plan.Splits), 0 for a single output file.
	File int
	// Imatrix is the tensor's importance vector (RowLen entries per 2-D
	// slice, experts one after another), nil when quantized without one.
	Imatrix []float32
}

// Plan is a conversion decided in full before any data moves: every
// tensor's target type, the output metadata, and the output file's layout.
type Plan struct {
	Source  *Source
	Options Options
	Tensors []PlannedTensor // in output order
	KVs     []gguf.KV
	Layout  *gguf.Layout // the output file's (the first file's when split)
	// Splits are the layouts of the output files when the output is split
	// (Options.KeepSplit with a split input, or SplitMaxSize /
	// SplitMaxTensors needing more than one file), nil for a single file.
	Splits []*gguf.Layout
}

// OutputBytes is the size of the output, all its files together.
func (p *Plan) OutputBytes() int64 {
	if p.Splits == nil {
		return p.Layout.FileSize
	}
	var n int64
	for _, l := range p.Splits {
		n += l.FileSize
	}
	return n
}

// SourceBytes is the total stored size of the input tensors.
func (p *Plan) SourceBytes() int64 {
	var n int64
	for _, t := range p.Tensors {
		n += t.Src.storedBytes()
	}
	return n
}

// Elements is the total number of weights.
func (p *Plan) Elements() int64 {
	var n int64
	for _, t := range p.Tensors {
		n += t.Src.Elements()
	}
	return n
}

// TensorBytes is the total size of the output tensor data.
func (p *Plan) TensorBytes() int64 {
	var n int64
	for _, t := range p.Tensors {
		n += t.Out.Size
	}
	return n
}

// BitsPerWeight is the output's tensor bits per weight.
func (p *Plan) BitsPerWeight() float64 {
	if e := p.Elements(); e > 0 {
		return float64(p.TensorBytes()) * 8 / float64(e)
	}
	return 0
}

// modelInfo reads the facts the mixture rules use from GGUF metadata.
func modelInfo(s *Source) ModelInfo {
	var m ModelInfo
	if v, ok := s.KV("general.architecture"); ok {
		m.Arch, _ = v.AsString()
	}
	if m.Arch == "" {
		return m
	}
	geti := func(key string) int {
		kv, ok := s.KV(m.Arch + "." + key)
		if !ok {
			return 0
		}
		if v, ok := kv.AsInt(); ok && v >= 0 && v < 1<<31 {
			return int(v)
		}
		// Per-layer arrays: llama uses layer 0's value.
		if kv.Type() == gguf.ValueArray && kv.Len() > 0 {
			if v, ok := kv.Index(0).AsInt(); ok && v >= 0 && v < 1<<31 {
				return int(v)
			}
		}
		return 0
	}
	m.NLayer = geti("block_count")
	m.NExpert = geti("expert_count")
	m.NHead = geti("attention.head_count")
	m.NHeadKV = m.NHead
	if _, ok := s.KV(m.Arch + ".attention.head_count_kv"); ok {
		m.NHeadKV = geti("attention.head_count_kv")
	}
	return m
}

// NewPlan decides every tensor's type and lays out the output file.
func NewPlan(s *Source, o Options) (*Plan, error) {
	for _, t := range s.Tensors {
		if err := t.Check(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Path, err)
		}
	}
	sel := o.Select
	sel.Pure = sel.Pure || o.Target.Pure
	sel.OnlyCopy = sel.OnlyCopy || o.Target.Copy
	if o.Imatrix != nil {
		sel.Imatrix = true
		sel.ImatrixEntries = append([]string{}, o.Imatrix.Names...)
	}
	ts, err := NewTypeSelector(o.Target.FileType, modelInfo(s), sel)
	if err != nil {
		return nil, err
	}
	descs := make([]TensorDesc, len(s.Tensors))
	names := make([]string, len(s.Tensors))
	for i, t := range s.Tensors {
		descs[i] = TensorDesc{Name: t.Name, Shape: t.Dims, Type: t.Type}
		names[i] = t.Name
	}
	choices, err := ts.SelectAll(descs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	p := &Plan{Source: s, Options: o}
	// A GGUF input is rewritten in llama-quantize's tensor order; a
	// safetensors input keeps its own.
	order := make([]int, len(s.Tensors))
	for i := range order {
		order[i] = i
	}
	nSplit := 1
	if o.KeepSplit && len(s.ggufSplits) > 1 {
		nSplit = len(s.ggufSplits)
	}
	switch {
	case nSplit > 1:
		// Each output file gets its input file's tensors, in their
		// order in the file (llama-quantize sorts by split, then offset).
		sort.SliceStable(order, func(a, b int) bool {
			ta, tb := s.Tensors[order[a]], s.Tensors[order[b]]
			if ta.split != tb.split {
				return ta.split < tb.split
			}
			return ta.offset < tb.offset
		})
	case s.Format == "gguf":
		order = LlamaOrder(names)
	}
	infos := make([]gguf.TensorInfo, 0, len(order))
	for _, i := range order {
		t, c := s.Tensors[i], choices[i]
		if c.Quantize {
			tr, ok := quantize.Lookup(c.Type)
			if !ok || !tr.CanQuantize() {
				return nil, fmt.Errorf("%s: tensor %q: qconv cannot quantize to %s yet", s.Path, t.Name, c.Type)
			}
			if !t.Decodable() {
				return nil, fmt.Errorf("%s: tensor %q: qconv cannot decode its type %s", s.Path, t.Name, t.DType)
			}
		}
		typ := c.Type
		if R := tileOutput(t, c.Type, o.Layout); R != 0 {
			typ, _ = gguf.TiledType(c.Type, R)
		}
		out := gguf.TensorInfo{Name: t.Name, Type: typ, Dims: t.Dims}
		pt := PlannedTensor{Src: t, Choice: c, Out: out}
		if nSplit > 1 {
			pt.File = t.split
		}
		if c.Quantize && c.UseImatrix {
			if pt.Imatrix, err = tensorImatrix(o.Imatrix, t); err != nil {
				return nil, fmt.Errorf("%s: %w", s.Path, err)
			}
		}
		p.Tensors = append(p.Tensors, pt)
		infos = append(infos, out)
	}
	p.KVs = outputKVs(s, o, ts.FileType(), choices, infos)
	if o.SplitMaxSize > 0 || o.SplitMaxTensors > 0 {
		if o.KeepSplit {
			return nil, fmt.Errorf("keeping the input's splits and splitting by size or count are exclusive")
		}
		nSplit, err = p.assignSplits(o.SplitMaxSize, o.SplitMaxTensors, infos)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Path, err)
		}
	}
	if nSplit > 1 {
		if err := p.layoutSplits(nSplit, infos); err != nil {
			return nil, fmt.Errorf("%s: laying out the output: %w", s.Path, err)
		}
		return p, nil
	}
	l, err := gguf.NewLayout(p.KVs, infos)
	if err != nil {
		return nil, fmt.Errorf("%s: laying out the output: %w", s.Path, err)
	}
	p.Layout = l
	for i := range p.Tensors {
		p.Tensors[i].Out = l.Tensors[i]
	}
	return p, nil
}

// assignSplits puts the tensors, in output order, into files as
// gguf-split does: a new file starts before a tensor when the file already
// holds maxTensors tensors, or when its tensor data, each tensor padded to
// the alignment, would grow past maxSize with it. It returns the number of
// files.
func (p *Plan) assignSplits(maxSize int64, maxTensors int, infos []gguf.TensorInfo) (int, error) {
	whole, err := gguf.NewLayout(p.KVs, infos) // for the tensors' sizes
	if err != nil {
		return 0, err
	}
	a := whole.Alignment
	file, inFile, size := 0, 0, int64(0)
	for i, ti := range whole.Tensors {
		n := (ti.Size + a - 1) / a * a
		if inFile > 0 && ((maxTensors > 0 && inFile >= maxTensors) || (maxSize > 0 && size+n > maxSize)) {
			file, inFile, size = file+1, 0, 0
		}
		if file >= 1<<16-1 {
			return 0, fmt.Errorf("splitting into more than %d files", 1<<16-1)
		}
		p.Tensors[i].File = file
		inFile++
		size += n
	}
	return file + 1, nil
}

// layoutSplits lays out n output files, as llama-quantize --keep-split
// and gguf-split write them: the first holds the metadata, every one the
// split.* keys (after the rest), and file i the tensors whose
// PlannedTensor.File is i, in plan order.
func (p *Plan) layoutSplits(n int, infos []gguf.TensorInfo) error {
	splitKVs := func(i int) []gguf.KV {
		return []gguf.KV{
			{Key: keySplitNo, Value: gguf.Uint16(uint16(i))},
			{Key: keySplitCount, Value: gguf.Uint16(uint16(n))},
			{Key: keySplitTensors, Value: gguf.Int32(int32(len(infos)))},
		}
	}
	files := make([][]int, n) // plan tensor indexes per file
	for i, pt := range p.Tensors {
		files[pt.File] = append(files[pt.File], i)
	}
	p.KVs = append(p.KVs, splitKVs(0)...)
	for f, idx := range files {
		kvs := splitKVs(f)
		if f == 0 {
			kvs = p.KVs
		}
		fi := make([]gguf.TensorInfo, len(idx))
		for k, i := range idx {
			fi[k] = infos[i]
		}
		l, err := gguf.NewLayout(kvs, fi)
		if err != nil {
			return fmt.Errorf("split %d of %d: %w", f+1, n, err)
		}
		for k, i := range idx {
			p.Tensors[i].Out = l.Tensors[k]
		}
		p.Splits = append(p.Splits, l)
	}
	p.Layout = p.Splits[0]
	return nil
}

// tensorImatrix returns t's importance vector. As in llama-quantize, a
// size mismatch is an error except for token_embd.weight, which is then
// quantized without one.
func tensorImatrix(im *quantize.Imatrix, t *Tensor) ([]float32, error) {
	experts := int64(1)
	if len(t.Dims) >= 3 {
		experts = t.Rows() / max(t.Dims[1], 1)
	}
	v, err := im.For(t.Name, int(t.RowLen()), int(experts))
	if err != nil && t.Name == "token_embd.weight" && errors.Is(err, quantize.ErrImatrixSize) {
		return nil, nil
	}
	return v, err
}

// outputKVs is the output metadata: the input's, with what llama-quantize
// changes (general.quantization_version, general.file_type, split.* keys
// removed) and the overrides.
func outputKVs(s *Source, o Options, ft FileType, choices []Choice, infos []gguf.TensorInfo) []gguf.KV {
	var kvs []gguf.KV
	for _, kv := range s.KVs {
		if strings.HasPrefix(kv.Key, "split.") || kv.Key == gguf.KeyLayout || kv.Key == gguf.KeyLayoutVersion {
			continue
		}
		kvs = append(kvs, kv)
	}
	set := func(key string, v gguf.Value) {
		for i := range kvs {
			if kvs[i].Key == key {
				kvs = append(kvs[:i], kvs[i+1:]...)
				break
			}
		}
		kvs = append(kvs, gguf.KV{Key: key, Value: v})
	}
	if !o.Target.Copy {
		quantized := false
		for _, c := range choices {
			if ti, ok := c.Type.Info(); ok && ti.Quantized {
				quantized = true
			}
		}
		if quantized || s.Format == "gguf" {
			set("general.quantization_version", gguf.Uint32(2))
		}
		set("general.file_type", gguf.Uint32(uint32(ft)))
	}
	for _, ti := range infos {
		if _, _, ok := ti.Type.Tiled(); ok {
			set(gguf.KeyLayout, gguf.String(gguf.LayoutBlockMajor))
			set(gguf.KeyLayoutVersion, gguf.Uint32(gguf.LayoutVersion))
			break
		}
	}
	for _, kv := range o.KVOverrides {
		set(kv.Key, kv.Value)
	}
	// llama-quantize records the importance matrix after the user's
	// overrides.
	if o.Imatrix != nil {
		for _, kv := range o.Imatrix.QuantizeKVs() {
			set(kv.Key, kv.Value)
		}
	}
	return kvs
}
