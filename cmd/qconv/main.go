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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}
