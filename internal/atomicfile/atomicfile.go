// Package atomicfile writes an output file so that it appears under its
// final name only when complete: data goes to a temporary file in the same
// directory, which is synced and renamed over the final name on Commit and
// removed on Abort. An interrupted or failed run leaves nothing under the
// final name.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrExists is returned by Create when the output exists and Force is off.
var ErrExists = errors.New("output file exists (use --force to overwrite)")

// ErrSameAsInput is returned by Create when the output is one of the inputs.
var ErrSameAsInput = errors.New("output is the same file as an input")

// Options control Create.
type Options struct {
	Force  bool     // replace an existing output
	Inputs []string // paths that must not be overwritten (also via another name of the same file)
	Perm   os.FileMode
}

// File is an output being written. It embeds the temporary *os.File, so
// Write and WriteAt go to the temporary file.
type File struct {
	*os.File
	final string
	done  bool
}

// Create starts writing final.
func Create(final string, o Options) (*File, error) {
	abs, err := filepath.Abs(final)
	if err != nil {
		return nil, err
	}
	st, statErr := os.Stat(abs)
	for _, in := range o.Inputs {
		inAbs, err := filepath.Abs(in)
		if err == nil && inAbs == abs {
			return nil, fmt.Errorf("%s: %w", final, ErrSameAsInput)
		}
		if statErr == nil {
			if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
				return nil, fmt.Errorf("%s: %w %s", final, ErrSameAsInput, in)
			}
		}
	}
	if statErr == nil {
		if st.IsDir() {
			return nil, fmt.Errorf("%s: is a directory", final)
		}
		if !o.Force {
			return nil, fmt.Errorf("%s: %w", final, ErrExists)
		}
	}
	dir, base := filepath.Split(abs)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("creating temporary file for %s: %w", final, err)
	}
	perm := o.Perm
	if perm == 0 {
		perm = 0o644
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return &File{File: tmp, final: abs}, nil
}

// Final is the name the file gets on Commit.
func (f *File) Final() string { return f.final }

// Reserve makes the temporary file size bytes long (zero-filled). On Linux
// it first checks the free space, so that a disk too small for the output
// is reported before any work rather than halfway through the data.
func (f *File) Reserve(size int64) error {
	if err := reserve(f.File, size); err != nil {
		return fmt.Errorf("reserving %d bytes for %s: %w", size, f.final, err)
	}
	return nil
}

// Commit syncs the data, renames the temporary file to the final name and
// syncs the directory. After an error the temporary file is removed.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: already committed or aborted")
	}
	f.done = true
	tmp := f.File.Name()
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", f.final, err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", f.final, err)
	}
	if err := os.Rename(tmp, f.final); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(f.final)); err == nil {
		d.Sync() // best effort: not every file system can sync a directory
		d.Close()
	}
	return nil
}

// Abort closes and removes the temporary file. It is safe to call after
// Commit (it then does nothing), so callers can defer it.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	f.File.Close()
	return os.Remove(f.File.Name())
}
