package convert

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/llamacpp"
	"github.com/qconv/qconv/internal/sharedfiles"
	"github.com/qconv/qconv/internal/synth"
	"github.com/qconv/qconv/quantize"
)

// The tests in this file compare qconv with llama.cpp itself. They run only
// when QCONV_LLAMA_CPP names a directory of llama.cpp's tools and skip
// otherwise (docs/llamacpp.md); CI does not have llama.cpp.

// writeTo converts in to a GGUF file of type to in a temporary directory
// and returns its path.
func writeTo(t *testing.T, in, to string, mod func(*Options)) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), strings.ToLower(to)+".gguf")
	if _, err := plan(t, in, to, mod).Write(t.Context(), out, RunOptions{Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkLlamaCppRuns converts the checkpoint in dir to F32 and to Q8_0 and
// has llama.cpp load and run both (llama-bench), when QCONV_LLAMA_CPP is
// set; otherwise it does nothing. general.name is overridden because
// llama.cpp sets Phi-3 token attributes by model name and then needs
// tokens (<|endoftext|>, ...) that the synthetic vocabularies lack.
func checkLlamaCppRuns(t *testing.T, dir string) {
	t.Helper()
	x, ok, err := llamacpp.Lookup()
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return
	}
	name := func(o *Options) {
		o.KVOverrides = append(o.KVOverrides, gguf.KV{Key: "general.name", Value: gguf.String("synthetic")})
	}
	for _, to := range []string{"f32", "q8_0"} {
		x.Runs(t, writeTo(t, dir, to, name))
	}
}

// storiesText is the start of what stories260K generates greedily from
// "Once upon a time" (../shared/fixtures/README.md).
const storiesText = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."

// TestLlamaCppStories260k has llama.cpp generate from the original
// stories260K weights (the GGUF v1 file, which llama.cpp no longer reads,
// rewritten by qconv as F32 GGUF v3), from the Hugging Face checkpoint
// converted to F32 and from the BF16 sharded checkpoint converted to Q8_0
// (ffn_down F16 by the shape fallback): the same greedy text from all
// three, and the text the fixture's README gives.
func TestLlamaCppStories260k(t *testing.T) {
	x := llamacpp.Find(t)
	orig := writeTo(t, sharedfiles.Path(t, "fixtures", "gguf-stories260k", "tinyllamas-stories-260k-f32.gguf"), "f32", nil)
	want := x.Generate(t, orig, "Once upon a time", 60)
	if !strings.HasPrefix(strings.TrimSpace(want), storiesText) {
		t.Fatalf("the original weights generate %q, want it to start with %q", want, storiesText)
	}
	for _, c := range []struct{ dir, to string }{{"hf-stories260k", "f32"}, {"hf-stories260k-bf16-sharded", "q8_0"}} {
		got := x.Generate(t, writeTo(t, sharedfiles.Path(t, "fixtures", c.dir), c.to, nil), "Once upon a time", 60)
		// llama-completion does not always flush its last bytes into a
		// pipe, so the texts are compared as far as both go.
		n := min(len(got), len(want))
		if n < len(storiesText) || got[:n] != want[:n] {
			t.Errorf("%s as %s generates\n%q\nwant (as the original)\n%q", c.dir, c.to, got, want)
		}
	}
}

// TestLlamaCppGPT2 has llama.cpp load and run the GPT-2 fixture (random
// weights, so the text itself means nothing) converted to F32 and Q8_0,
// and tokenize and generate from a prompt with its BPE vocabulary.
func TestLlamaCppGPT2(t *testing.T) {
	x := llamacpp.Find(t)
	in := sharedfiles.Path(t, "fixtures", "hf-gpt2-tiny")
	for _, to := range []string{"f32", "q8_0"} {
		out := writeTo(t, in, to, nil)
		x.Runs(t, out)
		if got := x.Generate(t, out, "Hello world", 4); !strings.HasPrefix(got, "Hello world") {
			t.Errorf("%s: llama.cpp echoes the prompt as %q", to, got)
		}
	}
}

// writeImatrixDat writes a legacy .dat importance matrix with positive
// random values for every 2-D weight of f except the token embedding.
func writeImatrixDat(t *testing.T, f *gguf.File, path string) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 5))
	var entries [][]byte
	for _, ti := range f.Tensors() {
		if len(ti.Dims) != 2 || ti.Name == "token_embd.weight" {
			continue
		}
		var e []byte
		e = binary.LittleEndian.AppendUint32(e, uint32(len(ti.Name)))
		e = append(e, ti.Name...)
		e = binary.LittleEndian.AppendUint32(e, 4) // ncall
		e = binary.LittleEndian.AppendUint32(e, uint32(ti.Dims[0]))
		for range ti.Dims[0] {
			e = binary.LittleEndian.AppendUint32(e, math.Float32bits(float32(0.01+40*r.Float64())))
		}
		entries = append(entries, e)
	}
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(entries)))
	b = append(b, bytes.Join(entries, nil)...)
	b = binary.LittleEndian.AppendUint32(b, 4) // last call
	b = binary.LittleEndian.AppendUint32(b, 5)
	b = append(b, "synth"...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLlamaQuantizeByteIdentical quantizes the demo model (F16, rows of
// 256 and 768, so every type applies without fallbacks) with llama-quantize
// and with qconv, for every file type both have, with and without an
// importance matrix, and wants the two files identical byte for byte:
// header, metadata, tensor order, types, padding and data.
func TestLlamaQuantizeByteIdentical(t *testing.T) {
	x := llamacpp.Find(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "tiny-f16.gguf")
	if err := synth.Tiny().WriteFile(t.Context(), in, false); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	imPath := filepath.Join(dir, "tiny.imatrix.dat")
	writeImatrixDat(t, f, imPath)
	im, err := quantize.ReadImatrix(imPath)
	if err != nil {
		t.Fatal(err)
	}

	plain := []string{"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL", "IQ4_XS",
		"Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "TQ1_0", "TQ2_0"}
	withImatrix := []string{"Q2_K_S", "Q2_K", "Q3_K_M", "Q4_K_M", "Q4_0", "Q5_1", "IQ4_NL", "IQ4_XS", "Q6_K", "Q8_0"}
	check := func(ft string, imatrix bool) {
		ref := filepath.Join(dir, "llama-"+ft+".gguf")
		imArg := ""
		if imatrix {
			imArg = imPath
		}
		x.Quantize(t, in, ref, ft, imArg)
		got := writeTo(t, in, ft, func(o *Options) {
			if imatrix {
				o.Imatrix = im
			}
		})
		a, err := os.ReadFile(ref)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			i := 0
			for i < min(len(a), len(b)) && a[i] == b[i] {
				i++
			}
			t.Errorf("%s (imatrix %v): qconv's file differs from llama-quantize's (%d and %d bytes, first difference at byte %d)",
				ft, imatrix, len(b), len(a), i)
		}
		os.Remove(ref)
		os.Remove(got)
	}
	for _, ft := range plain {
		check(ft, false)
	}
	for _, ft := range withImatrix {
		check(ft, true)
	}
}
