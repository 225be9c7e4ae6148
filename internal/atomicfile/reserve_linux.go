package atomicfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

func reserve(f *os.File, size int64) error {
	if size == 0 {
		return f.Truncate(0)
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return f.Truncate(size)
	}
	return err
}
