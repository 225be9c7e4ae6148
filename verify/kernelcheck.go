package verify

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/kernels"
)

// Kernel-check tolerances, on the largest error of one output relative to
// the RMS of all outputs of the check: max |y - y_ref| / rms(y_ref).
//
// Each path is compared with a float64 matmul over the dequantized weights
// and exactly the activations that path multiplies: the float32 inputs
// for the float path, and for the quantized path the activations as
// quantized to Q8_0, Q8_1 or Q8_K and expanded again
// (kernels.ActivationValues). What is left is float32 summation order, so
// the bounds are tight and a wrong block, scale or row shows at once.
const (
	// KernelTol bounds both paths, except the quantized path of Q4_1 and
	// Q5_1 (see KernelTolQ8_1). Measured: at most 1.1e-6 for every type on
	// the demo model.
	KernelTol = 1e-4
	// KernelTolQ8_1 bounds the quantized path of Q4_1 and Q5_1, whose
	// Q8_1 activations carry their block sums rounded to fp16 as ggml
	// stores them (a relative error of up to 2^-11 on the min term, which
	// the reference does not model): 3.4e-3 measured on the demo model.
	KernelTolQ8_1 = 1e-2
	// kernelSampleRows is the number of rows checked when Options.Sample
	// does not say.
	kernelSampleRows = 64
	kernelBatch      = 8
)

// KernelCheck is a KernelChecker that runs the packed matmul kernels of
// package kernels on a seeded sample of a tensor's rows, at the best tier
// this CPU has and in pure Go, for one and for eight activation rows, and
// compares each result with a float64 matmul over the dequantized rows.
type KernelCheck struct {
	// Tiers to run; nil means kernels.Best() and kernels.TierGo.
	Tiers []kernels.Tier
	// Threads per matmul; <= 0 means 1 (verify already runs tensors in
	// parallel).
	Threads int
}

var _ KernelChecker = KernelCheck{}

// CheckKernel implements KernelChecker.
func (k KernelCheck) CheckKernel(ctx context.Context, in KernelInput) (*KernelResult, error) {
	if len(in.Dims) < 2 || in.Dims[0] == 0 {
		return &KernelResult{Kernel: "matmul", Skipped: "not a matrix"}, nil
	}
	if !kernels.Supported(in.Type) {
		return &KernelResult{Kernel: "matmul", Skipped: "no kernel for " + in.Type.String()}, nil
	}
	cols := in.Dims[0]
	rows := int64(1)
	for _, d := range in.Dims[1:] {
		rows *= d
	}
	rowBytes, err := in.Type.RowBytes(cols)
	if err != nil {
		return nil, err
	}
	n := in.Sample
	if n <= 0 {
		n = kernelSampleRows
	}
	var sample []int64 // the rows checked, in matrix order
	var packed []byte  // their stored bytes, in in.Layout
	if R := int64(in.Layout.TileRows()); R != 0 {
		sample, packed = sampleTiles(in, rows, rowBytes, R, n)
	} else {
		sample = SampleRows(in.Name, rows, n)
		packed = make([]byte, 0, int64(len(sample))*rowBytes)
		for _, r := range sample {
			packed = append(packed, in.Data[r*rowBytes:(r+1)*rowBytes]...)
		}
	}
	// Dequantize the sampled rows: the reference weights.
	w := make([]float32, int64(len(sample))*cols)
	for i, r := range sample {
		if err := in.Dequantize(r, 1, w[int64(i)*cols:int64(i+1)*cols]); err != nil {
			return nil, err
		}
	}
	m := &kernels.Matrix{Type: in.Type, Rows: len(sample), Cols: int(cols), Layout: in.Layout, Data: packed}

	// Seeded activations: N(0,1), the same for every run.
	rng := rand.New(rand.NewPCG(0x71636f6e76, uint64(len(in.Name))))
	x := make([]float32, kernelBatch*int(cols))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	type path struct {
		act kernels.Activations
		ref []float64
		tol float64
	}
	paths := []path{{act: kernels.ActFloat, ref: referenceMatMul(w, x, len(sample), int(cols), kernelBatch), tol: KernelTol}}
	if ti, _ := in.Type.Info(); ti.Quantized {
		xq := kernels.ActivationValues(in.Type, x, kernelBatch, int(cols))
		tol := KernelTol
		if in.Type == gguf.TypeQ4_1 || in.Type == gguf.TypeQ5_1 {
			tol = KernelTolQ8_1
		}
		paths = append(paths, path{act: kernels.ActQuantized, ref: referenceMatMul(w, xq, len(sample), int(cols), kernelBatch), tol: tol})
	}
	tiers := k.Tiers
	if tiers == nil {
		tiers = []kernels.Tier{kernels.Best()}
		if kernels.Best() != kernels.TierGo {
			tiers = append(tiers, kernels.TierGo)
		}
	}
	threads := max(k.Threads, 1)
	// The result reports the check closest to (or furthest past) its
	// tolerance, as a fraction of that tolerance times the tolerance of
	// the quantized path, so one threshold applies.
	worstRatio, worstErr, worstTol := -1.0, 0.0, KernelTol
	var names []string
	y := make([]float32, kernelBatch*len(sample))
	for _, tier := range tiers {
		names = append(names, tier.String())
		for _, p := range paths {
			for _, b := range []int{1, kernelBatch} {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				yb := y[:b*len(sample)]
				kernels.MatMul(yb, x[:b*int(cols)], b, m, kernels.Options{Threads: threads, Tier: tier, Activations: p.act})
				e := relMaxError(yb, p.ref[:b*len(sample)])
				if r := e / p.tol; !(r <= worstRatio) {
					worstRatio, worstErr, worstTol = r, e, p.tol
				}
			}
		}
	}
	layout := ""
	if in.Layout != kernels.RowMajor {
		layout = in.Layout.String() + ", "
	}
	return &KernelResult{
		Kernel:      fmt.Sprintf("%s, %sfloat and quantized activations, b=1,%d, %d rows", strings.Join(names, "+"), layout, kernelBatch, len(sample)),
		RelError:    Float(worstErr),
		MaxRelError: Float(worstTol),
	}, nil
}

// relMaxError is max |y - ref| / rms(ref); NaN when y holds a NaN.
func relMaxError(y []float32, ref []float64) float64 {
	var ss, worst float64
	for i, r := range ref {
		ss += r * r
		d := math.Abs(float64(y[i]) - r)
		if !(d <= worst) {
			worst = d
		}
	}
	rms := math.Sqrt(ss / float64(max(len(ref), 1)))
	if rms == 0 {
		return worst
	}
	return worst / rms
}

// referenceMatMul computes y = x * w^T in float64 (w is n x k, x is b x k).
func referenceMatMul(w, x []float32, n, k, b int) []float64 {
	ref := make([]float64, b*n)
	for bi := 0; bi < b; bi++ {
		xr := x[bi*k : (bi+1)*k]
		for r := 0; r < n; r++ {
			wr := w[r*k : (r+1)*k]
			var s float64
			for i, v := range wr {
				s += float64(v) * float64(xr[i])
			}
			ref[bi*n+r] = s
		}
	}
	return ref
}

// sampleTiles picks about n rows of a block-major tensor as whole tiles
// (seeded, as SampleRows), plus the row-major tail rows of its first slice
// when slices have one, and returns the rows in order and their stored
// bytes: a smaller block-major matrix of the same layout, so the check
// runs the block-major kernels on the file's own bytes.
func sampleTiles(in KernelInput, rows, rowBytes, R, n int64) ([]int64, []byte) {
	sr := max(in.SliceRows, 1)
	perSlice := sr / R
	tiles := rows / sr * perSlice
	var sample []int64
	var packed []byte
	if tiles > 0 {
		for _, t := range SampleRows(in.Name, tiles, max((n+R-1)/R, 1)) {
			r0 := t/perSlice*sr + t%perSlice*R
			for r := r0; r < r0+R; r++ {
				sample = append(sample, r)
			}
			packed = append(packed, in.Data[r0*rowBytes:(r0+R)*rowBytes]...)
		}
	}
	for r := perSlice * R; r < sr && r < rows; r++ {
		sample = append(sample, r)
		packed = append(packed, in.Data[r*rowBytes:(r+1)*rowBytes]...)
	}
	return sample, packed
}
