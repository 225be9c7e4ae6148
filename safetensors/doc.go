// Package safetensors reads and writes the safetensors tensor format
// (huggingface/safetensors) for qconv: single files through mmap with
// zero-copy tensor views, sharded checkpoints through their
// model.safetensors.index.json, conversion of element types to float32,
// and a deterministic streaming writer.
//
// A safetensors file is an 8-byte little-endian length N, N bytes of JSON
// header, then the data area up to the end of the file. The header maps
// each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the data area), plus an optional "__metadata__"
// object of strings.
//
// # Guarantees
//
// Open and Parse accept a file only if it passes every check of the
// reference reader, and a few more; anything else is an error that names
// the file and, where it applies, the tensor, and that matches ErrInvalid:
//
//   - the file has at least 8 bytes; N is at most MaxHeaderSize and fits in
//     the file;
//   - the header is valid UTF-8, starts with '{', is one JSON object, and is
//     followed by nothing but spaces (the writer's padding);
//   - no key is repeated: no tensor name twice, no field twice within an
//     entry, no metadata key twice, at most one __metadata__;
//   - __metadata__ is null (read as no metadata) or an object whose values
//     are all strings;
//   - each entry has exactly the fields dtype, shape and data_offsets;
//     tensor names are non-empty; dtype is one of the format's names
//     (case-sensitive); dimensions and offsets are non-negative integers
//     below 2^63; data_offsets has two values with begin <= end;
//   - element count and byte size are computed with overflow checks, and
//     end-begin equals the byte size (dtype bits x elements / 8; packed
//     sub-byte tensors must fill whole bytes);
//   - sorted by offset, the tensors tile the data area exactly: they start
//     at 0, follow each other with no gap and no overlap, and the last one
//     ends at the end of the file.
//
// Tensors may appear in the header in any order; header order is kept.
// Scalars (shape []) have one element; tensors with a 0 dimension have
// none and occupy no bytes. Values are never inspected: NaN and Inf are
// data. Parsing never panics, never loops on input, and allocates in
// proportion to the header's size only, never from a number read from it.
//
// Tensor data returned by File.Data is a view into the mapped file with no
// alignment guarantee (old files have odd header lengths): decode it with
// ToFloat32 or encoding/binary, never by casting. As with any mmap reader,
// a file truncated by another process while it is open makes reads of the
// lost pages fault.
//
// For sharded checkpoints, see OpenCheckpoint and ParseIndex.
package safetensors
