package kernels

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/quantize"
)

// MeasureConfig describes a kernel measurement (qconv bench kernels).
type MeasureConfig struct {
	Types   []gguf.Type // nil: every supported type
	Tiers   []Tier      // nil: every available tier
	Rows    int         // N, output rows of W
	Cols    int         // K; rounded down to a multiple of 256 for every type
	Batches []int       // activation rows B per multiplication
	// Layouts to measure; nil means RowMajor only. Block-major layouts
	// apply to the types that have one (Tileable) and are skipped for the
	// others.
	Layouts []Layout
	Threads int
	// MinTime is how long each (type, tier, batch) is repeated at least;
	// the median over the repetitions is reported.
	MinTime time.Duration
}

// Record is one measured (type, layout, tier, batch).
type Record struct {
	Type       string  `json:"type"`
	Layout     string  `json:"layout"`
	Tier       string  `json:"tier"`
	Rows       int     `json:"rows"`
	Cols       int     `json:"cols"`
	Batch      int     `json:"batch"`
	Threads    int     `json:"threads"`
	Seconds    float64 `json:"seconds"` // median of the repetitions
	GFLOPS     float64 `json:"gflops"`  // 2·rows·cols·batch / seconds
	WeightGBps float64 `json:"weight_gbps"`
	// MaxRelErr is max |y - y_ref| / rms(y_ref) over the outputs, y_ref a
	// float64 matmul over the dequantized weights and the float32
	// activations (so quantized-activation paths show their rounding).
	MaxRelErr float64 `json:"max_rel_err"`
}

// Measure times MatMul for every configured type, tier and batch on
// seeded N(0, 0.02) weights quantized by package quantize and N(0, 1)
// activations. progress, when set, is called after each record.
func Measure(ctx context.Context, c MeasureConfig, progress func(Record)) ([]Record, error) {
	types := c.Types
	if types == nil {
		for _, t := range gguf.Types() {
			if Supported(t) {
				types = append(types, t)
			}
		}
	}
	tiers := c.Tiers
	if tiers == nil {
		tiers = Tiers()
	}
	k := c.Cols / 256 * 256
	if c.Rows < 1 || k < 256 || len(c.Batches) == 0 {
		return nil, fmt.Errorf("kernels: need rows >= 1, cols >= 256 and at least one batch size")
	}
	maxB := slices.Max(c.Batches)
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, maxB*k)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	src := make([]float32, c.Rows*k)
	for i := range src {
		src[i] = float32(0.02 * rng.NormFloat64())
	}
	var out []Record
	for _, t := range types {
		if !Supported(t) {
			return nil, fmt.Errorf("kernels: no kernel for %s", t)
		}
		tr, ok := quantize.Lookup(t)
		if !ok || !tr.CanQuantize() {
			return nil, fmt.Errorf("kernels: cannot make %s weights", t)
		}
		data := make([]byte, c.Rows*tr.RowBytes(k))
		if err := quantize.Quantize(t, data, src, k, nil); err != nil {
			return nil, err
		}
		w := make([]float32, len(src))
		if err := quantize.Dequantize(t, w, data); err != nil {
			return nil, err
		}
		layouts := c.Layouts
		if layouts == nil {
			layouts = []Layout{RowMajor}
		}
		var mats []*Matrix
		for _, l := range layouts {
			switch {
			case l == RowMajor:
				mats = append(mats, &Matrix{Type: t, Rows: c.Rows, Cols: k, Data: data})
			case Tileable(t):
				bm := &Matrix{Type: t, Rows: c.Rows, Cols: k, Layout: l, Data: make([]byte, len(data))}
				Pack(bm.Data, data, t, c.Rows, k, l)
				mats = append(mats, bm)
			}
		}
		for _, b := range c.Batches {
			ref := make([]float64, b*c.Rows)
			for bi := 0; bi < b; bi++ {
				for r := 0; r < c.Rows; r++ {
					var s float64
					for i, v := range w[r*k : (r+1)*k] {
						s += float64(v) * float64(x[bi*k+i])
					}
					ref[bi*c.Rows+r] = s
				}
			}
			for _, tier := range tiers {
				if !tier.Available() {
					continue
				}
				for _, m := range mats {
					if err := ctx.Err(); err != nil {
						return out, err
					}
					rec := measureOne(m, x[:b*k], b, tier, c, ref)
					out = append(out, rec)
					if progress != nil {
						progress(rec)
					}
				}
			}
		}
	}
	return out, nil
}

func measureOne(m *Matrix, x []float32, b int, tier Tier, c MeasureConfig, ref []float64) Record {
	y := make([]float32, b*m.Rows)
	opts := Options{Threads: max(c.Threads, 1), Tier: tier}
	MatMul(y, x, b, m, opts) // warm up, and the result checked below
	var times []float64
	start := time.Now()
	for len(times) < 3 || time.Since(start) < c.MinTime {
		t0 := time.Now()
		MatMul(y, x, b, m, opts)
		times = append(times, time.Since(t0).Seconds())
		if len(times) >= 1000 {
			break
		}
	}
	slices.Sort(times)
	sec := times[len(times)/2]
	var ss, worst float64
	for i, r := range ref {
		ss += r * r
		if d := math.Abs(float64(y[i]) - r); !(d <= worst) {
			worst = d
		}
	}
	if rms := math.Sqrt(ss / float64(len(ref))); rms > 0 {
		worst /= rms
	}
	return Record{
		Type: m.Type.String(), Layout: m.Layout.String(), Tier: tier.String(),
		Rows: m.Rows, Cols: m.Cols, Batch: b, Threads: opts.Threads, Seconds: sec,
		GFLOPS:     2 * float64(m.Rows) * float64(m.Cols) * float64(b) / sec / 1e9,
		WeightGBps: float64(len(m.Data)) / sec / 1e9, MaxRelErr: worst,
	}
}
