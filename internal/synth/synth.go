// Package synth generates llama-shaped GGUF models with random weights:
// real tensor names, shapes, metadata and a byte-level vocabulary, so the
// whole pipeline (convert, verify, benchmarks, the demo) runs on a machine
// without any download. The same Config and seed always give the same bytes.
package synth

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"

	"github.com/x448/float16"
	"golang.org/x/sync/errgroup"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/atomicfile"
)

// Config is the shape of a generated model.
type Config struct {
	Name    string
	Layers  int
	Embd    int // n_embd
	FF      int // n_ff
	Heads   int
	KVHeads int
	Vocab   int // at least 259 (3 specials + 256 byte tokens)
	Type    gguf.Type
	Std     float64 // standard deviation of the weights (0.02 when zero)
	Seed    uint64
}

// Tiny is the demo model: 4 layers, n_embd 256, GQA, about 4 M weights.
func Tiny() Config {
	return Config{Name: "qconv-demo-tiny", Layers: 4, Embd: 256, FF: 768, Heads: 8, KVHeads: 4, Vocab: 1024, Type: gguf.TypeF16, Seed: 1}
}

// Bench is the llama-shaped model of ../shared/perf: 8 layers, n_embd
// 2048, n_ff 5632, 32 heads / 4 KV heads, vocab 32000 (483 M weights,
// 923 MiB in F16).
func Bench() Config {
	return Config{Name: "qconv-bench-483m", Layers: 8, Embd: 2048, FF: 5632, Heads: 32, KVHeads: 4, Vocab: 32000, Type: gguf.TypeF16, Seed: 1}
}

// Validate reports a Config that cannot make a model.
func (c Config) Validate() error {
	switch {
	case c.Layers < 1 || c.Embd < 1 || c.FF < 1 || c.Heads < 1 || c.KVHeads < 1:
		return fmt.Errorf("synth: layers, n_embd, n_ff and head counts must be positive")
	case c.Embd%c.Heads != 0 || c.Heads%c.KVHeads != 0:
		return fmt.Errorf("synth: n_embd %d, heads %d and KV heads %d do not divide", c.Embd, c.Heads, c.KVHeads)
	case c.Vocab < 259:
		return fmt.Errorf("synth: vocabulary of %d is smaller than 259", c.Vocab)
	case c.Type != gguf.TypeF16 && c.Type != gguf.TypeBF16 && c.Type != gguf.TypeF32:
		return fmt.Errorf("synth: weights must be f32, f16 or bf16, not %s", c.Type)
	}
	return nil
}

// Params is the number of weights.
func (c Config) Params() int64 {
	var n int64
	for _, t := range c.tensors() {
		n += t.elems()
	}
	return n
}

type tensorSpec struct {
	name string
	dims []int64
	norm bool // a norm vector: F32, ones with a little noise
}

func (t tensorSpec) elems() int64 {
	n := int64(1)
	for _, d := range t.dims {
		n *= d
	}
	return n
}

// tensors lists the model's tensors in the order convert_hf_to_gguf.py
// writes a llama model.
func (c Config) tensors() []tensorSpec {
	e, ff, v := int64(c.Embd), int64(c.FF), int64(c.Vocab)
	kv := e / int64(c.Heads) * int64(c.KVHeads)
	ts := []tensorSpec{{name: "token_embd.weight", dims: []int64{e, v}}}
	for i := 0; i < c.Layers; i++ {
		b := fmt.Sprintf("blk.%d.", i)
		ts = append(ts,
			tensorSpec{name: b + "attn_norm.weight", dims: []int64{e}, norm: true},
			tensorSpec{name: b + "ffn_down.weight", dims: []int64{ff, e}},
			tensorSpec{name: b + "ffn_gate.weight", dims: []int64{e, ff}},
			tensorSpec{name: b + "ffn_up.weight", dims: []int64{e, ff}},
			tensorSpec{name: b + "ffn_norm.weight", dims: []int64{e}, norm: true},
			tensorSpec{name: b + "attn_k.weight", dims: []int64{e, kv}},
			tensorSpec{name: b + "attn_output.weight", dims: []int64{e, e}},
			tensorSpec{name: b + "attn_q.weight", dims: []int64{e, e}},
			tensorSpec{name: b + "attn_v.weight", dims: []int64{e, kv}},
		)
	}
	return append(ts,
		tensorSpec{name: "output_norm.weight", dims: []int64{e}, norm: true},
		tensorSpec{name: "output.weight", dims: []int64{e, v}},
	)
}

// kvs is the model's metadata, as a llama GGUF carries it.
func (c Config) kvs() ([]gguf.KV, error) {
	fileType := map[gguf.Type]uint32{gguf.TypeF32: 0, gguf.TypeF16: 1, gguf.TypeBF16: 32}[c.Type]
	tokens := make([]gguf.Value, c.Vocab)
	scores := make([]gguf.Value, c.Vocab)
	types := make([]gguf.Value, c.Vocab)
	for i := range tokens {
		var s string
		var typ int32 = 1 // normal
		switch {
		case i == 0:
			s, typ = "<unk>", 2
		case i == 1:
			s, typ = "<s>", 3
		case i == 2:
			s, typ = "</s>", 3
		case i < 259:
			s, typ = fmt.Sprintf("<0x%02X>", i-3), 6 // byte tokens
		default:
			s = fmt.Sprintf("▁tok%d", i)
		}
		tokens[i] = gguf.String(s)
		scores[i] = gguf.Float32(-float32(i))
		types[i] = gguf.Int32(typ)
	}
	arr := func(t gguf.ValueType, vs []gguf.Value) gguf.Value {
		v, err := gguf.ArrayOf(t, vs...)
		if err != nil {
			panic(err) // the elements are built above with the right type
		}
		return v
	}
	hd := uint32(c.Embd / c.Heads)
	return []gguf.KV{
		{Key: "general.architecture", Value: gguf.String("llama")},
		{Key: "general.type", Value: gguf.String("model")},
		{Key: "general.name", Value: gguf.String(c.Name)},
		{Key: "llama.block_count", Value: gguf.Uint32(uint32(c.Layers))},
		{Key: "llama.context_length", Value: gguf.Uint32(2048)},
		{Key: "llama.embedding_length", Value: gguf.Uint32(uint32(c.Embd))},
		{Key: "llama.feed_forward_length", Value: gguf.Uint32(uint32(c.FF))},
		{Key: "llama.attention.head_count", Value: gguf.Uint32(uint32(c.Heads))},
		{Key: "llama.attention.head_count_kv", Value: gguf.Uint32(uint32(c.KVHeads))},
		{Key: "llama.rope.freq_base", Value: gguf.Float32(10000)},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: gguf.Float32(1e-5)},
		{Key: "llama.rope.dimension_count", Value: gguf.Uint32(hd)},
		{Key: "llama.vocab_size", Value: gguf.Uint32(uint32(c.Vocab))},
		{Key: "general.file_type", Value: gguf.Uint32(fileType)},
		{Key: "tokenizer.ggml.model", Value: gguf.String("llama")},
		{Key: "tokenizer.ggml.pre", Value: gguf.String("default")},
		{Key: "tokenizer.ggml.tokens", Value: arr(gguf.ValueString, tokens)},
		{Key: "tokenizer.ggml.scores", Value: arr(gguf.ValueFloat32, scores)},
		{Key: "tokenizer.ggml.token_type", Value: arr(gguf.ValueInt32, types)},
		{Key: "tokenizer.ggml.bos_token_id", Value: gguf.Uint32(1)},
		{Key: "tokenizer.ggml.eos_token_id", Value: gguf.Uint32(2)},
		{Key: "tokenizer.ggml.unknown_token_id", Value: gguf.Uint32(0)},
		{Key: "general.quantization_version", Value: gguf.Uint32(2)},
	}, nil
}

// Layout lays the model's GGUF file out.
func (c Config) Layout() (*gguf.Layout, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	kvs, err := c.kvs()
	if err != nil {
		return nil, err
	}
	var infos []gguf.TensorInfo
	for _, t := range c.tensors() {
		typ := c.Type
		if t.norm {
			typ = gguf.TypeF32
		}
		infos = append(infos, gguf.TensorInfo{Name: t.name, Type: typ, Dims: t.dims})
	}
	return gguf.NewLayout(kvs, infos)
}

// WriteFile writes the model to path (atomically; an existing file is
// replaced only when force is set), generating tensors on all CPUs.
func (c Config) WriteFile(ctx context.Context, path string, force bool) error {
	l, err := c.Layout()
	if err != nil {
		return err
	}
	f, err := atomicfile.Create(path, atomicfile.Options{Force: force})
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := f.Reserve(l.FileSize); err != nil {
		return err
	}
	if err := l.WriteHeader(io.NewOffsetWriter(f, 0)); err != nil {
		return err
	}
	specs := c.tensors()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, ti := range l.Tensors {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			return c.writeTensor(f, i, specs[i], ti)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return f.Commit()
}

// writeTensor generates tensor i in rows of its first dimension and writes
// it at its offset. Each tensor has its own random stream, so tensors can
// be generated in any order.
func (c Config) writeTensor(w io.WriterAt, i int, spec tensorSpec, ti gguf.TensorInfo) error {
	rng := rand.New(rand.NewPCG(c.Seed, uint64(i)))
	std := c.Std
	if std == 0 {
		std = 0.02
	}
	elemBytes := int64(ti.Type.BlockBytes())
	rowLen := spec.dims[0]
	rowsPer := max(int64(1<<16)/rowLen, 1)
	buf := make([]byte, rowsPer*rowLen*elemBytes)
	total := spec.elems()
	for done := int64(0); done < total; {
		n := min(rowsPer*rowLen, total-done)
		b := buf[:n*elemBytes]
		for j := int64(0); j < n; j++ {
			var v float32
			if spec.norm {
				v = float32(1 + 0.05*rng.NormFloat64())
			} else {
				v = float32(std * rng.NormFloat64())
			}
			putValue(b[j*elemBytes:], ti.Type, v)
		}
		if _, err := w.WriteAt(b, ti.FileOffset+done*elemBytes); err != nil {
			return err
		}
		done += n
	}
	return nil
}

func putValue(b []byte, t gguf.Type, v float32) {
	switch t {
	case gguf.TypeF32:
		binary.LittleEndian.PutUint32(b, math.Float32bits(v))
	case gguf.TypeF16:
		binary.LittleEndian.PutUint16(b, float16.Fromfloat32(v).Bits())
	case gguf.TypeBF16:
		u := math.Float32bits(v)
		binary.LittleEndian.PutUint16(b, uint16((u+0x7fff+(u>>16&1))>>16))
	}
}
