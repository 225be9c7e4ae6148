package main

import (
	"fmt"
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
	"github.com/qconv/qconv/verify"
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
			return runDemo(cmd, g, s, o)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "directory for the generated files (kept)")
	cmd.Flags().StringVar(&o.to, "to", "Q4_K_M", "target type")
	cmd.Flags().IntVarP(&o.jobs, "jobs", "j", runtime.GOMAXPROCS(0), "worker goroutines")
	cmd.Flags().BoolVar(&o.keep, "keep", false, "keep the temporary directory")
	return cmd
}

func runDemo(cmd *cobra.Command, g *globalOptions, s streams, o *demoOptions) error {
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
	t0 = time.Now()
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
		out, rep.Jobs, since(t0), humanBytes(rep.OutputBytes), rep.BitsPerWeight, strings.Join(mix, ", "), rep.SHA256)

	tiers, err := g.checkTiers()
	if err != nil {
		return err
	}
	t0 = time.Now()
	vf, err := gguf.Open(out)
	if err != nil {
		return err
	}
	defer vf.Close()
	vrep, err := verify.Run(ctx, vf, verify.Options{Source: src, Thresholds: verify.DefaultThresholds(), Jobs: o.jobs, Kernel: verify.KernelCheck{Tiers: tiers}})
	if err != nil {
		return err
	}
	ranked := vrep.Worst()
	fmt.Fprintf(w, "3. verified against the source in %s: %s\n", since(t0), vrep.Summary.Message)
	if len(ranked) > 0 && ranked[0].Compare != nil && ranked[0].Threshold != nil {
		worst := ranked[0]
		fmt.Fprintf(w, "   worst tensor %s (%s): relative RMSE %.4f, threshold %.3f; packed kernels (%s) match the FP32 reference\n",
			worst.Name, worst.Type, float64(worst.Compare.RelRMSE), float64(*worst.Threshold), tiers[0])
	}
	if !vrep.Passed() {
		vrep.WriteText(w)
		return errSilentFailure
	}
	if o.dir != "" || o.keep {
		fmt.Fprintf(w, "\nfiles kept in %s; try:\n  qconv inspect %s\n", dir, out)
	}
	return nil
}

func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }
