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
	"LlamaForCausalLM":   {gguf: "llama", build: buildLlama},
	"MistralForCausalLM": {gguf: "llama", build: buildLlama},
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
}

// OpenHF opens a Hugging Face checkpoint directory (config.json plus
// safetensors) and presents it as convert_hf_to_gguf.py would write it:
// tensors renamed to GGUF names, the llama Q/K rows permuted (lazily, as
// a row mapping), 1-D tensors and norms as F32, and the GGUF metadata and
// tokenizer. The output types of the other tensors are left to the plan.
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
		Files: append(src.Files, cfgPath)}
	return s, nil
}

// hfTensor returns the stored tensor name as the checkpoint's converted
// tensor newName, with convert_hf_to_gguf.py's dtype rule: 1-D tensors,
// norms and tensors not named *.weight are F32; the others keep F32, F16
// or BF16 as stored (other float types widen to F32), for the plan to
// turn into the requested type.
func (h *hfCheckpoint) hfTensor(name, newName string) *Tensor {
	t := h.in[name]
	h.used[name] = true
	c := *t
	c.Name = newName
	c.Dims = slices.Clone(t.Dims)
	switch {
	case t.unsupported != "":
	case len(t.Dims) <= 1 || strings.HasSuffix(newName, "_norm.weight") || !strings.HasSuffix(newName, ".weight"):
		c.Type = gguf.TypeF32
	case t.Type == gguf.TypeF32 || t.Type == gguf.TypeF16 || t.Type == gguf.TypeBF16:
	case t.stDT.IsFloat():
		c.Type = gguf.TypeF32
	default:
		c.unsupported = fmt.Sprintf("integer dtype %s where the model needs floats", t.DType)
	}
	return &c
}

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
