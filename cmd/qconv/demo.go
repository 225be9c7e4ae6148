package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qconv/qconv/convert"
	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/synth"
	"github.com/qconv/qconv/quantize"
)

type demoOptions struct {
	dir  string
	to   string
	jobs int
	keep bool
}

func newDemoCmd(g *globalOptions, s streams) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Generate a small llama-shaped model, convert it and check the result",
		Long: `demo shows the whole job without downloading anything: it generates a small
llama-shaped F16 GGUF model with random weights (4 layers, n_embd 256, grouped
query attention, a byte-level vocabulary), converts it with llama-quantize's
Q4_K_M mixture (or --to), and compares every output tensor with its source.

Files go to a temporary directory that is removed afterwards, unless --dir or
--keep is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd, s, o)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "directory for the generated files (kept)")
	cmd.Flags().StringVar(&o.to, "to", "Q4_K_M", "target type")
	cmd.Flags().IntVarP(&o.jobs, "jobs", "j", runtime.GOMAXPROCS(0), "worker goroutines")
	cmd.Flags().BoolVar(&o.keep, "keep", false, "keep the temporary directory")
	return cmd
}

func runDemo(cmd *cobra.Command, s streams, o *demoOptions) error {
	ctx := commandContext(cmd)
	tgt, err := convert.ParseTarget(o.to)
	if err != nil {
		return usageErrorf("--to: %v", err)
	}
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "qconv-demo-"); err != nil {
			return withCode(exitUsage, err)
		}
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return withCode(exitUsage, err)
	}
	w := s.out
	cfg := synth.Tiny()
	in := filepath.Join(dir, "demo-f16.gguf")
	t0 := time.Now()
	if err := cfg.WriteFile(ctx, in, true); err != nil {
		return err
	}
	st, _ := os.Stat(in)
	fmt.Fprintf(w, "1. generated %s\n   llama, %d layers, n_embd %d, n_ff %d, %d heads / %d KV heads, vocab %d: %.1f M weights, %s, in %s\n",
		in, cfg.Layers, cfg.Embd, cfg.FF, cfg.Heads, cfg.KVHeads, cfg.Vocab, float64(cfg.Params())/1e6, humanBytes(st.Size()), since(t0))

	src, err := convert.OpenSource(in)
	if err != nil {
		return err
	}
	defer src.Close()
	plan, err := convert.NewPlan(src, convert.Options{Target: tgt})
	if err != nil {
		return err
	}
	name := strings.ToUpper(tgt.FileType.String())
	out := filepath.Join(dir, "demo-"+name+".gguf")
	rep, err := plan.Write(ctx, out, convert.RunOptions{Jobs: o.jobs, Force: true, SHA256: true})
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, t := range rep.Tensors {
		counts[t.TargetType]++
	}
	var mix []string
	for typ, n := range counts {
		mix = append(mix, fmt.Sprintf("%d x %s", n, typ))
	}
	sort.Strings(mix)
	fmt.Fprintf(w, "2. converted to %s with %d workers in %s\n   %s (%.2f bits per weight); tensor types: %s\n   sha256 %s\n",
		out, rep.Jobs, since(t0.Add(time.Duration(0))), humanBytes(rep.OutputBytes), rep.BitsPerWeight, strings.Join(mix, ", "), rep.SHA256)

	worst, worstName, err := compareFiles(out, in)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "3. checked every tensor against its source: worst relative RMSE %.4f (%s)\n", worst, worstName)
	if o.dir != "" || o.keep {
		fmt.Fprintf(w, "\nfiles kept in %s; try:\n  qconv inspect %s\n", dir, out)
	}
	return nil
}

func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }

// compareFiles dequantizes every tensor of out and returns the largest
// relative RMSE against the same tensor of in.
func compareFiles(out, in string) (float64, string, error) {
	fo, err := gguf.Open(out)
	if err != nil {
		return 0, "", err
	}
	defer fo.Close()
	src, err := convert.OpenSource(in)
	if err != nil {
		return 0, "", err
	}
	defer src.Close()
	byName := map[string]*convert.Tensor{}
	for _, t := range src.Tensors {
		byName[t.Name] = t
	}
	worst, worstName := 0.0, ""
	for i, ti := range fo.Tensors() {
		st := byName[ti.Name]
		if st == nil {
			return 0, "", fmt.Errorf("%s: tensor %s is not in %s", out, ti.Name, in)
		}
		n := ti.NElements()
		got, want := make([]float32, n), make([]float32, n)
		if err := dequantize(ti.Type, got, fo.TensorData(i)); err != nil {
			return 0, "", fmt.Errorf("%s: tensor %s: %w", out, ti.Name, err)
		}
		if err := st.ReadRows(0, st.Rows(), want); err != nil {
			return 0, "", err
		}
		var se, ss float64
		for k := range got {
			d := float64(got[k]) - float64(want[k])
			se += d * d
			ss += float64(want[k]) * float64(want[k])
		}
		if ss > 0 {
			if r := sqrtRatio(se, ss); r > worst || worstName == "" {
				worst, worstName = r, ti.Name
			}
		}
	}
	return worst, worstName, nil
}

func dequantize(t gguf.Type, dst []float32, src []byte) error {
	return quantize.Dequantize(t, dst, src)
}

func sqrtRatio(a, b float64) float64 { return math.Sqrt(a / b) }
