#!/bin/sh
# Regenerates the avo-generated amd64 assembly: kernels/zkernels_amd64.{s,go}
# from kernels/_asm and quantize/zsearch_amd64.{s,go} from quantize/_asm
# and quantize/zconv_amd64.{s,go} from quantize/_asmconv
# (each its own module, so avo stays out of the main go.sum). Run from
# anywhere; `go generate ./kernels` and `go generate ./quantize` call it too.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/kernels/_asm"
go run . -out ../zkernels_amd64.s -stubs ../zkernels_amd64.go -pkg kernels
gofmt -w ../zkernels_amd64.go
(cd "$root/kernels/_asmkq" && go run . -out ../zkq_amd64.s -stubs ../zkq_amd64.go -pkg kernels && gofmt -w ../zkq_amd64.go)
cd "$root/quantize/_asm"
go run . -out ../zsearch_amd64.s -stubs ../zsearch_amd64.go -pkg quantize
gofmt -w ../zsearch_amd64.go
cd "$root/quantize/_asmconv"
go run . -out ../zconv_amd64.s -stubs ../zconv_amd64.go -pkg quantize
gofmt -w ../zconv_amd64.go
(cd "$root/kernels/_asmneon" && go run . -out ../zneon_arm64.s -stubs ../zneon_arm64.go -pkg kernels && gofmt -w ../zneon_arm64.go)
