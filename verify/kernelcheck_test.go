package verify

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/quantize"
)

// kernelInput quantizes a seeded rows x cols matrix to t.
func kernelInput(t *testing.T, typ gguf.Type, rows, cols int) KernelInput {
	t.Helper()
	tr, ok := quantize.Lookup(typ)
	if !ok {
		t.Fatalf("no traits for %s", typ)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, rows*cols)
	for i := range src {
		src[i] = float32(rng.NormFloat64() * 0.02)
	}
	data := make([]byte, rows*tr.RowBytes(cols))
	if err := quantize.Quantize(typ, data, src, cols, nil); err != nil {
		t.Fatal(err)
	}
	rb := int64(tr.RowBytes(cols))
	return KernelInput{Name: "w", Type: typ, Dims: []int64{int64(cols), int64(rows)}, Data: data,
		Dequantize: func(row0, n int64, dst []float32) error {
			tr.DequantizeRow(dst, data[row0*rb:(row0+n)*rb])
			return nil
		}}
}

func TestKernelCheck(t *testing.T) {
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_1, gguf.TypeQ4_K, gguf.TypeQ6_K, gguf.TypeF16, gguf.TypeTQ2_0} {
		in := kernelInput(t, typ, 100, 512)
		r, err := KernelCheck{}.CheckKernel(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if r.Skipped != "" || !(r.RelError <= r.MaxRelError) {
			t.Errorf("%s: %+v", typ, r)
		}
	}
}

// TestKernelCheckCatchesMismatch feeds a reference that disagrees with the
// packed bytes by 2% on one row, as a broken kernel would: the check fails.
func TestKernelCheckCatchesMismatch(t *testing.T) {
	in := kernelInput(t, gguf.TypeQ8_0, 40, 256)
	deq := in.Dequantize
	in.Dequantize = func(row0, n int64, dst []float32) error {
		if err := deq(row0, n, dst); err != nil {
			return err
		}
		if row0 == 7 {
			for i := range dst {
				dst[i] *= 1.02
			}
		}
		return nil
	}
	r, err := KernelCheck{}.CheckKernel(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if r.RelError <= r.MaxRelError {
		t.Fatalf("a 2%% error in one row passed: %+v", r)
	}
}

func TestKernelCheckSkips(t *testing.T) {
	in := kernelInput(t, gguf.TypeQ8_0, 1, 64)
	in.Dims = []int64{64}
	if r, _ := (KernelCheck{}).CheckKernel(context.Background(), in); r.Skipped == "" {
		t.Error("1-D tensor not skipped")
	}
}
