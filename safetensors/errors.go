package safetensors

import (
	"errors"
	"strconv"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every error that reports malformed
// or inconsistent input: a bad header, a bad index, a missing shard. I/O
// errors on the file named by the caller are returned as they are.
var ErrInvalid = errors.New("invalid safetensors input")

// Error describes what is wrong with one input file and, where it applies,
// one tensor. It matches ErrInvalid and unwraps to its cause, if any.
type Error struct {
	Path   string // the file (safetensors file or index) the problem is in
	Tensor string // the tensor concerned, or "" for a file-level problem
	Msg    string // what is wrong
	Err    error  // the underlying cause, or nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	b.WriteString(": ")
	if e.Tensor != "" {
		b.WriteString("tensor ")
		b.WriteString(strconv.Quote(e.Tensor))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns ErrInvalid and the cause, so that errors.Is finds both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}
