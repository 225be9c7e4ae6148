package main

import (
	"encoding/json"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/qconv/qconv/convert"
	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/verify"
)

type verifyOptions struct {
	against   string
	json      bool
	maxError  []string
	sample    int64
	jobs      int
	noKernels bool
}

func newVerifyCmd(g *globalOptions, s streams) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify FILE [--against SOURCE]",
		Short: "Check a GGUF file's tensors, optionally against the model it was made from",
		Long: `verify dequantizes every tensor of the GGUF FILE and checks it.

Without --against it checks that every tensor dequantizes to finite values
and that every block scale is finite, and prints each tensor's RMS and
largest magnitude.

With --against SOURCE (a .gguf file, a .safetensors file, a sharded
checkpoint's model.safetensors.index.json, or a checkpoint directory) it
also compares each tensor with the source tensor of the same name: RMSE,
max absolute error, relative RMSE (RMSE / RMS of the source), cosine
similarity and SNR in dB. A tensor fails when its relative RMSE exceeds the
threshold for its ggml type (docs/verify.md; override with --max-error),
when it holds non-finite values where the source does not, when its shape
differs, or when it is missing from FILE or absent from SOURCE. Tensors of
types qconv cannot dequantize are reported as skipped.

Kernel checks (unless --no-kernels): for every quantized 2-D tensor, the
packed matmul kernels (the best tier this CPU has, and pure Go) multiply a
seeded sample of its rows (64, or --sample) by seeded random activations,
one and eight rows at a time, and the result is compared with a float64
matmul over the dequantized rows; the error of each output, relative to
sum|w|*max|x|, must stay within 5e-3 (8-bit activations) or 1e-5 (float
weights).

--sample N compares, for tensors with more than N rows, N rows chosen by a
fixed seeded draw per tensor name: the same rows on every run.

The table lists the worst tensors first. Exit status: 0 every check passed,
1 a check failed or FILE is not a valid GGUF, 2 usage or I/O error.`,
		Example: `  qconv verify model-Q4_K_M.gguf
  qconv verify model-Q4_K_M.gguf --against model-f16.gguf
  qconv verify model-Q4_K_M.gguf --against model-f16.gguf --max-error q4_K=0.1 --sample 256 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd, g, s, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.against, "against", "", "source model to compare with (GGUF, safetensors, sharded index or checkpoint directory)")
	f.BoolVar(&o.json, "json", false, "print one JSON object (docs/verify.md)")
	f.StringArrayVar(&o.maxError, "max-error", nil, "TYPE=VALUE: maximum relative RMSE for ggml type TYPE (repeatable)")
	f.Int64Var(&o.sample, "sample", 0, "compare at most ROWS seeded-random rows per tensor (0: every row)")
	f.IntVarP(&o.jobs, "jobs", "j", runtime.GOMAXPROCS(0), "tensors checked at once")
	f.BoolVar(&o.noKernels, "no-kernels", false, "skip the packed matmul kernel checks")
	return cmd
}

func runVerify(cmd *cobra.Command, g *globalOptions, s streams, o *verifyOptions, path string) error {
	opts := verify.Options{Thresholds: verify.DefaultThresholds(), Sample: o.sample, Jobs: o.jobs}
	if !o.noKernels {
		tiers, err := g.checkTiers()
		if err != nil {
			return err
		}
		opts.Kernel = verify.KernelCheck{Tiers: tiers}
	}
	if o.jobs < 1 {
		return usageErrorf("-j must be at least 1")
	}
	if o.sample < 0 {
		return usageErrorf("--sample must be 0 or more")
	}
	for _, m := range o.maxError {
		t, v, err := verify.ParseThreshold(m)
		if err != nil {
			return usageErrorf("--max-error %v", err)
		}
		opts.Thresholds[t] = v
	}
	f, err := gguf.Open(path)
	if err != nil {
		return ioOrInvalid(err)
	}
	defer f.Close()
	if o.against != "" {
		src, err := convert.OpenSource(o.against)
		if err != nil {
			return ioOrInvalid(err)
		}
		defer src.Close()
		opts.Source = src
	}
	rep, err := verify.Run(commandContext(cmd), f, opts)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return withCode(exitUsage, err)
		}
	} else if err := rep.WriteText(s.out); err != nil {
		return withCode(exitUsage, err)
	}
	if !rep.Passed() {
		return errSilentFailure
	}
	return nil
}

// ioOrInvalid keeps an invalid-file error (exit 1) and makes any other
// error opening an input an I/O error (exit 2).
func ioOrInvalid(err error) error {
	if isInvalidInput(err) {
		return err
	}
	return withCode(exitUsage, err)
}
