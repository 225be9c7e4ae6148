// Package verify checks a GGUF file's tensors: that every tensor
// dequantizes to finite values with finite block scales and, given the
// source it was made from, that each tensor's error against the source is
// within a per-type threshold of relative RMSE (docs/verify.md).
//
// Verification is read-only and deterministic: tensors are checked
// concurrently, but the report lists them in file order and its metrics do
// not depend on the number of workers. Rows are streamed in chunks, so
// memory stays bounded by a few chunk buffers per worker whatever the
// tensor size; every sum is accumulated in float64. The package holds no
// mutable global state.
package verify

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/qconv/qconv/convert"
	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/kernels"
	"github.com/qconv/qconv/quantize"
)

// DefaultChunkElems is the number of values decoded at a time per worker
// when Options.ChunkElems is zero (at least one row).
const DefaultChunkElems = 1 << 16

// Options configures Run.
type Options struct {
	// Source is the model the file was made from; nil checks the file on
	// its own (finite values and scales only). Tensors are matched by name
	// as they are.
	Source *convert.Source
	// Thresholds are the maximum relative RMSE per type; nil means
	// DefaultThresholds(). Types without an entry get FallbackThreshold.
	Thresholds Thresholds
	// Sample, when positive, checks only Sample rows of tensors with more
	// rows than that, chosen by SampleRows; 0 checks every row.
	Sample int64
	// Jobs is the number of tensors checked at once; <= 0 means
	// runtime.GOMAXPROCS(0).
	Jobs int
	// ChunkElems is the number of values decoded at a time per worker;
	// <= 0 means DefaultChunkElems.
	ChunkElems int
	// Kernel, when set, is called for each tensor that dequantizes cleanly
	// and can check the packed matmul kernels against the dequantized
	// reference; nil runs no kernel checks.
	Kernel KernelChecker
}

// KernelInput is what a KernelChecker sees of one tensor.
type KernelInput struct {
	Name string
	// Type is the ggml type of the tensor's blocks (the base type of a
	// block-major tensor).
	Type gguf.Type
	// Layout is how the blocks are arranged in Data; a block-major tensor
	// is tiled in 2-D slices of SliceRows rows (Dims[1]).
	Layout    kernels.Layout
	SliceRows int64
	Dims      []int64 // ggml order
	// Data is the tensor's stored bytes, a read-only view of the file.
	Data []byte
	// Sample is Options.Sample, so a check can bound its work the same way.
	Sample int64
	// Dequantize decodes rows [row0, row0+n) of the tensor with the
	// reference dequantizer into dst (len n*Dims[0]).
	Dequantize func(row0, n int64, dst []float32) error
	// Source is the matching source tensor, nil without a source.
	Source *convert.Tensor
}

// KernelResult is the outcome of a kernel check on one tensor. The tensor
// fails when Skipped is empty and RelError is not <= MaxRelError.
type KernelResult struct {
	Kernel      string `json:"kernel"`            // the implementation checked, e.g. "avx2"
	RelError    Float  `json:"rel_error"`         // e.g. ‖y_kernel - y_ref‖ / ‖y_ref‖
	MaxRelError Float  `json:"max_rel_error"`     // the threshold applied
	Skipped     string `json:"skipped,omitempty"` // why no check ran, "" when one did
}

// KernelChecker checks the packed kernels on one tensor. An error aborts
// Run; a failed check is reported through the result.
type KernelChecker interface {
	CheckKernel(ctx context.Context, in KernelInput) (*KernelResult, error)
}

// KernelCheckerFunc adapts a function to KernelChecker.
type KernelCheckerFunc func(ctx context.Context, in KernelInput) (*KernelResult, error)

// CheckKernel calls f.
func (f KernelCheckerFunc) CheckKernel(ctx context.Context, in KernelInput) (*KernelResult, error) {
	return f(ctx, in)
}

// Run verifies every tensor of f (and, with a source, reports source
// tensors missing from f). The error is non-nil only when verification
// could not finish (cancellation, a kernel checker's error); failed checks
// are in the report.
func Run(ctx context.Context, f *gguf.File, opts Options) (*Report, error) {
	if opts.Thresholds == nil {
		opts.Thresholds = DefaultThresholds()
	}
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.GOMAXPROCS(0)
	}
	if opts.ChunkElems <= 0 {
		opts.ChunkElems = DefaultChunkElems
	}
	rep := &Report{File: f.Name(), SampleRows: max(opts.Sample, 0)}
	var src map[string]*convert.Tensor
	if opts.Source != nil {
		rep.Against = opts.Source.Path
		rep.Thresholds = make(map[string]Float, len(opts.Thresholds))
		for t, v := range opts.Thresholds {
			rep.Thresholds[t.String()] = Float(v)
		}
		rep.FallbackThreshold = new(Float(FallbackThreshold))
		src = make(map[string]*convert.Tensor, len(opts.Source.Tensors))
		for _, t := range opts.Source.Tensors {
			src[t.Name] = t
		}
	}
	infos := f.Tensors()
	results := make([]TensorResult, len(infos))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Jobs)
	for i := range infos {
		g.Go(func() error {
			c := &checker{opts: &opts, info: infos[i], data: f.TensorData(i), against: opts.Source != nil, releaseFile: f.Release}
			if c.against {
				c.src = src[infos[i].Name]
			}
			r, err := c.run(gctx)
			results[i] = r
			// Done with both sides: their mapped pages leave the resident
			// set, which stays bounded by the tensors in flight.
			f.Release(c.data)
			if c.src != nil {
				opts.Source.Release(c.src, 0, -1)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	rep.Tensors = results
	if opts.Source != nil {
		for _, t := range opts.Source.Tensors {
			if _, ok := f.Tensor(t.Name); !ok {
				r := TensorResult{Name: t.Name, SourceType: t.DType, SourceDims: t.Dims, Rows: t.Rows()}
				r.fail(Failure{Metric: MetricMissing, Message: "in the source but not in the file"})
				rep.Tensors = append(rep.Tensors, r)
			}
		}
	}
	rep.summarize()
	return rep, nil
}

// checker verifies one tensor.
type checker struct {
	opts    *Options
	info    gguf.TensorInfo
	data    []byte
	against bool
	src     *convert.Tensor // nil when !against or the source lacks it
	// releaseFile drops mapped pages of the file from the resident set
	// (gguf.File.Release); nil does nothing.
	releaseFile func([]byte)
}

// releaseBytes is how many bytes of checked rows a checker reads before it
// hands their pages back.
const releaseBytes = 8 << 20

// releaseRows hands the mapped pages of checked rows [row0, row0+n) of the
// file (row-major tensors) and of the source back to the kernel, so that
// verify's resident memory stays bounded by the rows in flight rather than
// by the models' sizes. Whole tensors are released when their check ends.
func (c *checker) releaseRows(row0, n, rowBytes int64, layout kernels.Layout) {
	if c.releaseFile != nil && layout == kernels.RowMajor {
		c.releaseFile(c.data[row0*rowBytes : (row0+n)*rowBytes])
	}
	if c.src != nil {
		c.opts.Source.Release(c.src, row0, n)
	}
}

// span is a run of consecutive rows.
type span struct{ row0, n int64 }

// spans splits the rows to check into runs of at most chunk rows.
func spans(name string, rows, sample, chunk int64) []span {
	var out []span
	if sample <= 0 || sample >= rows {
		for r := int64(0); r < rows; r += chunk {
			out = append(out, span{r, min(chunk, rows-r)})
		}
		return out
	}
	for _, r := range SampleRows(name, rows, sample) {
		if k := len(out) - 1; k >= 0 && out[k].row0+out[k].n == r && out[k].n < chunk {
			out[k].n++
			continue
		}
		out = append(out, span{r, 1})
	}
	return out
}

func (c *checker) run(ctx context.Context) (TensorResult, error) {
	ti := c.info
	rowLen := int64(1)
	if len(ti.Dims) > 0 {
		rowLen = ti.Dims[0]
	}
	var rows int64
	if rowLen > 0 {
		rows = ti.NElements() / rowLen
	}
	r := TensorResult{Name: ti.Name, Type: ti.Type.String(), Dims: ti.Dims, Rows: rows}
	if c.against {
		if c.src == nil {
			r.fail(Failure{Metric: MetricExtra, Message: "in the file but not in the source"})
			return r, nil
		}
		r.SourceType, r.SourceDims = c.src.DType, c.src.Dims
		if !slices.Equal(ti.Dims, c.src.Dims) {
			r.fail(Failure{Metric: MetricShape, Message: fmt.Sprintf("dims %v differ from the source's %v", ti.Dims, c.src.Dims)})
			return r, nil
		}
	}
	// A block-major tensor (docs/layouts.md) is read through its tiles:
	// typ is the ggml type of its blocks, layout its tile arrangement.
	typ, layout, sliceRows := ti.Type, kernels.RowMajor, max(rows, 1)
	if base, tile, ok := ti.Type.Tiled(); ok {
		if !kernels.Tileable(base) {
			r.skip("unknown block-major type " + ti.Type.String())
			return r, nil
		}
		typ, layout = base, kernels.BlockMajor(tile)
		if len(ti.Dims) >= 2 {
			sliceRows = max(ti.Dims[1], 1)
		}
	}
	tr, ok := quantize.Lookup(typ)
	if !ok || tr.DequantizeRow == nil {
		r.skip("cannot dequantize " + ti.Type.String())
		if bad, first := CheckScales(ti.Type, c.data); bad > 0 {
			r.Stats = &Stats{BadScales: bad, FirstBadBlock: first}
			r.fail(badScales(bad, first))
		}
		return r, nil
	}
	if c.src != nil && !c.src.Decodable() {
		r.skip(fmt.Sprintf("cannot decode the source's %s", c.src.DType))
		return r, nil
	}
	rowBytes, err := typ.RowBytes(rowLen)
	if err != nil { // gguf validated the shape; unreachable for a parsed file
		r.fail(Failure{Metric: MetricRead, Message: err.Error()})
		return r, nil
	}
	// rowMajor returns the stored bytes of rows [row0, row0+n) in
	// row-major order: a view for a row-major tensor.
	rowMajor := func(row0, n int64) []byte {
		if layout == kernels.RowMajor {
			return c.data[row0*rowBytes : (row0+n)*rowBytes]
		}
		return kernels.UnpackRows(c.data, typ, int(rowLen), int(sliceRows), layout, int(row0), int(n))
	}
	blocksPerRow := rowLen / int64(tr.BlockSize)
	chunk := max(int64(c.opts.ChunkElems)/max(rowLen, 1), 1)
	got := make([]float32, chunk*rowLen)
	var want []float32
	if c.src != nil {
		want = make([]float32, chunk*rowLen)
	}
	var acc Accumulator
	var st statsAcc
	released := int64(0) // rows before this one have been released
	var bad int64
	first := int64(-1)
	for _, sp := range spans(ti.Name, rows, c.opts.Sample, chunk) {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		raw := rowMajor(sp.row0, sp.n)
		if b, f := CheckScales(typ, raw); b > 0 {
			if first < 0 {
				first = sp.row0*blocksPerRow + f
			}
			bad += b
		}
		g := got[:sp.n*rowLen]
		tr.DequantizeRow(g, raw)
		st.add(g)
		if c.src != nil {
			w := want[:sp.n*rowLen]
			if err := c.src.ReadRows(sp.row0, sp.n, w); err != nil {
				r.fail(Failure{Metric: MetricRead, Message: "reading the source: " + err.Error()})
				return r, nil
			}
			acc.Add(w, g)
		}
		r.RowsChecked += sp.n
		// Hand back what was read in batches of releaseBytes (one
		// madvise per span would cost more than the reading).
		if c.opts.Sample <= 0 && (sp.row0+sp.n-released)*rowBytes >= releaseBytes {
			c.releaseRows(released, sp.row0+sp.n-released, rowBytes, layout)
			released = sp.row0 + sp.n
		}
	}
	stats := st.stats()
	stats.BadScales, stats.FirstBadBlock = bad, first
	r.Stats = &stats
	if bad > 0 {
		r.fail(badScales(bad, first))
	}
	if c.against {
		cmp := acc.Comparison()
		r.Compare = &cmp
		limit := c.opts.Thresholds.For(typ)
		r.Threshold = new(Float(limit))
		r.Ratio = new(ratio(float64(cmp.RelRMSE), limit))
		if cmp.NonFinite > 0 {
			r.fail(Failure{Metric: MetricNonFinite, Value: new(Float(cmp.NonFinite)), Limit: new(Float(0)),
				Message: fmt.Sprintf("%s where the source is finite", plural(cmp.NonFinite, "non-finite value"))})
		}
		if !(float64(cmp.RelRMSE) <= limit) {
			r.fail(Failure{Metric: MetricRelRMSE, Value: new(cmp.RelRMSE), Limit: new(Float(limit)),
				Message: fmt.Sprintf("rel_rmse %s exceeds %s (%s)", cmp.RelRMSE, Float(limit), typ)})
		}
	} else if stats.NonFinite > 0 {
		r.fail(Failure{Metric: MetricNonFinite, Value: new(Float(stats.NonFinite)), Limit: new(Float(0)),
			Message: plural(stats.NonFinite, "non-finite value")})
	}
	if c.opts.Kernel != nil && r.Status != StatusFail {
		in := KernelInput{Name: ti.Name, Type: typ, Layout: layout, SliceRows: sliceRows, Dims: ti.Dims, Data: c.data,
			Sample: c.opts.Sample, Source: c.src,
			Dequantize: func(row0, n int64, dst []float32) error {
				if row0 < 0 || n < 0 || row0+n > rows || int64(len(dst)) != n*rowLen {
					return errors.New("verify: rows out of range or wrong buffer length")
				}
				tr.DequantizeRow(dst, rowMajor(row0, n))
				return nil
			}}
		kr, err := c.opts.Kernel.CheckKernel(ctx, in)
		if err != nil {
			return r, fmt.Errorf("verify: kernel check of tensor %q: %w", ti.Name, err)
		}
		r.Kernel = kr
		if kr != nil && kr.Skipped == "" && !(kr.RelError <= kr.MaxRelError) {
			r.fail(Failure{Metric: MetricKernel, Value: new(kr.RelError), Limit: new(kr.MaxRelError),
				Message: fmt.Sprintf("kernel %s rel_error %s exceeds %s", kr.Kernel, kr.RelError, kr.MaxRelError)})
		}
	}
	return r, nil
}

func badScales(bad, first int64) Failure {
	return Failure{Metric: MetricBadScales, Value: new(Float(bad)), Limit: new(Float(0)),
		Message: fmt.Sprintf("%s with a non-finite scale (first: block %d)", plural(bad, "block"), first)}
}

// plural formats "1 block", "2 blocks".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// ratio is relRMSE/limit, with 0/0 = 0 and x/0 = +Inf.
func ratio(rel, limit float64) Float {
	switch {
	case limit > 0:
		return Float(rel / limit)
	case rel == 0:
		return 0
	}
	return Float(rel / limit) // +Inf, or NaN for a NaN rel
}
