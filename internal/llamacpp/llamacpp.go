// Package llamacpp runs llama.cpp's command-line tools for the tests that
// check qconv against llama.cpp itself: llama-quantize's output byte for
// byte, and llama.cpp loading and running the files qconv writes.
//
// llama.cpp is not part of qconv, its build or its CI. These tests run only
// when QCONV_LLAMA_CPP names a directory holding llama-quantize,
// llama-completion and llama-bench (an installed llama.cpp, or wrapper
// scripts that start one); otherwise they skip. docs/llamacpp.md says how
// to get one and which build the recorded results come from.
package llamacpp

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Env is the environment variable naming the directory of llama.cpp's
// tools.
const Env = "QCONV_LLAMA_CPP"

// Tools is a directory of llama.cpp executables.
type Tools struct {
	Dir string
}

// Lookup returns the tools named by $QCONV_LLAMA_CPP, or false when it is
// unset. A set variable that names no usable directory is an error.
func Lookup() (*Tools, bool, error) {
	dir := os.Getenv(Env)
	if dir == "" {
		return nil, false, nil
	}
	for _, tool := range []string{"llama-quantize", "llama-completion", "llama-bench"} {
		p := filepath.Join(dir, tool)
		st, err := os.Stat(p)
		if err != nil {
			return nil, false, fmt.Errorf("%s=%s: %w", Env, dir, err)
		}
		if st.Mode()&0o111 == 0 {
			return nil, false, fmt.Errorf("%s=%s: %s is not executable", Env, dir, p)
		}
	}
	return &Tools{Dir: dir}, true, nil
}

// Find returns the tools, skipping the test when $QCONV_LLAMA_CPP is unset
// and failing it when the variable names no usable directory.
func Find(tb testing.TB) *Tools {
	tb.Helper()
	x, ok, err := Lookup()
	if err != nil {
		tb.Fatal(err)
	}
	if !ok {
		tb.Skip(Env + " is not set: skipping the comparison with llama.cpp (see docs/llamacpp.md)")
	}
	return x
}

// timeout bounds one tool run; the models of these tests are small.
const timeout = 5 * time.Minute

// Run runs tool with args and returns its standard output. A failure
// fails the test with the command and the end of its standard error.
func (x *Tools) Run(tb testing.TB, tool string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(x.Dir, tool), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	return stdout.String()
}

// Generate returns the text llama-completion writes for prompt with greedy
// sampling (temperature 0), n tokens at most, on two threads.
func (x *Tools) Generate(tb testing.TB, model, prompt string, n int) string {
	tb.Helper()
	return x.Run(tb, "llama-completion", "-m", model, "-p", prompt, "-n", fmt.Sprint(n),
		"--temp", "0", "-no-cnv", "--simple-io", "-t", "2", "-c", "512")
}

// Runs has llama-bench load model and run a 4-token prompt and 4
// generated tokens once (few enough for the position tables of tiny test
// models): the model's hyperparameters, tensors and vocabulary are
// accepted and its graph computes.
func (x *Tools) Runs(tb testing.TB, model string) {
	tb.Helper()
	x.Run(tb, "llama-bench", "-m", model, "-p", "4", "-n", "4", "-r", "1", "-t", "2", "-o", "csv")
}

// Quantize runs llama-quantize on in to out with the file type ftype (a
// name llama-quantize takes, such as Q4_K_M), unless empty an importance
// matrix, and any other flags (--keep-split, ...).
func (x *Tools) Quantize(tb testing.TB, in, out, ftype, imatrix string, flags ...string) {
	tb.Helper()
	args := flags
	if imatrix != "" {
		args = append(args, "--imatrix", imatrix)
	}
	x.Run(tb, "llama-quantize", append(args, in, out, ftype, "2")...)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
