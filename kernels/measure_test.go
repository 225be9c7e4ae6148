package kernels

import (
	"context"
	"testing"

	"github.com/qconv/qconv/gguf"
)

func TestMeasure(t *testing.T) {
	recs, err := Measure(context.Background(), MeasureConfig{
		Types: []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeF16}, Rows: 64, Cols: 512,
		Batches: []int{1, 3}, Threads: 2,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := 3 * 2 * len(Tiers()) // types x batches x available tiers
	if len(recs) != want {
		t.Fatalf("%d records, want %d", len(recs), want)
	}
	for _, r := range recs {
		if r.Seconds <= 0 || r.GFLOPS <= 0 || r.Layout != "row-major" || r.Cols != 512 {
			t.Errorf("record %+v", r)
		}
		// Quantized activations round to 8 bits: about 1 % of the output
		// RMS at most; float weights match to float32 rounding.
		limit := 0.03
		if r.Type == "f16" {
			limit = 1e-4
		}
		if !(r.MaxRelErr <= limit) {
			t.Errorf("%s/%s/b=%d: max_rel_err %g > %g", r.Type, r.Tier, r.Batch, r.MaxRelErr, limit)
		}
	}
	if _, err := Measure(context.Background(), MeasureConfig{Rows: 4, Cols: 100, Batches: []int{1}}, nil); err == nil {
		t.Error("cols < 256 accepted")
	}
}
