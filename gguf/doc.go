// Package gguf reads and writes GGUF, the model container of ggml and
// llama.cpp, and holds the table of ggml tensor types.
//
// Reading: Parse decodes a whole file held in memory and Open memory-maps
// a file and parses it. GGUF versions 1, 2 and 3 are read, little-endian
// only; a big-endian file is recognised and refused (ErrBigEndian), never
// misread. Metadata keeps the file's order and exact value types; tensor
// data is returned as zero-copy views of the file.
//
// Validation follows ggml's gguf.cpp and is stricter: every count and
// length is checked against the bytes left before it drives an allocation
// or a loop (so a tiny file declaring huge counts fails fast, without
// large allocations); strings are limited to 1 GiB and arrays to 2^30
// elements; arrays of arrays nest at most MaxArrayDepth deep; bools must
// be 0 or 1; keys and tensor names must be non-empty and unique; tensors
// have at most 4 dims, nonnegative dims whose product and byte size fit in
// int64, rows (ne0) that are whole blocks of a known, current ggml type,
// offsets aligned to general.alignment (a u32 power of two, default 32),
// data inside the file and no overlap with another tensor (tensors may be
// stored in any order). A file with no tensors may end before the aligned
// data section, and a file may end right after the last tensor's data.
// Errors are *FormatError values naming the file, the byte offset and the
// key or tensor concerned; they match ErrInvalid with errors.Is. Parse
// never panics on bad bytes.
//
// Writing: NewLayout validates metadata and tensor infos and computes the
// whole file layout (GGUF v3, little-endian) before any byte is written:
// the header, each tensor's absolute offset and size, and the file size.
// Output is deterministic: metadata and tensors appear in the order given,
// and all padding is zero. The data is then written either sequentially
// through a Writer (streamed, never the whole file in memory) or
// concurrently with WriteHeader and WriteTensorAt into a file; both give
// identical bytes.
package gguf
