package quantize

import (
	"bytes"
	"os"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/sharedfiles"
)

// TestStoriesQ8_0 re-quantizes the real F32 stories260K weights to Q8_0 and
// finds every resulting tensor, byte for byte, in the Q8_0 file llama.cpp
// made from the same weights. That file's ffn_down tensors have rows of
// 172 (not a multiple of 32), which readers reject, so the comparison is
// on each tensor's flat element order, as the 2023 converter quantized it,
// and locates the bytes in the raw file rather than through a reader.
func TestStoriesQ8_0(t *testing.T) {
	f32Path := sharedfiles.Path(t, "fixtures", "gguf-stories260k", "tinyllamas-stories-260k-f32.gguf")
	q8Path := sharedfiles.Path(t, "fixtures", "gguf-stories260k", "tinyllamas-stories-260k-q8_0.gguf")
	src, err := gguf.Open(f32Path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	raw, err := os.ReadFile(q8Path)
	if err != nil {
		t.Fatal(err)
	}
	matched, blocks := 0, 0
	for i, ti := range src.Tensors() {
		if len(ti.Dims) < 2 {
			continue // norms stay F32 in the Q8_0 file
		}
		n := int(ti.NElements())
		vals := make([]float32, n)
		if err := Dequantize(gguf.TypeF32, vals, src.TensorData(i)); err != nil {
			t.Fatal(err)
		}
		q := make([]byte, n/32*34)
		if err := Quantize(gguf.TypeQ8_0, q, vals, n, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(raw, q) {
			t.Errorf("%s: our Q8_0 bytes are not in llama.cpp's file", ti.Name)
			continue
		}
		matched++
		blocks += n / 32
	}
	if matched != 37 || blocks != 9128 {
		t.Errorf("matched %d tensors, %d blocks; the file has 37 Q8_0 tensors, 9128 blocks", matched, blocks)
	}
}
