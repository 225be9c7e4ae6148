package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/atomicfile"
	"github.com/qconv/qconv/quantize"
	"github.com/qconv/qconv/safetensors"
)

// Exit codes, the same for every command (docs/cli.md).
const (
	exitOK       = 0   // success
	exitFailure  = 1   // invalid input, or a check that failed
	exitUsage    = 2   // bad flags or arguments, unreadable files, I/O errors
	exitSignaled = 128 // plus the signal number: 130 for SIGINT, 143 for SIGTERM
)

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode attaches an exit code to err (nil stays nil).
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageErrorf reports a bad invocation: exit 2.
func usageErrorf(format string, args ...any) error {
	return withCode(exitUsage, fmt.Errorf(format, args...))
}

// silentFailure is returned by commands that have already printed their
// verdict (for example a failed verification) and only need exit 1.
var errSilentFailure = errors.New("failed")

// exitCode maps an error returned by a command to the process exit code.
func exitCode(ctx context.Context, err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		var se signalError
		if errors.As(context.Cause(ctx), &se) {
			return exitSignaled + int(se.sig)
		}
		return exitSignaled + 2
	}
	if errors.Is(err, atomicfile.ErrExists) || errors.Is(err, atomicfile.ErrSameAsInput) {
		return exitUsage
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return exitUsage
	}
	if isInvalidInput(err) {
		return exitFailure
	}
	if isCobraUsage(err) {
		return exitUsage
	}
	return exitFailure
}

// isCobraUsage recognises the errors cobra produces for bad command lines;
// cobra does not type them.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "requires at most", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// printError writes err as one "qconv: ..." line.
func printError(w io.Writer, err error) {
	if errors.Is(err, errSilentFailure) {
		return
	}
	fmt.Fprintf(w, "qconv: %v\n", err)
}

// isInvalidInput reports whether err says an input file is malformed.
func isInvalidInput(err error) bool {
	return errors.Is(err, gguf.ErrInvalid) || errors.Is(err, safetensors.ErrInvalid) || errors.Is(err, quantize.ErrInvalidImatrix)
}
