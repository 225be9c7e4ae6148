package kernels

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/qconv/qconv/gguf"
)

// Layout is the arrangement of a matrix's blocks in Matrix.Data.
type Layout int

const (
	// RowMajor is the GGUF layout: row r holds K/BlockSize blocks back to
	// back, and rows follow each other.
	RowMajor Layout = 0
	// Block-major layouts are BlockMajor(4), BlockMajor(8) and
	// BlockMajor(16) (layout.go).
)

func (l Layout) String() string {
	switch {
	case l == RowMajor:
		return "row-major"
	case l.TileRows() != 0:
		return fmt.Sprintf("block-major-%d", l.TileRows())
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// Matrix is a packed weight matrix: Rows rows of Cols elements of Type.
type Matrix struct {
	Type   gguf.Type
	Rows   int // N, output features
	Cols   int // K, input features; a multiple of Type's block size
	Layout Layout
	Data   []byte // Rows * RowBytes(Cols) bytes
}

// RowBytes is the byte size of one row.
func (m *Matrix) RowBytes() int { return m.Cols / m.Type.BlockSize() * m.Type.BlockBytes() }

// Tier is the highest instruction-set level a call may use.
type Tier int

const (
	TierAuto   Tier = iota // the best tier this CPU and build have
	TierGo                 // pure Go; always available
	TierAVX2               // amd64 AVX2 + FMA + F16C
	TierAVX512             // amd64 AVX-512 F/BW/VL + VNNI (and the AVX2 set)
	TierNEON               // arm64 Advanced SIMD (with the dot-product extension where present)
	numTiers
)

var tierNames = [numTiers]string{"auto", "go", "avx2", "avx512", "neon"}

func (t Tier) String() string {
	if t >= 0 && t < numTiers {
		return tierNames[t]
	}
	return fmt.Sprintf("Tier(%d)", int(t))
}

// ParseTier maps a tier name ("auto", "go", "avx2", "avx512", "neon",
// case-insensitive) to a Tier. It does not check availability.
func ParseTier(s string) (Tier, error) {
	for i, n := range tierNames {
		if strings.EqualFold(s, n) {
			return Tier(i), nil
		}
	}
	return 0, fmt.Errorf("kernels: unknown tier %q (want one of %s)", s, strings.Join(tierNames[:], ", "))
}

// Available reports whether this CPU and build can run t.
func (t Tier) Available() bool { return t >= 0 && t < numTiers && tierAvailable[t] }

// Tiers returns the available tiers other than TierAuto, lowest first.
func Tiers() []Tier {
	var out []Tier
	for t := TierGo; t < numTiers; t++ {
		if tierAvailable[t] {
			out = append(out, t)
		}
	}
	return out
}

// Best returns the tier TierAuto stands for.
func Best() Tier { return bestTier }

// Activations selects how activations meet the weights.
type Activations int

const (
	// ActQuantized quantizes each activation row to the weight type's ggml
	// partner (Q8_0, Q8_1 or Q8_K) and uses integer block dot products,
	// as ggml's CPU backend does. Float weight types ignore it.
	ActQuantized Activations = iota
	// ActFloat dequantizes one weight block at a time and takes float32
	// dot products with the unrounded activations.
	ActFloat
)

func (a Activations) String() string {
	switch a {
	case ActQuantized:
		return "quantized"
	case ActFloat:
		return "float"
	}
	return fmt.Sprintf("Activations(%d)", int(a))
}

// Options tunes one MatMul call. The zero value is valid: all cores, the
// best tier, quantized activations.
type Options struct {
	Threads     int // worker goroutines; <= 0 means runtime.GOMAXPROCS(0)
	Tier        Tier
	Activations Activations
}

// Supported reports whether MatMul handles weights of type t.
func Supported(t gguf.Type) bool {
	return t < gguf.TypeCount && table[TierGo][t].float != nil
}

// rowsKernel is the optional whole-task form of a tier's quant kernel:
// weight rows n0..n1-1 (rb bytes each, from the start of w) against
// activation rows r0..r0+nr-1 of a, nr <= rowsTile, each result stored at
// y[(r0+r)*n + row].
type rowsKernel func(y []float32, n int, w []byte, rb, n0, n1 int, a *acts, r0, nr int)

// rowKernels holds the task kernels, filled with the table and read-only
// afterwards. MatMul uses the one of the tier pick takes the quant kernel
// from.
var rowKernels [numTiers][gguf.TypeCount]rowsKernel

// floatRowsKernel is the optional whole-task form of a float kernel: as
// rowsKernel, against rows r0..r0+nr-1 of x (k values each).
type floatRowsKernel func(y []float32, n int, w []byte, rb, n0, n1 int, x []float32, k, r0, nr int, s *scratch)

var floatRowKernels [numTiers][gguf.TypeCount]floatRowsKernel

// pickRows returns the task kernels matching pick(tier, t, act): one of
// them, or neither.
func pickRows(tier Tier, t gguf.Type, k kernel) (rowsKernel, floatRowsKernel) {
	for tt := tier; tt > TierGo; tt-- {
		if k.quant != nil && table[tt][t].quant != nil {
			return rowKernels[tt][t], nil
		}
		if k.quant == nil && table[tt][t].float != nil {
			return nil, floatRowKernels[tt][t]
		}
	}
	return nil, nil
}

// rowsTile bounds the activation rows one rowsKernel call serves.
const rowsTile = 8

// rowsPerTask is how many weight rows a worker claims at a time.
const rowsPerTask = 64

// batchChunk bounds the activation rows served by one pass over the
// weights, so that their quantized form stays in cache.
const batchChunk = 64

// MatMul computes y = x · Wᵀ: x is batch rows of w.Cols float32 values,
// y is batch rows of w.Rows values, both row-major, and
// y[b*N+n] = Σ_k x[b*K+k] · W[n][k]. It panics when the lengths do not
// match the shapes, when w's type or layout is unsupported, or when
// opts.Tier is not available.
func MatMul(y, x []float32, batch int, w *Matrix, opts Options) {
	N, K := w.Rows, w.Cols
	if !Supported(w.Type) {
		panic(fmt.Sprintf("kernels: unsupported weight type %s", w.Type))
	}
	if !w.Layout.valid() || (w.Layout != RowMajor && !Tileable(w.Type)) {
		panic(fmt.Sprintf("kernels: unsupported layout %s for %s", w.Layout, w.Type))
	}
	bs := w.Type.BlockSize()
	if N < 0 || K <= 0 || K%bs != 0 || batch < 0 {
		panic(fmt.Sprintf("kernels: bad shape: batch %d, %d x %d %s (block size %d)", batch, N, K, w.Type, bs))
	}
	rb := w.RowBytes()
	if len(w.Data) != N*rb {
		panic(fmt.Sprintf("kernels: %s matrix %d x %d needs %d bytes, has %d", w.Type, N, K, N*rb, len(w.Data)))
	}
	if len(x) != batch*K || len(y) != batch*N {
		panic(fmt.Sprintf("kernels: len(x) = %d, len(y) = %d; want %d and %d for batch %d and a %d x %d matrix",
			len(x), len(y), batch*K, batch*N, batch, N, K))
	}
	tier := opts.Tier
	if tier == TierAuto {
		tier = bestTier
	}
	if !tier.Available() {
		panic(fmt.Sprintf("kernels: tier %s is not available on this CPU/build", tier))
	}
	if batch == 0 || N == 0 {
		return
	}
	k := pick(tier, w.Type, opts.Activations)
	rk, fk := pickRows(tier, w.Type, k)
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	for b0 := 0; b0 < batch; b0 += batchChunk {
		nb := min(batchChunk, batch-b0)
		xs := x[b0*K : (b0+nb)*K]
		ys := y[b0*N : (b0+nb)*N]
		var a *acts
		if k.quant != nil {
			a = quantizeActs(k.act, xs, nb, K)
		}
		run(ys, xs, a, nb, w, rb, k, rk, fk, tier, threads)
	}
}

// run splits the output rows among workers. Tasks are rowsPerTask rows,
// a multiple of every tile height, so a task holds whole tiles (and, in
// the last task, the row-major tail).
func run(y, x []float32, a *acts, batch int, w *Matrix, rb int, k kernel, rk rowsKernel, fk floatRowsKernel, tier Tier, threads int) {
	N := w.Rows
	tasks := (N + rowsPerTask - 1) / rowsPerTask
	// Give each worker at least ~1 MiB of weights (or 64 rows) so that
	// small matrices do not pay for goroutines.
	if minRows := max(64, (1<<20)/max(1, rb)); threads > 1 {
		threads = min(threads, (N+minRows-1)/minRows)
	}
	threads = max(1, min(threads, tasks))
	R := w.Layout.TileRows()
	full := 0 // rows held in tiles
	var tk tileKernel
	if R != 0 {
		full = N / R * R
		if a != nil {
			tk = pickTile(tier, w.Type, R, k)
			if tk != nil {
				a.prepareTiles(w.Type)
			}
		}
	}
	work := func(next *atomic.Int64) {
		s := new(scratch)
		var tile []byte
		for {
			t := int(next.Add(1)) - 1
			if t >= tasks {
				return
			}
			n0 := t * rowsPerTask
			n1 := min(N, n0+rowsPerTask)
			// Tiles first, then the row-major rows.
			for ; n0 < min(n1, full); n0 += R {
				wt := w.Data[n0*rb : (n0+R)*rb]
				if tk != nil {
					for r0 := 0; r0 < batch; r0 += rowsTile {
						tk(y[n0:], N, wt, rb, a, r0, min(rowsTile, batch-r0))
					}
					continue
				}
				if tile == nil {
					tile = make([]byte, R*rb)
				}
				unpackTile(tile, wt, splits[w.Type], R, rb)
				rowMajorRows(y[n0:], N, x, a, batch, tile, rb, w.Cols, R, k, rk, fk, s)
			}
			if n0 < n1 {
				rowMajorRows(y[n0:], N, x, a, batch, w.Data[n0*rb:n1*rb], rb, w.Cols, n1-n0, k, rk, fk, s)
			}
		}
	}
	var next atomic.Int64
	if threads == 1 {
		work(&next)
		return
	}
	var wg sync.WaitGroup
	for range threads {
		wg.Go(func() { work(&next) })
	}
	wg.Wait()
}

// rowMajorRows computes the outputs of nrows row-major weight rows (wb,
// rb bytes each) for every activation row: y[r*N+i] for row i, where y
// starts at the first of these rows' output column.
func rowMajorRows(y []float32, N int, x []float32, a *acts, batch int, wb []byte, rb, K, nrows int, k kernel, rk rowsKernel, fk floatRowsKernel, s *scratch) {
	if rk != nil && a != nil {
		for r0 := 0; r0 < batch; r0 += rowsTile {
			rk(y, N, wb, rb, 0, nrows, a, r0, min(rowsTile, batch-r0))
		}
		return
	}
	if fk != nil && a == nil {
		for r0 := 0; r0 < batch; r0 += tileRows {
			fk(y, N, wb, rb, 0, nrows, x, K, r0, min(tileRows, batch-r0), s)
		}
		return
	}
	var out [tileRows]float32
	for n := range nrows {
		wrow := wb[n*rb : (n+1)*rb]
		for r0 := 0; r0 < batch; r0 += tileRows {
			nr := min(tileRows, batch-r0)
			o := out[:nr]
			if a != nil {
				k.quant(o, wrow, a, r0, s)
			} else {
				k.float(o, wrow, x[r0*K:(r0+nr)*K], K, s)
			}
			for r, v := range o {
				y[(r0+r)*N+n] = v
			}
		}
	}
}
