package convert

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/quantize"
	"github.com/qconv/qconv/safetensors"
)

// mixtralTensors are the tensors of a synthetic Mixtral checkpoint: per
// layer the attention, the router block_sparse_moe.gate and nExpert
// experts' w1 (gate), w2 (down) and w3 (up).
func mixtralTensors(nLayer, nExpert int, nEmbd, nFF, qRows, kvRows, nVocab int64) []synthTensor {
	ts := []synthTensor{{name: "model.embed_tokens.weight", shape: []int64{nVocab, nEmbd}}, {name: "model.norm.weight", shape: []int64{nEmbd}},
		{name: "lm_head.weight", shape: []int64{nVocab, nEmbd}}}
	for l := range nLayer {
		p := fmt.Sprintf("model.layers.%d.", l)
		ts = append(ts,
			synthTensor{name: p + "input_layernorm.weight", shape: []int64{nEmbd}},
			synthTensor{name: p + "self_attn.q_proj.weight", shape: []int64{qRows, nEmbd}},
			synthTensor{name: p + "self_attn.k_proj.weight", shape: []int64{kvRows, nEmbd}},
			synthTensor{name: p + "self_attn.v_proj.weight", shape: []int64{kvRows, nEmbd}},
			synthTensor{name: p + "self_attn.o_proj.weight", shape: []int64{nEmbd, qRows}},
			synthTensor{name: p + "post_attention_layernorm.weight", shape: []int64{nEmbd}},
			synthTensor{name: p + "block_sparse_moe.gate.weight", shape: []int64{int64(nExpert), nEmbd}})
		for e := range nExpert {
			x := fmt.Sprintf("%sblock_sparse_moe.experts.%d.", p, e)
			ts = append(ts,
				synthTensor{name: x + "w1.weight", shape: []int64{nFF, nEmbd}},
				synthTensor{name: x + "w2.weight", shape: []int64{nEmbd, nFF}},
				synthTensor{name: x + "w3.weight", shape: []int64{nFF, nEmbd}})
		}
	}
	return ts
}

// mixtralWant are the GGUF tensors llama.cpp's llama loader takes for a
// Mixtral checkpoint.
func mixtralWant(nLayer int, nExpert, nEmbd, nFF, qRows, kvRows, nVocab int64) map[string][]int64 {
	m := map[string][]int64{"token_embd.weight": {nEmbd, nVocab}, "output_norm.weight": {nEmbd}, "output.weight": {nEmbd, nVocab}}
	for l := range nLayer {
		b := fmt.Sprintf("blk.%d.", l)
		for n, d := range map[string][]int64{
			"attn_norm.weight": {nEmbd}, "attn_q.weight": {nEmbd, qRows}, "attn_k.weight": {nEmbd, kvRows},
			"attn_v.weight": {nEmbd, kvRows}, "attn_output.weight": {qRows, nEmbd}, "ffn_norm.weight": {nEmbd},
			"ffn_gate_inp.weight":  {nEmbd, nExpert},
			"ffn_gate_exps.weight": {nEmbd, nFF, nExpert}, "ffn_up_exps.weight": {nEmbd, nFF, nExpert},
			"ffn_down_exps.weight": {nFF, nEmbd, nExpert},
		} {
			m[b+n] = d
		}
	}
	return m
}

// expertValues are the stored values of experts 0..n-1 of one kind of a
// layer, one after another: what the stacked tensor must hold.
func expertValues(sc *synthCheckpoint, layer, n int, kind string) []float32 {
	var v []float32
	for e := range n {
		v = append(v, sc.values[fmt.Sprintf("model.layers.%d.block_sparse_moe.experts.%d.%s.weight", layer, e, kind)]...)
	}
	return v
}

var mixtralConfig = map[string]any{
	"architectures": []string{"MixtralForCausalLM"}, "hidden_size": 8, "intermediate_size": 16,
	"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 12,
	"num_local_experts": 4, "num_experts_per_tok": 2, "max_position_embeddings": 64,
	"rope_theta": 1000000.0, "rms_norm_eps": 1e-5, "sliding_window": nil,
}

// TestHFMixtral converts a synthetic Mixtral (2 layers, 4 experts, 2 used)
// and checks the stacked expert tensors (names, ggml dims [n_embd, n_ff,
// n_expert], expert e's rows at slice e, reads that span experts), the
// router as F32, the llama metadata with expert_count and
// expert_used_count, and an F16 conversion that copies the experts' bytes
// one after another.
func TestHFMixtral(t *testing.T) {
	const nEmbd, nFF, nVocab, nExpert = 8, 16, 12, 4
	sc := writeSynth(t, "mixtral-synth", mixtralConfig, mixtralTensors(2, nExpert, nEmbd, nFF, 8, 4, nVocab), safetensors.F16)
	writeSPModel(t, sc.dir, nVocab)
	s := openSynth(t, sc.dir)
	checkLlamaCppRuns(t, sc.dir)
	wantTensors(t, s, mixtralWant(2, nExpert, nEmbd, nFF, 8, 4, nVocab))
	// gguf-py's MoE size label: shared tensors once (token_embd and
	// output 12x8 each, output_norm 8, per layer two norms of 8, q and o
	// 8x8, k and v 4x8, the router 8x4: 96+96+8+2*240 = 680) plus one
	// expert of each expert tensor (3 x 16x8 per layer: 768): 1448 weights,
	// "1.4K", with 4 experts.
	wantKVs(t, s, map[string]any{"general.size_label": gguf.String("4x1.4K")})
	m := tensorMap(s)
	for l := range 2 {
		for kind, w := range map[string]string{"ffn_gate_exps": "w1", "ffn_down_exps": "w2", "ffn_up_exps": "w3"} {
			x := m[fmt.Sprintf("blk.%d.%s.weight", l, kind)]
			want := expertValues(sc, l, nExpert, w)
			if err := equalValues(values(t, x), want); err != nil {
				t.Errorf("%s: %v", x.Name, err)
			}
			if x.Type != gguf.TypeF16 || len(x.Parts()) != nExpert || x.Raw() != nil {
				t.Errorf("%s: type %s, %d parts", x.Name, x.Type, len(x.Parts()))
			}
			// Reads that start and end inside experts.
			rows, rl := x.Rows(), x.RowLen()
			for _, r := range [][2]int64{{3, 10}, {rows/nExpert - 1, 2}, {1, rows - 2}, {rows - 1, 1}} {
				got := make([]float32, r[1]*rl)
				if err := x.ReadRows(r[0], r[1], got); err != nil {
					t.Fatal(err)
				}
				if err := equalValues(got, want[r[0]*rl:(r[0]+r[1])*rl]); err != nil {
					t.Errorf("%s rows [%d,%d): %v", x.Name, r[0], r[0]+r[1], err)
				}
				if raw, all := x.rawRows(r[0], r[1]), concatRaw(x); !bytes.Equal(raw, all[r[0]*x.rowBytes():(r[0]+r[1])*x.rowBytes()]) {
					t.Errorf("%s raw rows [%d,%d) differ", x.Name, r[0], r[0]+r[1])
				}
			}
		}
		gate := m[fmt.Sprintf("blk.%d.ffn_gate_inp.weight", l)]
		if gate.Type != gguf.TypeF32 {
			t.Errorf("%s is %s, want F32", gate.Name, gate.Type)
		}
		if err := equalValues(values(t, gate), sc.values[fmt.Sprintf("model.layers.%d.block_sparse_moe.gate.weight", l)]); err != nil {
			t.Errorf("%s: %v", gate.Name, err)
		}
	}
	if m["blk.0.attn_q.weight"].rowMap == nil || m["blk.0.attn_k.weight"].rowMap == nil {
		t.Error("attn_q/attn_k are not permuted")
	}
	wantKVs(t, s, map[string]any{
		"general.architecture":                   gguf.String("llama"),
		"llama.block_count":                      gguf.Uint32(2),
		"llama.feed_forward_length":              gguf.Uint32(nFF),
		"llama.expert_count":                     gguf.Uint32(nExpert),
		"llama.expert_used_count":                gguf.Uint32(2),
		"llama.attention.head_count_kv":          gguf.Uint32(2),
		"llama.rope.freq_base":                   gguf.Float32(1e6),
		"llama.attention.layer_norm_rms_epsilon": gguf.Float32(1e-5),
		"llama.expert_feed_forward_length":       nil,
	})

	// F16 to F16 copies the stored bytes: one task spans all experts.
	f := writeGGUF(t, sc.dir, "f16", nil)
	for _, x := range s.Tensors {
		i := f.TensorIndex(x.Name)
		if i < 0 {
			t.Errorf("%s missing from the file", x.Name)
			continue
		}
		ti := f.Tensors()[i]
		if !slices.Equal(ti.Dims, x.Dims) {
			t.Errorf("%s: file dims %v, want %v", x.Name, ti.Dims, x.Dims)
		}
		if x.Parts() != nil && !bytes.Equal(f.TensorData(i), concatRaw(x)) {
			t.Errorf("%s: file bytes are not the experts' bytes one after another", x.Name)
		}
	}

	// A llama config with num_local_experts converts the same way.
	c := jsonRoundTrip(t, mixtralConfig)
	c["architectures"] = []string{"LlamaForCausalLM"}
	ll := writeSynth(t, "llama-moe", c, mixtralTensors(2, nExpert, nEmbd, nFF, 8, 4, nVocab), safetensors.F32)
	writeSPModel(t, ll.dir, nVocab)
	wantTensors(t, openSynth(t, ll.dir), mixtralWant(2, nExpert, nEmbd, nFF, 8, 4, nVocab))
	checkLlamaCppRuns(t, ll.dir)
}

// concatRaw is the stored bytes of a stacked tensor's parts, one after
// another.
func concatRaw(x *Tensor) []byte {
	var b []byte
	for _, p := range x.Parts() {
		b = append(b, p.Raw()...)
	}
	return b
}

// TestHFMixtralErrors checks the refusals of a Mixtral checkpoint: a
// missing expert, an expert of the wrong shape, an expert past
// num_local_experts, a dense feed-forward tensor in a MoE layer, and a
// MoE llama config without num_experts_per_tok.
func TestHFMixtralErrors(t *testing.T) {
	const nEmbd, nFF, nVocab, nExpert = 8, 16, 12, 4
	edit := func(name string, cfg func(map[string]any), ts func([]synthTensor) []synthTensor) string {
		c := jsonRoundTrip(t, mixtralConfig)
		if cfg != nil {
			cfg(c)
		}
		tensors := mixtralTensors(2, nExpert, nEmbd, nFF, 8, 4, nVocab)
		if ts != nil {
			tensors = ts(tensors)
		}
		sc := writeSynth(t, name, c, tensors, safetensors.F32)
		writeSPModel(t, sc.dir, nVocab)
		return sc.dir
	}
	drop := func(name string) func([]synthTensor) []synthTensor {
		return func(ts []synthTensor) []synthTensor {
			return slices.DeleteFunc(ts, func(x synthTensor) bool { return x.name == name })
		}
	}
	wantOpenError(t, edit("missing", nil, drop("model.layers.1.block_sparse_moe.experts.3.w2.weight")), ErrConfigMismatch,
		"model.layers.1.block_sparse_moe.experts.3.w2.weight", "num_local_experts is 4")
	wantOpenError(t, edit("shape", nil, func(ts []synthTensor) []synthTensor {
		for i := range ts {
			if ts[i].name == "model.layers.0.block_sparse_moe.experts.2.w3.weight" {
				ts[i].shape = []int64{nFF + 4, nEmbd}
			}
		}
		return ts
	}), ErrConfigMismatch, "model.layers.0.block_sparse_moe.experts.2.w3.weight", "blk.0.ffn_up_exps.weight", "[20, 8]", "[16, 8]")
	wantOpenError(t, edit("past", nil, func(ts []synthTensor) []synthTensor {
		return append(ts, synthTensor{name: "model.layers.0.block_sparse_moe.experts.4.w1.weight", shape: []int64{nFF, nEmbd}})
	}), ErrConfigMismatch, "experts.4.w1.weight", "num_local_experts is 4")
	wantOpenError(t, edit("dense", nil, func(ts []synthTensor) []synthTensor {
		return append(ts, synthTensor{name: "model.layers.0.mlp.gate_proj.weight", shape: []int64{nFF, nEmbd}})
	}), ErrConfigMismatch, "model.layers.0.mlp.gate_proj.weight", "blk.0.ffn_gate.weight")
	wantOpenError(t, edit("norouter", nil, drop("model.layers.1.block_sparse_moe.gate.weight")), ErrConfigMismatch, "blk.1.ffn_gate_inp.weight")
	wantOpenError(t, edit("used", func(c map[string]any) {
		c["architectures"] = []string{"LlamaForCausalLM"}
		delete(c, "num_experts_per_tok")
	}, nil), nil, "num_experts_per_tok")
}

// TestMoEStackedQuantize converts an 8-expert Mixtral layer (row counts
// chosen so that conversion tasks start and end inside experts) to Q4_K_M
// with the real pipeline (Plan.Write) and checks that every stacked
// tensor's bytes are exactly those of quantizing each expert's rows on
// its own, one expert after another, that the types are llama-quantize's
// choices for an 8-expert model, and that the plan counts the experts'
// stored bytes.
func TestMoEStackedQuantize(t *testing.T) {
	const nEmbd, nFF, nVocab, nExpert = 256, 768, 32, 8
	c := jsonRoundTrip(t, mixtralConfig)
	c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"] = nEmbd, nFF, 1, nVocab
	c["num_local_experts"] = nExpert
	sc := writeSynth(t, "mixtral-q", c, mixtralTensors(1, nExpert, nEmbd, nFF, nEmbd, nEmbd/2, nVocab), safetensors.F16)
	writeSPModel(t, sc.dir, nVocab)

	p := plan(t, sc.dir, "q4_k_m", nil)
	if got, want := p.SourceBytes(), 2*p.Elements(); got != want {
		t.Errorf("SourceBytes %d, want %d (every tensor stored as F16)", got, want)
	}
	perTask := int64(chunkElems) / nFF
	if perTask%nEmbd == 0 {
		t.Fatalf("tasks of %d rows end on expert boundaries: the test would not cross experts mid-task", perTask)
	}
	out := filepath.Join(t.TempDir(), "out.gguf")
	if _, err := p.Write(t.Context(), out, RunOptions{Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	wantTypes := map[string]gguf.Type{
		"blk.0.attn_k.weight": gguf.TypeQ8_0, "blk.0.attn_v.weight": gguf.TypeQ8_0, "blk.0.attn_output.weight": gguf.TypeQ5_K,
		"blk.0.attn_q.weight": gguf.TypeQ4_K, "blk.0.ffn_gate_inp.weight": gguf.TypeF32,
		"blk.0.ffn_gate_exps.weight": gguf.TypeQ4_K, "blk.0.ffn_up_exps.weight": gguf.TypeQ4_K,
		"blk.0.ffn_down_exps.weight": gguf.TypeQ6_K, "output.weight": gguf.TypeQ6_K,
	}
	for name, want := range wantTypes {
		if ti, ok := f.Tensor(name); !ok || ti.Type != want {
			t.Errorf("%s: %v, want %v (llama-quantize's Q4_K_M choice for an 8-expert model)", name, ti.Type, want)
		}
	}
	for kind, w := range map[string]string{"ffn_gate_exps": "w1", "ffn_down_exps": "w2", "ffn_up_exps": "w3"} {
		name := "blk.0." + kind + ".weight"
		i := f.TensorIndex(name)
		if i < 0 {
			t.Fatalf("%s missing", name)
		}
		ti := f.Tensors()[i]
		rowLen := int(ti.Dims[0])
		rb, err := ti.Type.RowBytes(int64(rowLen))
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		for e := range nExpert {
			v := sc.values[fmt.Sprintf("model.layers.0.block_sparse_moe.experts.%d.%s.weight", e, w)]
			b := make([]byte, int64(len(v)/rowLen)*rb)
			if err := quantize.Quantize(ti.Type, b, v, rowLen, nil); err != nil {
				t.Fatal(err)
			}
			want = append(want, b...)
		}
		if got := f.TensorData(i); !bytes.Equal(got, want) {
			t.Errorf("%s (%s): %d bytes differ from quantizing the %d experts one after another (%d bytes)", name, ti.Type, len(got), nExpert, len(want))
		}
	}
}

// qwenMoeTensors are the tensors of a synthetic Qwen2MoE (shared expert of
// nFFShexp rows, q/k/v biases) or Qwen3MoE (q/k norms) checkpoint: the
// dense model's, with the feed-forward replaced by the router mlp.gate and
// nExpert experts of nFFExp rows.
func qwenMoeTensors(nLayer, nExpert int, nEmbd, nFFExp, nFFShexp, qRows, kvRows, headDim, nVocab int64, qwen3 bool) []synthTensor {
	ts := slices.DeleteFunc(qwenTensors(nLayer, nEmbd, 1, qRows, kvRows, headDim, nVocab, qwen3), func(x synthTensor) bool {
		return bytes.Contains([]byte(x.name), []byte(".mlp."))
	})
	for l := range nLayer {
		p := fmt.Sprintf("model.layers.%d.mlp.", l)
		ts = append(ts, synthTensor{name: p + "gate.weight", shape: []int64{int64(nExpert), nEmbd}})
		for e := range nExpert {
			x := fmt.Sprintf("%sexperts.%d.", p, e)
			ts = append(ts,
				synthTensor{name: x + "gate_proj.weight", shape: []int64{nFFExp, nEmbd}},
				synthTensor{name: x + "up_proj.weight", shape: []int64{nFFExp, nEmbd}},
				synthTensor{name: x + "down_proj.weight", shape: []int64{nEmbd, nFFExp}})
		}
		if nFFShexp > 0 {
			ts = append(ts,
				synthTensor{name: p + "shared_expert_gate.weight", shape: []int64{1, nEmbd}},
				synthTensor{name: p + "shared_expert.gate_proj.weight", shape: []int64{nFFShexp, nEmbd}},
				synthTensor{name: p + "shared_expert.up_proj.weight", shape: []int64{nFFShexp, nEmbd}},
				synthTensor{name: p + "shared_expert.down_proj.weight", shape: []int64{nEmbd, nFFShexp}})
		}
	}
	return ts
}

// qwenMoeWant are the GGUF tensors llama.cpp's qwen2moe/qwen3moe loaders
// take for such a checkpoint.
func qwenMoeWant(nLayer int, nExpert, nEmbd, nFFExp, nFFShexp, qRows, kvRows, headDim, nVocab int64, qwen3 bool) map[string][]int64 {
	m := qwenWant(nLayer, nEmbd, 1, qRows, kvRows, headDim, nVocab, qwen3)
	for l := range nLayer {
		b := fmt.Sprintf("blk.%d.", l)
		delete(m, b+"ffn_gate.weight")
		delete(m, b+"ffn_up.weight")
		delete(m, b+"ffn_down.weight")
		m[b+"ffn_gate_inp.weight"] = []int64{nEmbd, nExpert}
		m[b+"ffn_gate_exps.weight"] = []int64{nEmbd, nFFExp, nExpert}
		m[b+"ffn_up_exps.weight"] = []int64{nEmbd, nFFExp, nExpert}
		m[b+"ffn_down_exps.weight"] = []int64{nFFExp, nEmbd, nExpert}
		if nFFShexp > 0 {
			m[b+"ffn_gate_inp_shexp.weight"] = []int64{nEmbd, 1}
			m[b+"ffn_gate_shexp.weight"] = []int64{nEmbd, nFFShexp}
			m[b+"ffn_up_shexp.weight"] = []int64{nEmbd, nFFShexp}
			m[b+"ffn_down_shexp.weight"] = []int64{nFFShexp, nEmbd}
		}
	}
	return m
}

// TestHFQwen2Moe converts a synthetic Qwen2MoeForCausalLM (2 layers, 4
// experts of 8 rows, 2 used, a shared expert of 12 rows) and checks the
// names and dims, the stacked experts' values, the shared expert gate as
// F32 [n_embd, 1], the expert metadata, an F16 file, and the refusals of
// a missing expert and of layers without experts.
func TestHFQwen2Moe(t *testing.T) {
	const nEmbd, nFFExp, nFFShexp, nVocab, nExpert = 8, 8, 12, 12, 4
	config := map[string]any{
		"architectures": []string{"Qwen2MoeForCausalLM"}, "hidden_size": nEmbd, "intermediate_size": 32,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": nVocab,
		"num_experts": nExpert, "num_experts_per_tok": 2, "moe_intermediate_size": nFFExp,
		"shared_expert_intermediate_size": nFFShexp, "max_position_embeddings": 128, "rope_theta": 1000000.0,
		"decoder_sparse_step": 1, "mlp_only_layers": []int{}, "tie_word_embeddings": false,
	}
	tensors := func() []synthTensor {
		return append(qwenMoeTensors(2, nExpert, nEmbd, nFFExp, nFFShexp, 8, 4, 2, nVocab, false),
			synthTensor{name: "lm_head.weight", shape: []int64{nVocab, nEmbd}})
	}
	sc := writeSynth(t, "qwen2moe-synth", config, tensors(), safetensors.BF16)
	writeBPETokenizer(t, sc.dir, 11, bpeRegexQwen2)
	s := openSynth(t, sc.dir)
	checkLlamaCppRuns(t, sc.dir)
	want := qwenMoeWant(2, nExpert, nEmbd, nFFExp, nFFShexp, 8, 4, 2, nVocab, false)
	want["output.weight"] = []int64{nEmbd, nVocab}
	wantTensors(t, s, want)
	m := tensorMap(s)
	for l := range 2 {
		for kind, w := range map[string]string{"ffn_gate_exps": "gate_proj", "ffn_down_exps": "down_proj", "ffn_up_exps": "up_proj"} {
			var want []float32
			for e := range nExpert {
				want = append(want, sc.values[fmt.Sprintf("model.layers.%d.mlp.experts.%d.%s.weight", l, e, w)]...)
			}
			x := m[fmt.Sprintf("blk.%d.%s.weight", l, kind)]
			if err := equalValues(values(t, x), want); err != nil {
				t.Errorf("%s: %v", x.Name, err)
			}
			if x.Type != gguf.TypeBF16 {
				t.Errorf("%s is %s, want BF16 as stored", x.Name, x.Type)
			}
		}
		for gg, hf := range map[string]string{"ffn_gate_inp_shexp": "shared_expert_gate", "ffn_gate_shexp": "shared_expert.gate_proj",
			"ffn_down_shexp": "shared_expert.down_proj", "ffn_gate_inp": "gate"} {
			x := m[fmt.Sprintf("blk.%d.%s.weight", l, gg)]
			if err := equalValues(values(t, x), sc.values[fmt.Sprintf("model.layers.%d.mlp.%s.weight", l, hf)]); err != nil {
				t.Errorf("%s: %v", x.Name, err)
			}
		}
		for _, n := range []string{"ffn_gate_inp", "ffn_gate_inp_shexp"} {
			if x := m[fmt.Sprintf("blk.%d.%s.weight", l, n)]; x.Type != gguf.TypeF32 {
				t.Errorf("%s is %s, want F32", x.Name, x.Type)
			}
		}
	}
	wantKVs(t, s, map[string]any{
		"general.architecture":                       gguf.String("qwen2moe"),
		"qwen2moe.block_count":                       gguf.Uint32(2),
		"qwen2moe.feed_forward_length":               gguf.Uint32(32),
		"qwen2moe.expert_count":                      gguf.Uint32(nExpert),
		"qwen2moe.expert_used_count":                 gguf.Uint32(2),
		"qwen2moe.expert_feed_forward_length":        gguf.Uint32(nFFExp),
		"qwen2moe.expert_shared_feed_forward_length": gguf.Uint32(nFFShexp),
		"qwen2moe.attention.key_length":              nil,
		"tokenizer.ggml.pre":                         gguf.String("qwen2"),
	})
	f := writeGGUF(t, sc.dir, "f16", nil)
	for name, ty := range map[string]gguf.Type{"blk.0.ffn_gate_exps.weight": gguf.TypeF16, "blk.1.ffn_gate_inp_shexp.weight": gguf.TypeF32,
		"blk.0.ffn_gate_inp.weight": gguf.TypeF32, "blk.0.ffn_down_shexp.weight": gguf.TypeF16} {
		if ti, ok := f.Tensor(name); !ok || ti.Type != ty {
			t.Errorf("%s: %v, want %v", name, ti.Type, ty)
		}
	}

	edit := func(name string, cfg func(map[string]any), ts func([]synthTensor) []synthTensor) string {
		c := jsonRoundTrip(t, config)
		if cfg != nil {
			cfg(c)
		}
		x := tensors()
		if ts != nil {
			x = ts(x)
		}
		sc := writeSynth(t, name, c, x, safetensors.F32)
		writeBPETokenizer(t, sc.dir, 11, bpeRegexQwen2)
		return sc.dir
	}
	wantOpenError(t, edit("missing", nil, func(ts []synthTensor) []synthTensor {
		return slices.DeleteFunc(ts, func(x synthTensor) bool { return x.name == "model.layers.0.mlp.experts.1.up_proj.weight" })
	}), ErrConfigMismatch, "model.layers.0.mlp.experts.1.up_proj.weight", "num_experts is 4")
	wantOpenError(t, edit("shape", func(c map[string]any) { c["moe_intermediate_size"] = 16 }, nil), ErrConfigMismatch,
		"model.layers.0.mlp.experts.0.", "[8, 8]", "[16, 8]")
	wantOpenError(t, edit("sparse", func(c map[string]any) { c["mlp_only_layers"] = []int{1} }, nil), ErrUnsupportedArch, "mlp_only_layers")
	wantOpenError(t, edit("noshared", nil, func(ts []synthTensor) []synthTensor {
		return slices.DeleteFunc(ts, func(x synthTensor) bool { return x.name == "model.layers.1.mlp.shared_expert_gate.weight" })
	}), ErrConfigMismatch, "blk.1.ffn_gate_inp_shexp.weight")
	// Tied embeddings: llama.cpp's qwen2moe loader needs output.weight.
	wantOpenError(t, edit("tied", func(c map[string]any) { c["tie_word_embeddings"] = true }, func(ts []synthTensor) []synthTensor {
		return slices.DeleteFunc(ts, func(x synthTensor) bool { return x.name == "lm_head.weight" })
	}), ErrUnsupportedArch, "lm_head.weight", "qwen2moe")
}

// TestHFQwen3Moe converts a synthetic Qwen3MoeForCausalLM (q/k norms, no
// shared expert, no head_dim in config.json: Qwen3MoeConfig's
// hidden_size / heads) and refuses a shared expert, which llama.cpp's
// qwen3moe has no place for.
func TestHFQwen3Moe(t *testing.T) {
	const nEmbd, nFFExp, nVocab, nExpert = 8, 8, 12, 4
	config := map[string]any{
		"architectures": []string{"Qwen3MoeForCausalLM"}, "hidden_size": nEmbd, "intermediate_size": 32,
		"num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": nVocab,
		"num_experts": nExpert, "num_experts_per_tok": 2, "moe_intermediate_size": nFFExp, "norm_topk_prob": true,
	}
	sc := writeSynth(t, "qwen3moe-synth", config, qwenMoeTensors(1, nExpert, nEmbd, nFFExp, 0, 8, 4, 2, nVocab, true), safetensors.F32)
	writeBPETokenizer(t, sc.dir, 12, bpeRegexQwen2)
	s := openSynth(t, sc.dir)
	checkLlamaCppRuns(t, sc.dir)
	wantTensors(t, s, qwenMoeWant(1, nExpert, nEmbd, nFFExp, 0, 8, 4, 2, nVocab, true))
	wantKVs(t, s, map[string]any{
		"general.architecture":                       gguf.String("qwen3moe"),
		"qwen3moe.expert_count":                      gguf.Uint32(nExpert),
		"qwen3moe.expert_used_count":                 gguf.Uint32(2),
		"qwen3moe.expert_feed_forward_length":        gguf.Uint32(nFFExp),
		"qwen3moe.expert_shared_feed_forward_length": nil,
		"qwen3moe.attention.key_length":              gguf.Uint32(2),
	})
	var want []float32
	for e := range nExpert {
		want = append(want, sc.values[fmt.Sprintf("model.layers.0.mlp.experts.%d.down_proj.weight", e)]...)
	}
	if err := equalValues(values(t, tensorMap(s)["blk.0.ffn_down_exps.weight"]), want); err != nil {
		t.Errorf("ffn_down_exps: %v", err)
	}
	shared := writeSynth(t, "qwen3moe-shared", config, qwenMoeTensors(1, nExpert, nEmbd, nFFExp, 12, 8, 4, 2, nVocab, true), safetensors.F32)
	writeBPETokenizer(t, shared.dir, 12, bpeRegexQwen2)
	wantOpenError(t, shared.dir, ErrConfigMismatch, "shared_expert")
}
