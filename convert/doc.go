// Package convert turns a source model into a GGUF file in three steps:
// Source (open the input and describe its tensors and metadata), Plan
// (decide the output: per-tensor target types, metadata, layout) and Run
// (read, convert or quantize, and write each tensor).
//
// The type-selection part of the planner (ftype.go, typeselect.go)
// reproduces llama.cpp's llama-quantize: for a given file type (ftype) and
// options it chooses, tensor by tensor, the same ggml type that
// llama-quantize would choose.
package convert
