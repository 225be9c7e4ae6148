package safetensors

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qconv/qconv/internal/sharedfiles"
)

// maxSeed caps the size of fixture files used as fuzz seeds.
const maxSeed = 8 << 10

// addFixtureSeeds adds the fixture files matching pattern (relative to the
// fixtures folder) as seeds. Without ../shared it adds nothing, so the
// hand-made seeds still run in a plain go test.
func addFixtureSeeds(f *testing.F, pattern string) {
	if _, ok := sharedfiles.Root(); !ok {
		return
	}
	paths, _ := filepath.Glob(filepath.Join(sharedfiles.Path(f, "fixtures"), pattern))
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.Size() <= maxSeed {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(raw(`{}`, nil))
	f.Add(raw(`{"__metadata__":{"a":"b"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  `, make([]byte, 8)))
	f.Add(raw(`{"b":{"dtype":"I8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}`, []byte{1, 2}))
	f.Add(raw(`{"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"z":{"dtype":"BF16","shape":[0,3],"data_offsets":[8,8]}}`, make([]byte, 8)))
	f.Add(raw(`{"x":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,1]}}`, []byte{1}))
	f.Add(raw(`{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{1, 2}))
	f.Add(withLen(1000, `{"x":1}`))
	addFixtureSeeds(f, "safetensors-*/*.safetensors")
	addFixtureSeeds(f, "invalid/*.safetensors")

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, "fuzz")
		if err != nil {
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "fuzz: ") {
				t.Fatalf("error %q: want ErrInvalid naming the file", err)
			}
			return
		}
		// Accepted: the tensors tile the data area exactly.
		var total int64
		for _, tt := range file.Tensors() {
			b, err := file.Data(tt.Name)
			if err != nil || int64(len(b)) != tt.Size {
				t.Fatalf("%s: %d bytes (%v), size %d", tt.Name, len(b), err, tt.Size)
			}
			if size, err := tt.DType.ByteSize(tt.Elements()); err != nil || size != tt.Size {
				t.Fatalf("%s: size %d, dtype x shape gives %d (%v)", tt.Name, tt.Size, size, err)
			}
			total += tt.Size
		}
		if total != int64(len(data))-file.DataOffset() {
			t.Fatalf("tensors cover %d of %d data bytes", total, int64(len(data))-file.DataOffset())
		}
		// What was accepted can be written and read back unchanged.
		var wts []WriteTensor
		for _, tt := range file.Tensors() {
			b, _ := file.Data(tt.Name)
			wts = append(wts, WriteTensor{Name: tt.Name, DType: tt.DType, Shape: tt.Shape, Data: b})
		}
		var buf bytes.Buffer
		if err := Write(&buf, file.Metadata(), wts); err != nil {
			t.Fatalf("rewrite: %v", err)
		}
		again, err := Parse(buf.Bytes(), "again")
		if err != nil {
			t.Fatalf("rewritten file rejected: %v", err)
		}
		sameContent(t, file, again)
	})
}

func FuzzIndex(f *testing.F) {
	f.Add([]byte(`{"metadata":{"total_size":3},"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{"a":"../x.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{"a":"s","a":"t"},"other":[1,{"x":null}]}`))
	f.Add([]byte(`{"metadata":null,"weight_map":{"a":"C:x"}}`))
	f.Add([]byte(`[]`))
	addFixtureSeeds(f, "*/*.index.json")

	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := ParseIndex(data, "fuzz.json")
		if err != nil {
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "fuzz.json: ") {
				t.Fatalf("error %q: want ErrInvalid naming the file", err)
			}
			return
		}
		if len(ix.Names) != len(ix.WeightMap) || len(ix.WeightMap) == 0 {
			t.Fatalf("%d names, %d map entries", len(ix.Names), len(ix.WeightMap))
		}
		dir := filepath.Join("model", "dir")
		for _, name := range ix.Names {
			shard, ok := ix.WeightMap[name]
			if !ok || name == "" {
				t.Fatalf("name %q not in the weight map", name)
			}
			// Every shard stays directly inside the checkpoint directory.
			if p := filepath.Join(dir, shard); filepath.Dir(p) != dir || filepath.Base(p) != shard {
				t.Fatalf("shard %q escapes to %q", shard, p)
			}
		}
	})
}
