package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/kernels"
)

func newBenchCmd(g *globalOptions, s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure qconv's packed matmul kernels",
	}
	cmd.AddCommand(newBenchKernelsCmd(g, s))
	return cmd
}

type benchKernelsOptions struct {
	types   string
	tiers   string
	rows    int
	cols    int
	batches string
	layout  string
	jobs    int
	minTime time.Duration
	json    bool
}

func newBenchKernelsCmd(g *globalOptions, s streams) *cobra.Command {
	o := &benchKernelsOptions{}
	cmd := &cobra.Command{
		Use:   "kernels",
		Short: "Time y = x·Wᵀ for each type, tier and batch size",
		Long: `bench kernels quantizes seeded N(0, 0.02) weights (ROWS x COLS) to each type and
times the packed matmul against N(0, 1) activations for every tier this CPU
has and every batch size: median seconds, GFLOP/s (2·rows·cols·batch / t),
weight GB/s, and the largest error of one output relative to the RMS of the
outputs of a float64 matmul over the dequantized weights.

The default shape is one Llama-3-8B FFN matrix (14336 x 4096), the shape of
ggml's reference figures in docs/benchmarks.md. --layout block or both also
times the block-major layout (docs/layouts.md) of the types that have one.`,
		Example: `  qconv bench kernels --types q4_0,q4_k --batch 1,8 -j 2
  qconv bench kernels --types q4_0,q8_0 --layout both --rows 4096
  qconv bench kernels --rows 4096 --cols 4096 --json > kernels.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.config()
			if err != nil {
				return err
			}
			if cfg.Tiers == nil && cmd.Flags().Changed("kernel") {
				t, err := g.kernelTier()
				if err != nil {
					return err
				}
				cfg.Tiers = []kernels.Tier{t}
			}
			const row = "%-8s %-10s %-7s %5v %7v %10v %8v %11v %11v\n"
			if !o.json {
				fmt.Fprintf(s.out, row, "type", "layout", "tier", "batch", "threads", "median s", "GFLOP/s", "weight GB/s", "max rel err")
			}
			recs, err := kernels.Measure(commandContext(cmd), cfg, func(r kernels.Record) {
				if !o.json { // one line per record as it is measured
					fmt.Fprintf(s.out, row, r.Type, r.Layout, r.Tier, r.Batch, r.Threads, fmt.Sprintf("%.6f", r.Seconds),
						fmt.Sprintf("%.1f", r.GFLOPS), fmt.Sprintf("%.1f", r.WeightGBps), fmt.Sprintf("%.2e", r.MaxRelErr))
				}
			})
			if err != nil {
				return err
			}
			if o.json {
				enc := json.NewEncoder(s.out)
				enc.SetIndent("", "  ")
				return enc.Encode(recs)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.types, "types", "", "comma-separated ggml types (default: every type with a kernel)")
	f.StringVar(&o.tiers, "tiers", "", "comma-separated tiers: go, avx2, avx512, neon (default: every tier this CPU has)")
	f.IntVar(&o.rows, "rows", 14336, "rows of W (output features)")
	f.IntVar(&o.cols, "cols", 4096, "columns of W (input features; a multiple of 256)")
	f.StringVar(&o.batches, "batch", "1,8", "comma-separated activation row counts")
	f.StringVar(&o.layout, "layout", "row", "weight layout: row, block (16-row block-major tiles, for the types that have them) or both")
	f.IntVarP(&o.jobs, "jobs", "j", runtime.GOMAXPROCS(0), "threads per multiplication")
	f.DurationVar(&o.minTime, "min-time", 500*time.Millisecond, "repeat each measurement at least this long")
	f.BoolVar(&o.json, "json", false, "print a JSON array of records (type, layout, tier, rows, cols, batch, threads, seconds, gflops, weight_gbps, max_rel_err)")
	return cmd
}

func (o *benchKernelsOptions) config() (kernels.MeasureConfig, error) {
	c := kernels.MeasureConfig{Rows: o.rows, Cols: o.cols, Threads: o.jobs, MinTime: o.minTime}
	if o.rows < 1 || o.cols < 256 || o.cols%256 != 0 {
		return c, usageErrorf("--rows must be positive and --cols a positive multiple of 256")
	}
	if o.jobs < 1 {
		return c, usageErrorf("-j must be at least 1")
	}
	for _, name := range splitList(o.types) {
		t, ok := gguf.ParseType(name)
		if !ok || !kernels.Supported(t) {
			return c, usageErrorf("--types: no kernel for %q", name)
		}
		c.Types = append(c.Types, t)
	}
	for _, name := range splitList(o.tiers) {
		t, err := kernels.ParseTier(name)
		if err != nil {
			return c, usageErrorf("--tiers: %v", err)
		}
		if !t.Available() {
			return c, usageErrorf("--tiers: %s is not available on this CPU or build", t)
		}
		c.Tiers = append(c.Tiers, t)
	}
	for _, b := range splitList(o.batches) {
		n, err := strconv.Atoi(b)
		if err != nil || n < 1 {
			return c, usageErrorf("--batch: %q is not a positive count", b)
		}
		c.Batches = append(c.Batches, n)
	}
	if len(c.Batches) == 0 {
		return c, usageErrorf("--batch: give at least one batch size")
	}
	if o.layout == "both" {
		c.Layouts = []kernels.Layout{kernels.RowMajor, kernels.BlockMajor(kernels.DefaultTileRows)}
	} else {
		l, err := kernels.ParseLayout(o.layout)
		if err != nil {
			return c, usageErrorf("--layout: %v (or both)", err)
		}
		c.Layouts = []kernels.Layout{l}
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
