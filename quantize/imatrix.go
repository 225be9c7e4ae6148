package quantize

// Importance matrix (imatrix) files, as written by llama-imatrix and read by
// llama-quantize --imatrix.
//
// Two formats exist and ReadImatrix tells them apart by content: a file
// starting with the GGUF magic is a GGUF imatrix, anything else is the
// legacy .dat format.
//
// Legacy .dat (all integers little-endian int32, floats little-endian f32):
//
//	n_entries
//	n_entries times: name_len, name[name_len], ncall, nval, values[nval]
//	optional trailer: chunk_count, then dataset_len and dataset[dataset_len]
//
// GGUF imatrix (general.type = "imatrix"): metadata imatrix.datasets
// (array of strings), imatrix.chunk_count and imatrix.chunk_size (u32),
// and per weight tensor NAME two F32 tensors: NAME.in_sum2 with shape
// [n_per_row, n_experts] (sums of squared activations per column and
// expert) and NAME.counts with shape [1, n_experts] (how many activation
// rows each expert saw). Other tensors (NAME.in_sum, ...) are ignored.
//
// The vectors kept in Imatrix.Entries are exactly those llama-quantize
// hands to ggml_quantize_chunk (tools/quantize/quantize.cpp load_imatrix
// with common/imatrix-loader.cpp, llama.cpp PR #22445):
//
//   - legacy: value = stored / float32(ncall) when ncall > 0 (one f32
//     division; the int is converted to float first), the stored value
//     itself when ncall == 0;
//   - GGUF, per expert j: c = float32(lround(counts[j])) (the f32 count is
//     rounded half away from zero to an integer); value = in_sum2 / c (one
//     f32 division) when c > 0, and 1 for every column of an expert whose
//     rounded count is 0 (an expert that never saw input).
//
// Validation is stricter than llama-quantize, which trusts its input:
// every length and count is checked against the bytes left before it
// drives an allocation; negative counts and lengths, duplicate or empty
// names, NUL bytes in names, trailing garbage, non-finite final values,
// missing or malformed partner tensors and missing metadata are errors
// that name the file and the entry.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/internal/mmapfile"
)

// Imatrix file formats (Imatrix.Format).
const (
	ImatrixFormatDat  = "dat"
	ImatrixFormatGGUF = "gguf"
)

// Metadata keys of GGUF imatrix files.
const (
	KeyImatrixDatasets   = "imatrix.datasets"
	KeyImatrixChunkCount = "imatrix.chunk_count"
	KeyImatrixChunkSize  = "imatrix.chunk_size"
)

// Metadata keys llama-quantize writes into a model quantized with an
// imatrix.
const (
	KeyQuantizeImatrixFile         = "quantize.imatrix.file"
	KeyQuantizeImatrixDataset      = "quantize.imatrix.dataset"
	KeyQuantizeImatrixEntriesCount = "quantize.imatrix.entries_count"
	KeyQuantizeImatrixChunksCount  = "quantize.imatrix.chunks_count"
)

// llama-quantize copies the file path and dataset name into fixed 128-byte
// override buffers with strncpy(..., 127), so longer strings are cut.
const quantizeKVStringMax = 127

// ErrInvalidImatrix matches (errors.Is) every error about the content of an
// imatrix file.
var ErrInvalidImatrix = errors.New("invalid imatrix file")

// ErrImatrixSize matches (errors.Is) the error For returns when an entry's
// length does not fit the tensor. llama-quantize treats it as fatal for
// every tensor except token_embd.weight, which it then quantizes without
// an imatrix.
var ErrImatrixSize = errors.New("imatrix size mismatch")

// ImatrixError describes what is wrong with an imatrix file and where.
type ImatrixError struct {
	File   string // path or name of the file
	Offset int64  // byte offset of the offending field (legacy format); -1 when not tied to one
	Index  int    // entry number in the file (legacy format); -1 when not tied to one
	Entry  string // entry (tensor) name; empty when unknown or not tied to one
	Msg    string
	Err    error // underlying error (a gguf.FormatError), may be nil
}

// Error formats the error as `imatrix FILE: offset N: entry I "NAME": msg`
// (parts that do not apply are left out).
func (e *ImatrixError) Error() string {
	var b strings.Builder
	b.WriteString("imatrix ")
	b.WriteString(e.File)
	b.WriteString(": ")
	if e.Offset >= 0 {
		fmt.Fprintf(&b, "offset %d: ", e.Offset)
	}
	switch {
	case e.Index >= 0 && e.Entry != "":
		fmt.Fprintf(&b, "entry %d %q: ", e.Index, e.Entry)
	case e.Index >= 0:
		fmt.Fprintf(&b, "entry %d: ", e.Index)
	case e.Entry != "":
		fmt.Fprintf(&b, "entry %q: ", e.Entry)
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		if e.Msg != "" {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap makes errors.Is match ErrInvalidImatrix and the underlying error.
func (e *ImatrixError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidImatrix, e.Err}
	}
	return []error{ErrInvalidImatrix}
}

// Imatrix is a loaded importance matrix.
type Imatrix struct {
	Path   string // the path given to ReadImatrix (the name given to Parse*)
	Format string // ImatrixFormatDat or ImatrixFormatGGUF

	// Entries maps a weight tensor name to its importance vector: n_per_row
	// values per expert, experts one after the other, already scaled as
	// llama-quantize scales them (see the package comment above).
	Entries map[string][]float32
	// Names lists the entry names in file order (for GGUF, the order in
	// which each name's first tensor appears). Filter keeps it in sync
	// with Entries.
	Names []string
	// Experts is the expert count (ne1 of NAME.in_sum2) of GGUF entries;
	// legacy files do not record it, so their entries are absent here.
	Experts map[string]int

	// Datasets are the calibration dataset names: GGUF imatrix.datasets;
	// the legacy trailer's single name, when present and non-empty.
	Datasets []string
	// ChunkCount is the number of chunks the imatrix was computed on
	// (GGUF imatrix.chunk_count, legacy trailer); 0 when unknown.
	ChunkCount int
	// ChunkSize is GGUF imatrix.chunk_size (tokens per chunk); 0 for
	// legacy files.
	ChunkSize int
}

// ReadImatrix reads an imatrix file in either format, detected by content.
func ReadImatrix(path string) (*Imatrix, error) {
	m, err := mmapfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imatrix: %w", err)
	}
	defer m.Close()
	// Everything kept is copied out of the mapping, so closing it after
	// parsing is safe.
	return ParseImatrix(m.Data(), path)
}

// ParseImatrix parses an imatrix file held in data, in either format. name
// is used as Imatrix.Path and in error messages.
func ParseImatrix(data []byte, name string) (*Imatrix, error) {
	if len(data) >= 4 && string(data[:4]) == gguf.Magic {
		f, err := gguf.Parse(data, name)
		if err != nil {
			return nil, &ImatrixError{File: name, Offset: -1, Index: -1, Msg: "GGUF imatrix", Err: err}
		}
		return ImatrixFromGGUF(f)
	}
	return ParseImatrixDat(data, name)
}

// datReader reads the legacy format with bounds checks.
type datReader struct {
	b     []byte
	off   int64
	name  string
	index int // entry being read; -1 outside entries
}

func (r *datReader) left() int64 { return int64(len(r.b)) - r.off }

func (r *datReader) fail(off int64, entry, format string, args ...any) error {
	return &ImatrixError{File: r.name, Offset: off, Index: r.index, Entry: entry, Msg: fmt.Sprintf(format, args...)}
}

// i32 reads one int32; what names the field for the truncation error.
func (r *datReader) i32(entry, what string) (int32, error) {
	if r.left() < 4 {
		return 0, r.fail(r.off, entry, "truncated: %s needs 4 bytes, %d left", what, r.left())
	}
	v := int32(binary.LittleEndian.Uint32(r.b[r.off:]))
	r.off += 4
	return v, nil
}

// str reads a name of n bytes, which must be there, contain no NUL and
// (unless allowEmpty) not be empty.
func (r *datReader) str(n int32, entry, what string) (string, error) {
	at := r.off - 4 // the length field
	if n < 0 {
		return "", r.fail(at, entry, "negative %s length %d", what, n)
	}
	if int64(n) > r.left() {
		return "", r.fail(at, entry, "truncated: %s length %d exceeds the %d bytes left", what, n, r.left())
	}
	s := r.b[r.off : r.off+int64(n)]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		return "", r.fail(r.off+int64(i), entry, "%s %q contains a NUL byte at %d", what, s, i)
	}
	r.off += int64(n)
	return string(s), nil
}

// ParseImatrixDat parses a legacy .dat imatrix held in data. name is used
// as Imatrix.Path and in error messages. It never panics and allocates at
// most a small multiple of len(data).
func ParseImatrixDat(data []byte, name string) (*Imatrix, error) {
	r := &datReader{b: data, name: name, index: -1}
	nEntries, err := r.i32("", "entry count")
	if err != nil {
		return nil, err
	}
	if nEntries < 1 {
		return nil, r.fail(0, "", "entry count %d: the file has no entries", nEntries)
	}
	// Preallocate for no more entries than the bytes left can hold (the
	// smallest entry: name length, one name byte, ncall, nval, one value);
	// a larger count fails on the first entry that is not there.
	const minEntry = 4 + 1 + 4 + 4 + 4
	capacity := int(min(int64(nEntries), r.left()/minEntry))
	im := &Imatrix{
		Path:    name,
		Format:  ImatrixFormatDat,
		Entries: make(map[string][]float32, capacity),
		Names:   make([]string, 0, capacity),
	}
	for i := range int(nEntries) {
		r.index = i
		nameLen, err := r.i32("", "name length")
		if err != nil {
			return nil, err
		}
		if nameLen == 0 {
			return nil, r.fail(r.off-4, "", "empty entry name")
		}
		entry, err := r.str(nameLen, "", "entry name")
		if err != nil {
			return nil, err
		}
		if _, dup := im.Entries[entry]; dup {
			return nil, r.fail(r.off-int64(nameLen), entry, "duplicate entry name")
		}
		ncallAt := r.off
		ncall, err := r.i32(entry, "ncall")
		if err != nil {
			return nil, err
		}
		if ncall < 0 {
			return nil, r.fail(ncallAt, entry, "negative ncall %d", ncall)
		}
		nvalAt := r.off
		nval, err := r.i32(entry, "value count")
		if err != nil {
			return nil, err
		}
		if nval < 1 {
			return nil, r.fail(nvalAt, entry, "value count %d, must be at least 1", nval)
		}
		if int64(nval) > r.left()/4 {
			return nil, r.fail(nvalAt, entry, "truncated: %d values need %d bytes, %d left", nval, int64(nval)*4, r.left())
		}
		vals := make([]float32, nval)
		raw := r.b[r.off : r.off+4*int64(nval)]
		div := float32(ncall)
		for k := range vals {
			v := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
			if ncall > 0 {
				v /= div
			}
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, r.fail(r.off+4*int64(k), entry, "value %d is not finite (%v)", k, v)
			}
			vals[k] = v
		}
		r.off += 4 * int64(nval)
		im.Entries[entry] = vals
		im.Names = append(im.Names, entry)
	}

	r.index = -1
	// Optional trailer: chunk count, then the dataset name. llama-imatrix
	// writes both; a chunk count alone is accepted as llama-quantize does.
	if r.left() == 0 {
		return im, nil
	}
	chunksAt := r.off
	chunks, err := r.i32("", "trailer chunk count")
	if err != nil {
		return nil, err
	}
	if chunks < 0 {
		return nil, r.fail(chunksAt, "", "negative chunk count %d in the trailer", chunks)
	}
	im.ChunkCount = int(chunks)
	if r.left() == 0 {
		return im, nil
	}
	dsLen, err := r.i32("", "trailer dataset name length")
	if err != nil {
		return nil, err
	}
	ds, err := r.str(dsLen, "", "dataset name")
	if err != nil {
		return nil, err
	}
	if ds != "" {
		im.Datasets = []string{ds}
	}
	if r.left() != 0 {
		return nil, r.fail(r.off, "", "%d unexpected bytes after the trailer", r.left())
	}
	return im, nil
}

// ImatrixFromGGUF reads the imatrix held in a parsed GGUF file. The values
// are copied; f may be closed afterwards.
func ImatrixFromGGUF(f *gguf.File) (*Imatrix, error) {
	name := f.Name()
	fail := func(entry, format string, args ...any) error {
		return &ImatrixError{File: name, Offset: -1, Index: -1, Entry: entry, Msg: fmt.Sprintf(format, args...)}
	}
	if t, ok := f.KV("general.type"); ok {
		if s, isStr := t.Interface().(string); !isStr || s != "imatrix" {
			return nil, fail("", "general.type is %v, not \"imatrix\": not an imatrix file", t.Interface())
		}
	}

	im := &Imatrix{Path: name, Format: ImatrixFormatGGUF}
	for _, key := range []string{KeyImatrixDatasets, KeyImatrixChunkCount, KeyImatrixChunkSize} {
		if _, ok := f.KV(key); !ok {
			return nil, fail("", "missing imatrix metadata key %s (needs %s, %s and %s)", key, KeyImatrixDatasets, KeyImatrixChunkCount, KeyImatrixChunkSize)
		}
	}
	ds, ok := f.Strings(KeyImatrixDatasets)
	if !ok {
		v, _ := f.KV(KeyImatrixDatasets)
		return nil, fail("", "%s must be an array of strings, not %s", KeyImatrixDatasets, v.Type())
	}
	im.Datasets = append([]string(nil), ds...)
	cc, ok := f.Uint32(KeyImatrixChunkCount)
	if !ok {
		v, _ := f.KV(KeyImatrixChunkCount)
		return nil, fail("", "%s must be u32, not %s", KeyImatrixChunkCount, v.Type())
	}
	cs, ok := f.Uint32(KeyImatrixChunkSize)
	if !ok {
		v, _ := f.KV(KeyImatrixChunkSize)
		return nil, fail("", "%s must be u32, not %s", KeyImatrixChunkSize, v.Type())
	}
	// llama.cpp keeps both in an int32.
	im.ChunkCount = int(int32(cc))
	im.ChunkSize = int(int32(cs))

	const sumsSuffix, countsSuffix = ".in_sum2", ".counts"
	type pair struct{ sums, counts int }
	pairs := map[string]*pair{}
	var order []string
	for i, t := range f.Tensors() {
		var base string
		var isSums bool
		switch {
		case strings.HasSuffix(t.Name, sumsSuffix):
			base, isSums = strings.TrimSuffix(t.Name, sumsSuffix), true
		case strings.HasSuffix(t.Name, countsSuffix):
			base = strings.TrimSuffix(t.Name, countsSuffix)
		default:
			continue
		}
		if base == "" {
			return nil, fail("", "tensor %q has an empty entry name", t.Name)
		}
		p := pairs[base]
		if p == nil {
			p = &pair{-1, -1}
			pairs[base] = p
			order = append(order, base)
		}
		if isSums {
			p.sums = i
		} else {
			p.counts = i
		}
	}
	if len(order) == 0 {
		return nil, fail("", "no imatrix entries (no %s/%s tensors among %d tensors)", sumsSuffix, countsSuffix, len(f.Tensors()))
	}

	im.Entries = make(map[string][]float32, len(order))
	im.Experts = make(map[string]int, len(order))
	im.Names = order
	tensors := f.Tensors()
	for _, entry := range order {
		p := pairs[entry]
		if p.sums < 0 {
			return nil, fail(entry, "%s%s without %s%s", entry, countsSuffix, entry, sumsSuffix)
		}
		if p.counts < 0 {
			return nil, fail(entry, "%s%s without %s%s", entry, sumsSuffix, entry, countsSuffix)
		}
		st, ct := &tensors[p.sums], &tensors[p.counts]
		if st.Type != gguf.TypeF32 || ct.Type != gguf.TypeF32 {
			return nil, fail(entry, "sums and counts must be f32, got %s and %s", st.Type, ct.Type)
		}
		sd, ok := dims4(st.Dims)
		if !ok || sd[2] != 1 || sd[3] != 1 {
			return nil, fail(entry, "%s has shape %v, want [n_per_row, n_experts]", st.Name, st.Dims)
		}
		nPerRow, nExperts := sd[0], sd[1]
		if nPerRow == 0 || nExperts == 0 {
			return nil, fail(entry, "%s has shape %v: no values", st.Name, st.Dims)
		}
		cd, ok := dims4(ct.Dims)
		if !ok || cd[0] != 1 || cd[1] != nExperts || cd[2] != 1 || cd[3] != 1 {
			return nil, fail(entry, "%s has shape %v, want [1, %d] (one count per expert of %s %v)", ct.Name, ct.Dims, nExperts, st.Name, st.Dims)
		}
		sums := f.TensorData(p.sums)
		counts := f.TensorData(p.counts)
		vals := make([]float32, nPerRow*nExperts)
		for j := range nExperts {
			c := math.Float32frombits(binary.LittleEndian.Uint32(counts[4*j:]))
			// Counts are token counts; llama.cpp rounds them to int64
			// (lround) before dividing.
			if math.IsNaN(float64(c)) || math.IsInf(float64(c), 0) {
				return nil, fail(entry, "count of expert %d is not finite (%v)", j, c)
			}
			if c < 0 {
				return nil, fail(entry, "count of expert %d is negative (%v)", j, c)
			}
			if float64(c) >= 1<<63 {
				return nil, fail(entry, "count of expert %d (%v) overflows int64", j, c)
			}
			cnt := float32(int64(math.Round(float64(c))))
			row := vals[j*nPerRow : (j+1)*nPerRow]
			if cnt > 0 {
				src := sums[4*j*nPerRow:]
				for i := range row {
					row[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:])) / cnt
				}
			} else {
				for i := range row {
					row[i] = 1
				}
			}
			for i, v := range row {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return nil, fail(entry, "value %d (expert %d, column %d) is not finite (%v)", j*nPerRow+i, j, i, v)
				}
			}
		}
		im.Entries[entry] = vals
		im.Experts[entry] = nExperts
	}
	return im, nil
}

// dims4 pads ggml dims to four; false when one does not fit in an int.
func dims4(d []int64) ([4]int, bool) {
	out := [4]int{1, 1, 1, 1}
	if len(d) > 4 {
		return out, false
	}
	for i, v := range d {
		if v < 0 || v > math.MaxInt32 {
			return out, false
		}
		out[i] = int(v)
	}
	return out, true
}

// Filter keeps the entries llama-quantize keeps for --include-weights and
// --exclude-weights: with exclude, every entry whose name contains one of
// the strings is dropped; with include, only entries whose name contains
// one of the strings are kept. Giving both is an error (llama-quantize
// refuses the combination); giving neither keeps everything.
func (m *Imatrix) Filter(include, exclude []string) error {
	if len(include) > 0 && len(exclude) > 0 {
		return errors.New("imatrix: --include-weights and --exclude-weights cannot be used together")
	}
	if len(include) == 0 && len(exclude) == 0 {
		return nil
	}
	matches := func(name string, subs []string) bool {
		for _, s := range subs {
			if strings.Contains(name, s) {
				return true
			}
		}
		return false
	}
	kept := m.Names[:0]
	for _, name := range m.Names {
		keep := matches(name, include)
		if len(exclude) > 0 {
			keep = !matches(name, exclude)
		}
		if keep {
			kept = append(kept, name)
		} else {
			delete(m.Entries, name)
			delete(m.Experts, name)
		}
	}
	clear(m.Names[len(kept):])
	m.Names = kept
	return nil
}

// For returns the importance vector of the named tensor, which has rows of
// nPerRow elements and nExperts experts (1 for a 2-D weight), checking that
// it holds nPerRow*nExperts values as llama-quantize does. It returns nil
// and no error when there is no entry for the tensor (llama-quantize then
// quantizes it without an imatrix), and an error matching ErrImatrixSize
// on a size mismatch. A nil *Imatrix has no entries.
func (m *Imatrix) For(name string, nPerRow, nExperts int) ([]float32, error) {
	if m == nil {
		return nil, nil
	}
	v, ok := m.Entries[name]
	if !ok {
		return nil, nil
	}
	if nPerRow <= 0 || nExperts <= 0 {
		return nil, fmt.Errorf("imatrix %s: tensor %q: invalid shape n_per_row=%d n_experts=%d", m.Path, name, nPerRow, nExperts)
	}
	want := int64(nPerRow) * int64(nExperts)
	if int64(len(v)) != want {
		return nil, fmt.Errorf("imatrix %s: tensor %q: imatrix has %d values, the tensor needs %d (n_per_row %d × %d experts): %w",
			m.Path, name, len(v), want, nPerRow, nExperts, ErrImatrixSize)
	}
	return v, nil
}

// QuantizeKVs returns the metadata llama-quantize adds to a model it
// quantizes with this imatrix, in the order it adds them:
// quantize.imatrix.file (the path, cut to 127 bytes), quantize.imatrix.dataset
// (the first dataset, cut to 127 bytes; only when there is one),
// quantize.imatrix.entries_count (u32, the entries left after Filter) and
// quantize.imatrix.chunks_count (u32; only when ChunkCount > 0). It
// returns nil when no entries are left: llama-quantize then uses no
// imatrix at all and writes none of these keys.
func (m *Imatrix) QuantizeKVs() []gguf.KV {
	if m == nil || len(m.Entries) == 0 {
		return nil
	}
	kvs := []gguf.KV{{Key: KeyQuantizeImatrixFile, Value: gguf.String(cutString(m.Path, quantizeKVStringMax))}}
	if len(m.Datasets) > 0 {
		kvs = append(kvs, gguf.KV{Key: KeyQuantizeImatrixDataset, Value: gguf.String(cutString(m.Datasets[0], quantizeKVStringMax))})
	}
	kvs = append(kvs, gguf.KV{Key: KeyQuantizeImatrixEntriesCount, Value: gguf.Uint32(uint32(len(m.Entries)))})
	if m.ChunkCount > 0 {
		kvs = append(kvs, gguf.KV{Key: KeyQuantizeImatrixChunksCount, Value: gguf.Uint32(uint32(m.ChunkCount))})
	}
	return kvs
}

// cutString keeps the first n bytes of s, as strncpy into a buffer of n+1
// bytes does (it may split a UTF-8 sequence, like the C code).
func cutString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
