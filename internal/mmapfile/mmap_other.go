//go:build !unix

package mmapfile

import (
	"errors"
	"os"
)

func mmap(f *os.File, size int) ([]byte, error) { return nil, errors.ErrUnsupported }

func munmap(b []byte) error { return nil }

func release(b []byte) {}
