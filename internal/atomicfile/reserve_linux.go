package atomicfile

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// reserve checks that the file system has room for size bytes, so a full
// disk is reported before any work, then sizes the file (sparsely: writing
// into preallocated extents measured slower than plain writes).
func reserve(f *os.File, size int64) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err == nil {
		free := int64(st.Bavail) * int64(st.Bsize)
		if st.Bavail < 1<<62/uint64(max(st.Bsize, 1)) && free < size {
			return fmt.Errorf("%w: need %d bytes, %d available", unix.ENOSPC, size, free)
		}
	}
	return f.Truncate(size)
}
