package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/synth"
)

type synthOptions struct {
	preset string
	typ    string
	seed   uint64
	force  bool
	quiet  bool
}

func newSynthCmd(g *globalOptions, s streams) *cobra.Command {
	o := &synthOptions{}
	cmd := &cobra.Command{
		Use:   "synth OUTPUT",
		Short: "Write a llama-shaped GGUF model with random weights (for tests and benchmarks)",
		Long: `synth writes a llama-architecture GGUF file with random N(0, 0.02) weights, F32
norms, real tensor names and shapes, and a byte-level vocabulary. The same
preset, type and seed always give the same bytes.

Presets:
  tiny   4 layers, n_embd 256, n_ff 768, 8/4 heads, vocab 1024 (3.7 M weights)
  bench  8 layers, n_embd 2048, n_ff 5632, 32/4 heads, vocab 32000 (483 M
         weights, 923 MiB in F16): the model of llama.cpp's reference
         figures in docs/benchmarks.md`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var c synth.Config
			switch o.preset {
			case "tiny":
				c = synth.Tiny()
			case "bench":
				c = synth.Bench()
			default:
				return usageErrorf("--preset: unknown preset %q (tiny or bench)", o.preset)
			}
			t, ok := gguf.ParseType(o.typ)
			if !ok {
				return usageErrorf("--type: unknown type %q", o.typ)
			}
			c.Type, c.Seed = t, o.seed
			if err := c.Validate(); err != nil {
				return usageErrorf("%v", err)
			}
			start := time.Now()
			if err := c.WriteFile(commandContext(cmd), args[0], o.force); err != nil {
				return err
			}
			if !o.quiet {
				fmt.Fprintf(s.out, "wrote %s: %s preset, %s, %.1f M weights in %s\n", args[0], o.preset, c.Type, float64(c.Params())/1e6, since(start))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.preset, "preset", "tiny", "model shape: tiny or bench")
	cmd.Flags().StringVar(&o.typ, "type", "f16", "weight type: f32, f16 or bf16")
	cmd.Flags().Uint64Var(&o.seed, "seed", 1, "random seed")
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "overwrite OUTPUT")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors")
	return cmd
}
