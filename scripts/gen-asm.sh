#!/bin/sh
# Regenerates kernels/zkernels_amd64.s and kernels/zkernels_amd64.go from the
# avo program in kernels/_asm (its own module, so avo stays out of the main
# go.sum). Run from anywhere; `go generate ./kernels` calls it too.
set -eu
cd "$(dirname "$0")/../kernels/_asm"
go run . -out ../zkernels_amd64.s -stubs ../zkernels_amd64.go -pkg kernels
gofmt -w ../zkernels_amd64.go
