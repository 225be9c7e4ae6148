//go:build unix

package mmapfile

import (
	"os"

	"golang.org/x/sys/unix"
)

func mmap(f *os.File, size int) ([]byte, error) {
	return unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
}

func munmap(b []byte) error { return unix.Munmap(b) }

// release drops b's pages from the resident set. MADV_DONTNEED on a shared
// read-only file mapping only unmaps the pages; their contents are reread
// from the page cache (or the file) on the next access. Errors are ignored:
// the advice is an optimization.
func release(b []byte) { _ = unix.Madvise(b, unix.MADV_DONTNEED) }
