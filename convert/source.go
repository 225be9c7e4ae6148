package convert

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/kernels"
	"github.com/qconv/qconv/quantize"
	"github.com/qconv/qconv/safetensors"
)

// Tensor is one tensor of a Source: its shape in ggml order, its stored
// type, and a zero-copy view of its bytes.
type Tensor struct {
	Name string
	// Dims in ggml order: Dims[0] is the row length (the innermost,
	// contiguous dimension). A safetensors [out, in] weight has Dims
	// [in, out].
	Dims []int64
	// Type is the ggml type of the stored bytes. For a safetensors dtype
	// with no ggml equivalent (F8, unsigned integers, BOOL) it is the type
	// the tensor is kept as when it is not quantized: F32 for floats.
	Type gguf.Type
	// DType is the stored type as the source format names it ("F16",
	// "q4_K", "F8_E4M3").
	DType string

	data        []byte
	stDT        safetensors.DType // set for safetensors sources: decoded by safetensors.ToFloat32
	rowLen      int64
	unsupported string // why the tensor cannot be converted, "" when it can
	// rowMap, when set, reorders rows: output row i is stored row
	// rowMap[i] (the Q/K permutation of a Hugging Face llama checkpoint).
	rowMap []int64
	// tile is the tile height of a block-major GGUF tensor (whose Type is
	// then the base type), 0 for row-major storage.
	tile int
	// parts, when set, back a stacked tensor (the experts of a Hugging
	// Face mixture-of-experts layer): its rows are the rows of parts[0],
	// then of parts[1], and so on, each part a tensor of its own (a view
	// of the mapped file) with the same dims, row length and stored type.
	// data is then nil: nothing is copied until rows are read.
	parts []*Tensor
	// transposed, when non-zero, is the element size of a tensor whose
	// stored bytes are its transpose (GPT-2's Conv1D weights, stored [in,
	// out]): stored row r holds element r of every output row, so output
	// row c is stored column c. Rows are gathered when read; nothing is
	// copied at open.
	transposed int64
	// split is the index of the file holding the tensor in a GGUF model
	// split over several files, 0 otherwise; offset is the tensor's data
	// offset in its GGUF file.
	split  int
	offset int64
}

// stackTensors returns the tensor whose rows are the rows of parts one
// after another (concatenated along the outermost dimension, which gains
// a dimension of len(parts)), backed by the parts themselves: nothing is
// copied. The parts must have the same dims and stored type.
func stackTensors(name string, parts []*Tensor) (*Tensor, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("tensor %q: no tensors to stack", name)
	}
	p0 := parts[0]
	for _, p := range parts {
		if p.parts != nil || p.tile != 0 || p.rowMap != nil {
			return nil, fmt.Errorf("tensor %q: cannot stack %q (stacked, tiled or reordered)", name, p.Name)
		}
		if !equalDims(p.Dims, p0.Dims) {
			return nil, fmt.Errorf("tensor %q: %q has shape %s, %q has %s", name, p.Name, hfShape(p.Dims), p0.Name, hfShape(p0.Dims))
		}
		if p.Type != p0.Type || p.stDT != p0.stDT || p.DType != p0.DType {
			return nil, fmt.Errorf("tensor %q: %q is %s, %q is %s", name, p.Name, p.DType, p0.Name, p0.DType)
		}
	}
	t := &Tensor{Name: name, Type: p0.Type, DType: p0.DType, stDT: p0.stDT, rowLen: p0.rowLen,
		parts: slices.Clone(parts)}
	t.Dims = append(slices.Clone(p0.Dims), int64(len(parts)))
	if len(p0.Dims) == 0 {
		t.Dims = []int64{1, int64(len(parts))}
	}
	return t, nil
}

// Parts returns the tensors a stacked tensor is made of, nil for a
// tensor stored in one piece.
func (t *Tensor) Parts() []*Tensor { return t.parts }

// partRows is the number of rows of each part of a stacked tensor.
func (t *Tensor) partRows() int64 { return max(t.parts[0].Rows(), 1) }

// eachPart calls f for the pieces of rows [row0, row0+n) of a stacked
// tensor: part p's rows [r0, r0+k), written at offset done (in rows) of
// the range.
func (t *Tensor) eachPart(row0, n int64, f func(p *Tensor, r0, k, done int64) error) error {
	pr := t.partRows()
	i, r := row0/pr, row0%pr
	for done := int64(0); done < n; i, r = i+1, 0 {
		k := min(n-done, pr-r)
		if err := f(t.parts[i], r, k, done); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// storedBytes is the stored size of the tensor (the sum of its parts'
// for a stacked tensor).
func (t *Tensor) storedBytes() int64 {
	n := int64(len(t.data))
	for _, p := range t.parts {
		n += p.storedBytes()
	}
	return n
}

// Rows is the number of rows (the product of Dims[1:]).
func (t *Tensor) Rows() int64 {
	n := int64(1)
	if len(t.Dims) > 1 {
		for _, d := range t.Dims[1:] {
			n *= d
		}
	}
	return n
}

// RowLen is the number of elements per row.
func (t *Tensor) RowLen() int64 { return t.rowLen }

// Elements is the number of elements.
func (t *Tensor) Elements() int64 { return t.Rows() * t.rowLen }

// Raw returns the stored bytes (a view of the mapped file), in stored row
// order: for a tensor whose rows are reordered (see ReadRows) it is not the
// output order. It is nil for a stacked tensor, whose bytes are its
// Parts' one after another.
func (t *Tensor) Raw() []byte { return t.data }

// rawRows returns the stored bytes of output rows [row0, row0+n): a view
// of the mapped file, or a gathered copy when the rows are reordered or
// span two parts of a stacked tensor.
func (t *Tensor) rawRows(row0, n int64) []byte {
	rb := t.rowBytes()
	if t.parts != nil {
		if pr := t.partRows(); row0%pr+n <= pr {
			return t.parts[row0/pr].rawRows(row0%pr, n)
		}
		out := make([]byte, 0, n*rb)
		t.eachPart(row0, n, func(p *Tensor, r0, k, _ int64) error {
			out = append(out, p.rawRows(r0, k)...)
			return nil
		})
		return out
	}
	if t.tile != 0 {
		return t.untiledRows(row0, n)
	}
	if t.transposed != 0 {
		return t.transposedRows(row0, n)
	}
	if t.rowMap == nil {
		return t.data[row0*rb : (row0+n)*rb]
	}
	out := make([]byte, 0, n*rb)
	for _, r := range t.rowMap[row0 : row0+n] {
		out = append(out, t.data[r*rb:(r+1)*rb]...)
	}
	return out
}

// release hands the resident memory behind output rows [row0, row0+n) of
// t (all of t when n < 0) back to the kernel through rel (Source.release):
// the mapped pages those rows' stored bytes cover, which a later read
// faults back in unchanged. Rows that ReadRows reorders are released only
// with the whole tensor; rows of a block-major tensor are released by
// whole tiles, as tasks read them.
func (t *Tensor) release(rel func([]byte), row0, n int64) {
	if n < 0 {
		row0, n = 0, t.Rows()
	}
	if t.parts != nil {
		t.eachPart(row0, n, func(p *Tensor, r0, k, _ int64) error {
			p.release(rel, r0, k)
			return nil
		})
		return
	}
	if (t.rowMap != nil || t.transposed != 0) && (row0 != 0 || n != t.Rows()) {
		return
	}
	rb := t.rowBytes()
	lo, hi := min(row0*rb, int64(len(t.data))), min((row0+n)*rb, int64(len(t.data)))
	if hi > lo {
		rel(t.data[lo:hi])
	}
}

// transposedRows gathers the bytes of output rows [row0, row0+n) of a
// tensor stored transposed, in blocks of 64 x 64 elements so that both
// sides stay in cache.
func (t *Tensor) transposedRows(row0, n int64) []byte {
	es, rows, cols := t.transposed, t.rowLen, t.Rows()
	out := make([]byte, n*rows*es)
	const blk = 64
	for r0 := int64(0); r0 < rows; r0 += blk {
		for c0 := row0; c0 < row0+n; c0 += blk {
			c1 := min(c0+blk, row0+n)
			for r := r0; r < min(r0+blk, rows); r++ {
				in := t.data[r*cols*es : (r+1)*cols*es]
				for c := c0; c < c1; c++ {
					// stored (row r, column c) -> output (row c, column r)
					o := ((c-row0)*rows + r) * es
					switch es {
					case 2:
						binary.LittleEndian.PutUint16(out[o:], binary.LittleEndian.Uint16(in[c*2:]))
					case 4:
						binary.LittleEndian.PutUint32(out[o:], binary.LittleEndian.Uint32(in[c*4:]))
					default:
						copy(out[o:o+es], in[c*es:(c+1)*es])
					}
				}
			}
		}
	}
	return out
}

// rowBytes is the stored size of one row.
func (t *Tensor) rowBytes() int64 {
	if t.parts != nil {
		return t.parts[0].rowBytes()
	}
	return int64(len(t.data)) / max(t.Rows(), 1)
}

// Check returns an error when the tensor cannot be written to a GGUF at
// all (a safetensors dtype with no ggml equivalent).
func (t *Tensor) Check() error {
	if t.unsupported != "" {
		return fmt.Errorf("tensor %q: %s", t.Name, t.unsupported)
	}
	for _, p := range t.parts {
		if err := p.Check(); err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// Decodable reports whether ReadRows can produce float32 values.
func (t *Tensor) Decodable() bool {
	if t.unsupported != "" {
		return false
	}
	if t.parts != nil {
		for _, p := range t.parts {
			if !p.Decodable() {
				return false
			}
		}
		return true
	}
	if t.stDT != 0 {
		return true
	}
	tr, ok := quantize.Lookup(t.Type)
	return ok && tr.DequantizeRow != nil
}

// ReadRows decodes rows [row0, row0+n) into dst as float32; len(dst) must be
// n*RowLen(). Rows come in output order, which differs from the stored
// order for reordered tensors.
func (t *Tensor) ReadRows(row0, n int64, dst []float32) error {
	if row0 < 0 || n < 0 || row0+n > t.Rows() || int64(len(dst)) != n*t.rowLen {
		return fmt.Errorf("tensor %q: rows [%d,%d) out of range or buffer of %d values", t.Name, row0, row0+n, len(dst))
	}
	if t.parts != nil {
		return t.eachPart(row0, n, func(p *Tensor, r0, k, done int64) error {
			return p.ReadRows(r0, k, dst[done*t.rowLen:(done+k)*t.rowLen])
		})
	}
	if t.rowMap != nil {
		for i, r := range t.rowMap[row0 : row0+n] {
			if err := t.readStored(r, 1, dst[int64(i)*t.rowLen:int64(i+1)*t.rowLen]); err != nil {
				return err
			}
		}
		return nil
	}
	return t.readStored(row0, n, dst)
}

// readStored decodes stored rows [row0, row0+n).
func (t *Tensor) readStored(row0, n int64, dst []float32) error {
	rb := t.rowBytes()
	var src []byte
	switch {
	case t.tile != 0:
		src = t.untiledRows(row0, n)
	case t.transposed != 0:
		src = t.transposedRows(row0, n)
	default:
		src = t.data[row0*rb : (row0+n)*rb]
	}
	if t.stDT != 0 {
		if err := safetensors.ToFloat32(dst, src, t.stDT); err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		return nil
	}
	if err := quantize.Dequantize(t.Type, dst, src); err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return nil
}

// Source is an opened input model: a GGUF file, a safetensors file, a
// sharded safetensors index or a checkpoint directory. Its tensors are
// views of memory-mapped files, valid until Close.
type Source struct {
	Path    string
	Format  string // "gguf" or "safetensors"
	Tensors []*Tensor
	// KVs is the metadata to carry into the output: a GGUF input's
	// key-value pairs, or a safetensors input's __metadata__ as strings.
	KVs []gguf.KV
	// GGUF is the input file when Format is "gguf" (the first file, which
	// holds the metadata, of a model split over several files).
	GGUF *gguf.File
	// ggufSplits are all the files of a GGUF input, in split order (just
	// GGUF when it is not split).
	ggufSplits []*gguf.File
	// Checkpoint is the input when Format is "safetensors".
	Checkpoint *safetensors.Checkpoint
	// Files are the paths of every file the source reads (shards included),
	// so an output never overwrites one of them.
	Files []string
	// Warnings are problems found while opening the input that do not stop
	// the conversion but that the user should see (a Hugging Face
	// tokenizer whose pre-tokenizer qconv does not recognize, ...), one
	// sentence each.
	Warnings []string
}

// KV returns the value of a metadata key of the source.
func (s *Source) KV(key string) (gguf.Value, bool) {
	if s.GGUF != nil {
		return s.GGUF.KV(key)
	}
	for _, kv := range s.KVs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return gguf.Value{}, false
}

// SourceOptions control how OpenSourceWith reads an input.
type SourceOptions struct {
	// Raw keeps a checkpoint directory's tensor names and metadata as
	// they are, skipping the architecture handling of OpenHF.
	Raw bool
}

// OpenSource opens path as a model input, detecting the format from the
// file's first bytes (a directory or .json index is a safetensors
// checkpoint). A directory with a config.json is a Hugging Face checkpoint,
// read by OpenHF.
func OpenSource(path string) (*Source, error) { return OpenSourceWith(path, SourceOptions{}) }

// OpenSourceWith is OpenSource with options.
func OpenSourceWith(path string, o SourceOptions) (*Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() && !o.Raw {
		if _, err := os.Stat(filepath.Join(path, "config.json")); err == nil {
			return OpenHF(path)
		}
	}
	if !st.IsDir() && filepath.Ext(path) != ".json" {
		isGGUF, err := hasGGUFMagic(path)
		if err != nil {
			return nil, err
		}
		if isGGUF {
			return openGGUFSource(path)
		}
	}
	return openSafetensorsSource(path)
}

func hasGGUFMagic(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var magic [4]byte
	n, _ := f.Read(magic[:])
	return n == 4 && bytes.Equal(magic[:], []byte("GGUF")), nil
}

func openGGUFSource(path string) (*Source, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	files := []*gguf.File{f}
	if n, ok := f.Uint(keySplitCount); ok && n > 1 {
		if files, err = openGGUFSplits(path, f, n); err != nil {
			f.Close()
			return nil, err
		}
	}
	s := &Source{Path: path, Format: "gguf", GGUF: files[0], KVs: files[0].KVs(), ggufSplits: files}
	seen := map[string]string{}
	for k, f := range files {
		s.Files = append(s.Files, f.Name())
		for i, ti := range f.Tensors() {
			if other, dup := seen[ti.Name]; dup {
				s.Close()
				return nil, fmt.Errorf("%s: tensor %q is also in %s", f.Name(), ti.Name, other)
			}
			seen[ti.Name] = f.Name()
			t := &Tensor{Name: ti.Name, Dims: ti.Dims, Type: ti.Type, DType: ti.Type.String(), data: f.TensorData(i), split: k, offset: ti.Offset}
			if base, r, ok := ti.Type.Tiled(); ok {
				if !kernels.Tileable(base) {
					s.Close()
					return nil, fmt.Errorf("%s: tensor %q: block-major type %s is not one this build knows how to read", f.Name(), ti.Name, ti.Type)
				}
				t.Type, t.tile = base, r
			}
			t.rowLen = 1
			if len(ti.Dims) > 0 {
				t.rowLen = ti.Dims[0]
			}
			s.Tensors = append(s.Tensors, t)
		}
	}
	if len(files) > 1 {
		if want, ok := files[0].Int(keySplitTensors); ok && want != int64(len(s.Tensors)) {
			s.Close()
			return nil, fmt.Errorf("%s: %s is %d but the %d splits hold %d tensors", files[0].Name(), keySplitTensors, want, len(files), len(s.Tensors))
		}
	}
	return s, nil
}

// The keys of a GGUF model split over several files (llama.cpp's
// gguf-split and llama-quantize --keep-split): every file has them, the
// first also holds the model's metadata.
const (
	keySplitNo      = "split.no"
	keySplitCount   = "split.count"
	keySplitTensors = "split.tensors.count"
)

// splitName matches llama.cpp's split file names, PREFIX-00001-of-00003.gguf
// (split numbers from 1 in the name, from 0 in split.no).
var splitName = regexp.MustCompile(`^(.*)-([0-9]{5})-of-([0-9]{5})\.gguf$`)

// SplitPath is the name of split i (from 0) of n of a GGUF model written
// with prefix, as llama.cpp names them: PREFIX-00001-of-00003.gguf.
func SplitPath(prefix string, i, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.gguf", prefix, i+1, n)
}

// openGGUFSplits opens every file of a split GGUF model, of which f (at
// path) is one, in split order. Any of the files may be named: the others
// are found by llama.cpp's naming rule, and each must declare the same
// split count and its own position.
func openGGUFSplits(path string, f *gguf.File, n uint64) ([]*gguf.File, error) {
	no, ok := f.Uint(keySplitNo)
	if !ok {
		return nil, fmt.Errorf("%s: %s is %d but %s is missing", path, keySplitCount, n, keySplitNo)
	}
	m := splitName.FindStringSubmatch(path)
	if m == nil || m[3] != fmt.Sprintf("%05d", n) || m[2] != fmt.Sprintf("%05d", no+1) {
		return nil, fmt.Errorf("%s: split %d of %d, but the name is not PREFIX-%05d-of-%05d.gguf, so the other splits cannot be found", path, no+1, n, no+1, n)
	}
	if no >= n {
		return nil, fmt.Errorf("%s: %s %d is not below %s %d", path, keySplitNo, no, keySplitCount, n)
	}
	files := make([]*gguf.File, n)
	files[no] = f
	fail := func(err error) ([]*gguf.File, error) {
		for i, g := range files {
			if g != nil && uint64(i) != no {
				g.Close()
			}
		}
		return nil, err
	}
	for i := range files {
		if files[i] != nil {
			continue
		}
		p := SplitPath(m[1], i, int(n))
		g, err := gguf.Open(p)
		if err != nil {
			return fail(fmt.Errorf("split %d of %d of %s: %w", i+1, n, path, err))
		}
		files[i] = g
		if c, _ := g.Uint(keySplitCount); c != n {
			return fail(fmt.Errorf("%s: %s is %d, but %s says %d", p, keySplitCount, c, path, n))
		}
		if k, ok := g.Uint(keySplitNo); !ok || k != uint64(i) {
			return fail(fmt.Errorf("%s: %s is %d, want %d for the name", p, keySplitNo, k, i))
		}
	}
	return files, nil
}

// keepTypes maps the safetensors dtypes that ggml stores as they are.
var keepTypes = map[safetensors.DType]gguf.Type{
	safetensors.F32:  gguf.TypeF32,
	safetensors.F16:  gguf.TypeF16,
	safetensors.BF16: gguf.TypeBF16,
	safetensors.F64:  gguf.TypeF64,
	safetensors.I8:   gguf.TypeI8,
	safetensors.I16:  gguf.TypeI16,
	safetensors.I32:  gguf.TypeI32,
	safetensors.I64:  gguf.TypeI64,
}

func openSafetensorsSource(path string) (*Source, error) {
	c, err := safetensors.OpenCheckpoint(path)
	if err != nil {
		return nil, err
	}
	s := &Source{Path: path, Format: "safetensors", Checkpoint: c}
	for _, f := range c.Files() {
		s.Files = append(s.Files, f.Path())
	}
	meta := c.Metadata()
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s.KVs = append(s.KVs, gguf.KV{Key: k, Value: gguf.String(meta[k])})
	}
	for _, st := range c.Tensors() {
		data, err := c.Data(st.Name)
		if err != nil {
			c.Close()
			return nil, err
		}
		t := &Tensor{Name: st.Name, DType: st.DType.String(), data: data, stDT: st.DType}
		t.Dims = make([]int64, len(st.Shape))
		for i, d := range st.Shape {
			t.Dims[len(st.Shape)-1-i] = d
		}
		t.rowLen = 1
		if len(t.Dims) > 0 {
			t.rowLen = t.Dims[0]
		}
		switch gt, ok := keepTypes[st.DType]; {
		case ok:
			t.Type = gt
		case st.DType.IsFloat():
			t.Type = gguf.TypeF32 // F8 and other floats widen to F32 when kept
		default:
			t.unsupported = fmt.Sprintf("dtype %s has no GGUF equivalent", st.DType)
		}
		s.Tensors = append(s.Tensors, t)
	}
	return s, nil
}

// release drops the pages of b, a view of one of the source's mapped
// files, from the resident set; it does nothing for bytes elsewhere.
func (s *Source) release(b []byte) {
	for _, f := range s.ggufSplits {
		f.Release(b)
	}
	if s.Checkpoint != nil {
		s.Checkpoint.Release(b)
	}
}

// Release hands the resident memory behind rows [row0, row0+n) of tensor
// t, one of s.Tensors (all of t when n < 0), back to the kernel once a
// reader is done with them: their mapped pages leave the resident set (the
// page cache keeps them; reading them again faults them back in
// unchanged). Bytes that are not mapped are left alone, and rows that
// ReadRows reorders or gathers are released only with the whole tensor.
func (s *Source) Release(t *Tensor, row0, n int64) { t.release(s.release, row0, n) }

// Close releases the mapped files.
func (s *Source) Close() error {
	var errs []error
	for _, f := range s.ggufSplits {
		errs = append(errs, f.Close())
	}
	if s.Checkpoint != nil {
		errs = append(errs, s.Checkpoint.Close())
	}
	return errors.Join(errs...)
}
