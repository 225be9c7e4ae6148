package gguf

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error Parse and Open return for bad file content
// is a *FormatError that matches ErrInvalid with errors.Is; a big-endian
// file additionally matches ErrBigEndian, and a file that is not GGUF at
// all (wrong magic, legacy GGML/GGJT) additionally matches ErrNotGGUF.
// I/O errors from Open (missing file, permission) match neither.
var (
	ErrInvalid   = errors.New("invalid GGUF file")
	ErrBigEndian = errors.New("big-endian GGUF file")
	ErrNotGGUF   = errors.New("not a GGUF file")
)

// FormatError describes what is wrong with a file and where.
type FormatError struct {
	File   string // the name given to Parse, or the path given to Open
	Offset int64  // byte offset of the offending field; -1 when not tied to one
	Where  string // the key or tensor concerned, e.g. `tensor "output.weight"`; may be empty
	Msg    string
	kind   error // ErrBigEndian, ErrNotGGUF or nil
}

// Error formats the error as `file: offset N: where: msg`.
func (e *FormatError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Offset >= 0 {
		fmt.Fprintf(&b, "offset %d: ", e.Offset)
	}
	if e.Where != "" {
		b.WriteString(e.Where)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap makes errors.Is match ErrInvalid and, where it applies,
// ErrBigEndian or ErrNotGGUF.
func (e *FormatError) Unwrap() []error {
	if e.kind != nil {
		return []error{ErrInvalid, e.kind}
	}
	return []error{ErrInvalid}
}
