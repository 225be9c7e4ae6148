package convert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/atomicfile"
	"github.com/qconv/qconv/quantize"
)

// DefaultMaxMemory bounds the float32 and output buffers in flight.
const DefaultMaxMemory = 1 << 30

// chunkElems is the target number of elements per task: large enough to
// amortise scheduling, small enough that every worker stays busy until the
// end and memory stays bounded.
const chunkElems = 1 << 20

// RunOptions control how a Plan is executed; none of them changes the
// output bytes.
type RunOptions struct {
	Jobs      int   // workers; <= 0 means runtime.GOMAXPROCS(0)
	MaxMemory int64 // bytes of buffers in flight; <= 0 means DefaultMaxMemory
	Force     bool  // overwrite an existing output
	SHA256    bool  // compute the output's sha256 for the report
	// Progress, when set, is called (from worker goroutines, serialised)
	// after each finished piece of work.
	Progress func(Progress)
}

// Progress is a snapshot of a running conversion.
type Progress struct {
	BytesDone, BytesTotal     int64 // input tensor bytes
	TensorsDone, TensorsTotal int
}

// TensorReport describes one written tensor.
type TensorReport struct {
	Name       string  `json:"name"`
	SourceType string  `json:"source_type"`
	TargetType string  `json:"target_type"`
	Shape      []int64 `json:"shape"`
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	Reason     string  `json:"reason,omitempty"`
}

// Report describes a finished conversion.
type Report struct {
	Input         string         `json:"input"`
	Output        string         `json:"output"`
	FileType      string         `json:"file_type"`
	Tensors       []TensorReport `json:"tensors"`
	InputBytes    int64          `json:"input_tensor_bytes"`
	OutputBytes   int64          `json:"output_bytes"`
	Elements      int64          `json:"elements"`
	BitsPerWeight float64        `json:"bits_per_weight"`
	Seconds       float64        `json:"seconds"`
	Jobs          int            `json:"jobs"`
	SHA256        string         `json:"sha256,omitempty"` // single-file output only
	// Outputs are the files written for a split output (Plan.Splits);
	// Output is then the prefix they were named from.
	Outputs []string `json:"outputs,omitempty"`
	// Warnings are the source's non-fatal problems (Source.Warnings).
	Warnings []string `json:"warnings,omitempty"`
}

// SplitOutputNames are the files of an output split in n, named from out
// as llama.cpp names splits: out without its .gguf extension, then
// -00001-of-0000n.gguf and so on.
func SplitOutputNames(out string, n int) []string {
	prefix := strings.TrimSuffix(out, ".gguf")
	names := make([]string, n)
	for i := range names {
		names[i] = SplitPath(prefix, i, n)
	}
	return names
}

// task is one unit of work: rows [row0, row0+rows) of one tensor.
type task struct {
	ti         int
	row0, rows int64
}

// Write executes the plan into the file out: tensors are converted in
// parallel and written to their laid-out offsets in a temporary file that
// is renamed to out only when complete. On any error or cancellation the
// temporary file is removed and out is left as it was.
//
// A split plan (Plan.Splits) writes the files SplitOutputNames(out, n)
// instead, all renamed only once every one is complete.
func (p *Plan) Write(ctx context.Context, out string, ro RunOptions) (*Report, error) {
	start := time.Now()
	jobs := ro.Jobs
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	budget := ro.MaxMemory
	if budget <= 0 {
		budget = DefaultMaxMemory
	}
	names, layouts := []string{out}, []*gguf.Layout{p.Layout}
	if p.Splits != nil {
		names, layouts = SplitOutputNames(out, len(p.Splits)), p.Splits
	}
	files := make([]*atomicfile.File, len(names))
	for i, name := range names {
		f, err := atomicfile.Create(name, atomicfile.Options{Force: ro.Force, Inputs: p.Source.Files})
		if err != nil {
			return nil, err
		}
		defer f.Abort()
		files[i] = f
		if err := f.Reserve(layouts[i].FileSize); err != nil {
			return nil, err
		}
		if err := layouts[i].WriteHeader(io.NewOffsetWriter(f, 0)); err != nil {
			return nil, fmt.Errorf("writing %s: %w", name, err)
		}
	}

	r := &runner{plan: p, files: files, sem: semaphore.NewWeighted(budget), budget: budget, progress: ro.Progress}
	r.nanos = make([]atomic.Int64, len(p.Tensors))
	r.left = make([]atomic.Int64, len(p.Tensors))
	tasks := p.tasks()
	for _, t := range tasks {
		r.left[t.ti].Add(1)
	}
	r.prog.TensorsTotal = len(p.Tensors)
	r.prog.BytesTotal = p.SourceBytes()

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, t := range tasks {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return r.run(gctx, t) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, f := range files {
		if err := f.Commit(); err != nil {
			// Leave no partial set of splits under the output names.
			for _, done := range names[:i] {
				os.Remove(done)
			}
			return nil, err
		}
	}
	rep := p.report(out, jobs, r.nanos)
	if p.Splits != nil {
		rep.Outputs = names
	}
	rep.Seconds = time.Since(start).Seconds()
	if ro.SHA256 && p.Splits == nil {
		sum, err := fileSHA256(out)
		if err != nil {
			return nil, err
		}
		rep.SHA256 = sum
	}
	return rep, nil
}

// tasks splits every tensor into row ranges of about chunkElems elements,
// in output order. The split depends only on the plan, never on the
// number of workers.
func (p *Plan) tasks() []task {
	var ts []task
	for i, pt := range p.Tensors {
		rows, rowLen := pt.Src.Rows(), max(pt.Src.RowLen(), 1)
		per := max(int64(chunkElems)/rowLen, 1)
		if rows == 0 {
			ts = append(ts, task{ti: i})
			continue
		}
		// Tiled input or output: tasks hold whole tiles and never cross a
		// 2-D slice.
		R := int64(max(pt.tileRows(), pt.Src.tile))
		if R == 0 {
			for r0 := int64(0); r0 < rows; r0 += per {
				ts = append(ts, task{ti: i, row0: r0, rows: min(per, rows-r0)})
			}
			continue
		}
		per = max(per/R, 1) * R
		sr := pt.Src.sliceRows()
		for s0 := int64(0); s0 < rows; s0 += sr {
			for r0 := s0; r0 < s0+sr; r0 += per {
				ts = append(ts, task{ti: i, row0: r0, rows: min(per, s0+sr-r0)})
			}
		}
	}
	return ts
}

// tileRows is the tile height of the output tensor, 0 when row-major.
func (pt *PlannedTensor) tileRows() int {
	_, r, _ := pt.Out.Type.Tiled()
	return r
}

type runner struct {
	plan     *Plan
	files    []*atomicfile.File // the output files, indexed by PlannedTensor.File
	sem      *semaphore.Weighted
	budget   int64
	nanos    []atomic.Int64 // per tensor, summed over its tasks
	left     []atomic.Int64 // tasks left per tensor
	mu       sync.Mutex
	prog     Progress
	progress func(Progress)
}

var floatPool = sync.Pool{New: func() any { return new([]float32) }}
var bytePool = sync.Pool{New: func() any { return new([]byte) }}

func (r *runner) run(ctx context.Context, t task) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	pt := &r.plan.Tensors[t.ti]
	src := pt.Src
	inRow := src.rowBytes()
	outRow := int64(0)
	if src.Rows() > 0 {
		outRow = pt.Out.Size / src.Rows()
	}
	off := pt.Out.FileOffset + t.row0*outRow
	var err error
	if !pt.Choice.Quantize && src.storedAs(pt.Out.Type.Base()) {
		// Same type: copy the stored bytes (a view of the mapped file for
		// row-major input), re-tiled when the output is block-major.
		b := src.rawRows(t.row0, t.rows)
		if R := pt.tileRows(); R != 0 {
			n := min(int64(len(b)), r.budget)
			if err := r.sem.Acquire(ctx, n); err != nil {
				return err
			}
			defer r.sem.Release(n)
			tiled, release := pooledBytes(int64(len(b)))
			defer release()
			packRows(tiled, b, src, pt.Out.Type.Base(), R, t.row0, t.rows, outRow)
			b = tiled
		}
		_, err = r.files[pt.File].WriteAt(b, off)
	} else {
		err = r.convert(ctx, pt, t, off, outRow)
	}
	if err != nil {
		return err
	}
	r.nanos[t.ti].Add(int64(time.Since(start)))
	// The task's input is no longer needed: its mapped pages leave the
	// resident set, so memory stays bounded by the work in flight however
	// large the input is (the page cache keeps them for other readers).
	rel := r.plan.Source.release
	src.release(rel, t.row0, t.rows)
	last := r.left[t.ti].Add(-1) == 0
	if last {
		src.release(rel, 0, -1) // reordered rows, pages shared by two tasks
	}
	r.mu.Lock()
	r.prog.BytesDone += t.rows * inRow
	if last {
		r.prog.TensorsDone++
	}
	if r.progress != nil {
		r.progress(r.prog)
	}
	r.mu.Unlock()
	return nil
}

// convert decodes, checks and quantizes one task's rows and writes them.
func (r *runner) convert(ctx context.Context, pt *PlannedTensor, t task, off, outRow int64) error {
	src := pt.Src
	rowLen := src.RowLen()
	nf := t.rows * rowLen
	nb := t.rows * outRow
	need := nf*4 + nb
	if pt.tileRows() != 0 {
		need += nb // the tiled copy
	}
	need = min(need, r.budget)
	if err := r.sem.Acquire(ctx, need); err != nil {
		return err
	}
	defer r.sem.Release(need)

	fp := floatPool.Get().(*[]float32)
	defer floatPool.Put(fp)
	if int64(cap(*fp)) < nf {
		*fp = make([]float32, nf)
	}
	buf := (*fp)[:nf]
	out, release := pooledBytes(nb)
	defer release()

	name := r.plan.Source.Path
	if err := src.ReadRows(t.row0, t.rows, buf); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !r.plan.Options.AllowNonFinite {
		if i := firstNonFinite(buf); i >= 0 {
			row := t.row0 + int64(i)/rowLen
			return fmt.Errorf("%s: tensor %q: row %d holds %v at column %d (use --allow-non-finite to convert anyway)", name, src.Name, row, buf[i], int64(i)%rowLen)
		}
	}
	typ := pt.Out.Type.Base()
	tr, ok := quantize.Lookup(typ)
	if !ok || tr.QuantizeRow == nil {
		return fmt.Errorf("%s: tensor %q: cannot write type %s", name, src.Name, pt.Out.Type)
	}
	var im []float32
	if tr.Imatrix != quantize.ImatrixIgnored {
		im = pt.Imatrix
	}
	// A 3-D tensor holds one 2-D matrix per expert, each with its own
	// slice of the importance vector.
	perExpert := int64(1)
	if len(src.Dims) >= 2 && src.Dims[1] > 0 {
		perExpert = src.Dims[1]
	}
	for i := int64(0); i < t.rows; i++ {
		var rowIm []float32
		if im != nil {
			e := (t.row0 + i) / perExpert
			if (e+1)*rowLen <= int64(len(im)) {
				rowIm = im[e*rowLen : (e+1)*rowLen]
			}
		}
		tr.QuantizeRow(out[i*outRow:(i+1)*outRow], buf[i*rowLen:(i+1)*rowLen], rowIm)
	}
	if R := pt.tileRows(); R != 0 {
		tiled, release := pooledBytes(nb)
		defer release()
		packRows(tiled, out, src, typ, R, t.row0, t.rows, outRow)
		out = tiled
	}
	if _, err := r.files[pt.File].WriteAt(out, off); err != nil {
		return fmt.Errorf("writing %s: %w", r.files[pt.File].Final(), err)
	}
	return nil
}

// storedAs reports whether the tensor's stored bytes are already in type ty.
func (t *Tensor) storedAs(ty gguf.Type) bool {
	if t.Type != ty {
		return false
	}
	if t.stDT == 0 {
		return true
	}
	kt, ok := keepTypes[t.stDT]
	return ok && kt == ty
}

func (p *Plan) report(out string, jobs int, nanos []atomic.Int64) *Report {
	rep := &Report{
		Input: p.Source.Path, Output: out, FileType: p.Options.Target.FileType.String(),
		InputBytes: p.SourceBytes(), OutputBytes: p.OutputBytes(), Elements: p.Elements(),
		BitsPerWeight: p.BitsPerWeight(), Jobs: jobs, Warnings: p.Source.Warnings,
	}
	for i, t := range p.Tensors {
		rep.Tensors = append(rep.Tensors, TensorReport{
			Name: t.Src.Name, SourceType: t.Src.DType, TargetType: t.Out.Type.String(),
			Shape: t.Src.Dims, Bytes: t.Out.Size, Seconds: time.Duration(nanos[i].Load()).Seconds(),
			Reason: t.Choice.Reason,
		})
	}
	return rep
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// firstNonFinite returns the index of the first NaN or Inf in v, or -1.
// It tests the exponent bits, several values per step, so that the check
// costs little next to quantization.
func firstNonFinite(v []float32) int {
	const exp = 0x7f800000
	i := 0
	for ; i+4 <= len(v); i += 4 {
		a, b := math.Float32bits(v[i])&exp, math.Float32bits(v[i+1])&exp
		c, d := math.Float32bits(v[i+2])&exp, math.Float32bits(v[i+3])&exp
		if a == exp || b == exp || c == exp || d == exp {
			break
		}
	}
	for ; i < len(v); i++ {
		if math.Float32bits(v[i])&exp == exp {
			return i
		}
	}
	return -1
}
