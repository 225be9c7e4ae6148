// Command qconv converts, quantizes, inspects and verifies model files
// (safetensors and GGUF in, GGUF out).
//
// This package only parses flags and configuration, shows progress and
// maps errors to exit codes; the work happens in the library packages.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// signalError is the cancellation cause when a signal stops qconv.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string { return "interrupted by " + e.sig.String() }

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		// A second signal gets the default action: stop at once.
		signal.Stop(sigs)
		if ss, ok := s.(syscall.Signal); ok {
			cancel(signalError{ss})
		} else {
			cancel(signalError{syscall.SIGINT})
		}
	}()
	code := run(ctx, os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	os.Exit(code)
}
