package safetensors

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Standard file names of a Hugging Face checkpoint directory.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// Checkpoint is a set of safetensors files read as one: a single file, or
// the shards of a sharded checkpoint listed by its index. Tensor names are
// unique across the whole checkpoint.
type Checkpoint struct {
	path    string
	index   *Index  // nil for a single file
	files   []*File // shards in file-name order
	tensors []Tensor
	where   map[string]int // tensor name -> index into files
}

// OpenCheckpoint opens a checkpoint from path, which may be:
//   - a directory holding model.safetensors.index.json (sharded) or
//     model.safetensors (single file); holding both, or neither, is an error
//     that says what the directory contains;
//   - a file whose name ends in ".json": a sharded index;
//   - any other file: a single safetensors file.
//
// For a sharded checkpoint every shard the index names is opened and
// validated, and the index and the shards must agree exactly: each tensor
// the index lists must be in the shard it names, a tensor may appear in one
// shard only, and a tensor in a shard but missing from the index is an
// error too (the index is the checkpoint's table of contents; a loader that
// trusted only one of them would see a different model). Shard names in the
// index must be plain file names in the index's directory; the files
// themselves may be symbolic links (as in the Hugging Face cache).
func OpenCheckpoint(path string) (*Checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if strings.HasSuffix(path, ".json") {
			return openSharded(path)
		}
		return openSingle(path)
	}
	index := filepath.Join(path, IndexFileName)
	single := filepath.Join(path, SingleFileName)
	hasIndex, hasSingle := isFile(index), isFile(single)
	switch {
	case hasIndex && hasSingle:
		return nil, &Error{Path: path, Msg: fmt.Sprintf(
			"directory holds both %s and %s; open one of them directly", IndexFileName, SingleFileName)}
	case hasIndex:
		return openSharded(index)
	case hasSingle:
		return openSingle(single)
	}
	msg := fmt.Sprintf("directory holds neither %s nor %s", IndexFileName, SingleFileName)
	if others := candidates(path); len(others) > 0 {
		msg += fmt.Sprintf("; it has %s: open one of them directly", strings.Join(others, ", "))
	} else {
		msg += " and no other .safetensors file"
	}
	return nil, &Error{Path: path, Msg: msg}
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// candidates lists (up to 5) safetensors files and indexes in dir.
func candidates(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasSuffix(n, ".safetensors") || strings.HasSuffix(n, ".safetensors.index.json") {
			if len(out) == 5 {
				return append(out, "...")
			}
			out = append(out, n)
		}
	}
	return out
}

func openSingle(path string) (*Checkpoint, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{path: path, files: []*File{f}, tensors: f.h.tensors, where: map[string]int{}}
	for _, t := range f.h.tensors {
		c.where[t.Name] = 0
	}
	return c, nil
}

func openSharded(indexPath string) (*Checkpoint, error) {
	data, err := readIndex(indexPath)
	if err != nil {
		return nil, err
	}
	ix, err := ParseIndex(data, indexPath)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{path: indexPath, index: ix, where: map[string]int{}}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	dir := filepath.Dir(indexPath)
	shards := ix.Shards()
	for _, shard := range shards {
		f, err := Open(filepath.Join(dir, shard))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, &Error{Path: indexPath, Msg: fmt.Sprintf("shard %q (holding tensor %q) is missing",
					shard, firstTensorIn(ix, shard)), Err: err}
			}
			return nil, err
		}
		c.files = append(c.files, f)
	}
	for i, f := range c.files {
		for _, t := range f.h.tensors {
			if j, dup := c.where[t.Name]; dup {
				return nil, &Error{Path: f.path, Tensor: t.Name, Msg: fmt.Sprintf(
					"tensor is also in shard %q", shards[j])}
			}
			listed, found := ix.WeightMap[t.Name]
			if !found {
				return nil, &Error{Path: f.path, Tensor: t.Name, Msg: fmt.Sprintf(
					"tensor is not listed in the index %s", filepath.Base(indexPath))}
			}
			if listed != shards[i] {
				return nil, &Error{Path: f.path, Tensor: t.Name, Msg: fmt.Sprintf(
					"the index lists this tensor in shard %q", listed)}
			}
			c.where[t.Name] = i
			c.tensors = append(c.tensors, t)
		}
	}
	for _, name := range ix.Names {
		if _, found := c.where[name]; !found {
			return nil, &Error{Path: indexPath, Tensor: name, Msg: fmt.Sprintf(
				"listed in shard %q, which does not contain it", ix.WeightMap[name])}
		}
	}
	ok = true
	return c, nil
}

func readIndex(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxIndexSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil // ParseIndex rejects more than MaxIndexSize
}

func firstTensorIn(ix *Index, shard string) string {
	for _, n := range ix.Names {
		if ix.WeightMap[n] == shard {
			return n
		}
	}
	return ""
}

// Path returns the path that was opened: the index of a sharded checkpoint
// (also when opened through its directory) or the single file.
func (c *Checkpoint) Path() string { return c.path }

// Index returns the parsed index of a sharded checkpoint, or nil for a
// single file.
func (c *Checkpoint) Index() *Index { return c.index }

// Files returns the checkpoint's files: shards in file-name order.
func (c *Checkpoint) Files() []*File { return slices.Clone(c.files) }

// Tensors returns all tensors: shard by shard in file-name order, each
// shard's in header order. Offsets are relative to the tensor's own file.
func (c *Checkpoint) Tensors() []Tensor { return slices.Clone(c.tensors) }

// Tensor returns the tensor called name.
func (c *Checkpoint) Tensor(name string) (Tensor, bool) {
	if f := c.File(name); f != nil {
		return f.Tensor(name)
	}
	return Tensor{}, false
}

// File returns the file holding the tensor called name, or nil.
func (c *Checkpoint) File(name string) *File {
	i, ok := c.where[name]
	if !ok {
		return nil
	}
	return c.files[i]
}

// Data returns the bytes of the tensor called name, a zero-copy view valid
// until Close (see File.Data).
func (c *Checkpoint) Data(name string) ([]byte, error) {
	f := c.File(name)
	if f == nil {
		return nil, fmt.Errorf("%s: no tensor %q", c.path, name)
	}
	return f.Data(name)
}

// Metadata returns a copy of the __metadata__ of the first file (shards in
// file-name order), or nil when it has none. Hugging Face writes the same
// map into every shard; use Files to read each shard's own.
func (c *Checkpoint) Metadata() map[string]string {
	if len(c.files) == 0 {
		return nil
	}
	return maps.Clone(c.files[0].h.meta)
}

// Release drops the memory pages inside b, a slice returned by Data, from
// the process's resident set (see File.Release).
func (c *Checkpoint) Release(b []byte) {
	for _, f := range c.files {
		f.Release(b)
	}
}

// Close closes every file and returns the first error.
func (c *Checkpoint) Close() error {
	var first error
	for _, f := range c.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
