package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// streams are the standard files, injectable for tests.
type streams struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// globalOptions are the flags every command shares.
type globalOptions struct {
	configFile  string
	cpuProfile  string
	kernel      string // --kernel / QCONV_KERNEL: the highest kernel tier to use
	profileFile *os.File
}

// run executes qconv with args and returns the exit code.
func run(ctx context.Context, args []string, s streams) int {
	root := newRootCmd(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		printError(s.err, err)
	}
	return exitCode(ctx, err)
}

func newRootCmd(s streams) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "qconv",
		Short: "Convert, quantize, inspect and verify model files",
		Long: `qconv converts safetensors checkpoints and GGUF files into GGUF that llama.cpp
loads, quantizing every tensor concurrently with bytes identical to ggml's
reference quantizers, and verifies the result.

Configuration: flags beat QCONV_* environment variables, which beat the
config file (--config FILE, else ./qconv.yaml, else qconv/qconv.yaml in the
user config directory). A setting applies to a flag of the same name; a
key under a command's name applies to that command only, for example

  jobs: 8            # or QCONV_JOBS=8
  convert:
    max-memory: 4GiB # or QCONV_CONVERT_MAX_MEMORY=4GiB

Exit codes: 0 success, 1 invalid input or a failed check, 2 usage or I/O
error, 130 interrupted.`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(g.configFile)
			if err != nil {
				return withCode(exitUsage, err)
			}
			if err := cfg.apply(cmd); err != nil {
				return err
			}
			if _, err := g.kernelTier(); err != nil {
				return err
			}
			return g.startProfile()
		},
		PersistentPostRunE: func(cmd *cobra.Command, args []string) error {
			g.stopProfile()
			return nil
		},
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return withCode(exitUsage, fmt.Errorf("%w (see '%s --help')", err, c.CommandPath()))
	})
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "config file (default ./qconv.yaml, then the user config dir)")
	root.PersistentFlags().StringVar(&g.kernel, "kernel", "auto", "highest packed-kernel tier to use: auto, go (or purego), avx2, avx512, neon (env QCONV_KERNEL)")
	root.PersistentFlags().StringVar(&g.cpuProfile, "cpuprofile", "", "write a CPU profile to this file (for developers)")
	root.PersistentFlags().MarkHidden("cpuprofile")
	root.SetVersionTemplate("qconv {{.Version}}\n")

	root.AddCommand(
		newInspectCmd(g, s),
		newConvertCmd(g, s),
		newDemoCmd(g, s),
		newSynthCmd(g, s),
		newBenchCmd(g, s),
		newVerifyCmd(g, s),
	)
	return root
}

// version reports the module version, or the VCS revision of a source build.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			v += " " + rev + dirty
		}
	}
	return fmt.Sprintf("%s (%s)", v, bi.GoVersion)
}

// commandContext returns the command's context, never nil.
func commandContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
