package safetensors

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeShard writes a safetensors file of one-byte U8 tensors named names.
func writeShard(t *testing.T, path string, names ...string) {
	t.Helper()
	var wts []WriteTensor
	for i, n := range names {
		wts = append(wts, WriteTensor{Name: n, DType: U8, Shape: []int64{1}, Data: []byte{byte(i + 1)}})
	}
	var buf bytes.Buffer
	if err := Write(&buf, map[string]string{"format": "pt"}, wts); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// shardedDir makes a directory with shards s1 {a, b} and s2 {c} and the
// given index (a standard one when index is "").
func shardedDir(t *testing.T, index string) string {
	t.Helper()
	dir := t.TempDir()
	writeShard(t, filepath.Join(dir, "s1.safetensors"), "a", "b")
	writeShard(t, filepath.Join(dir, "s2.safetensors"), "c")
	if index == "" {
		index = `{"metadata":{"total_size":3},"weight_map":{"c":"s2.safetensors","a":"s1.safetensors","b":"s1.safetensors"}}`
	}
	if err := os.WriteFile(filepath.Join(dir, IndexFileName), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheckpointSharded(t *testing.T) {
	dir := shardedDir(t, "")
	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var names []string
	for _, tt := range c.Tensors() {
		names = append(names, tt.Name)
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("tensors %v, want a,b,c (shard order, then header order)", names)
	}
	if got := strings.Join(c.Index().Names, ","); got != "c,a,b" {
		t.Errorf("index names %s, want index order c,a,b", got)
	}
	if b, err := c.Data("c"); err != nil || !bytes.Equal(b, []byte{1}) {
		t.Errorf("Data(c) = %v, %v", b, err)
	}
	if f := c.File("b"); f == nil || filepath.Base(f.Path()) != "s1.safetensors" {
		t.Errorf("File(b) = %v", f)
	}
	if _, ok := c.Tensor("zz"); ok || c.File("zz") != nil {
		t.Error("unknown tensor found")
	}
	if c.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v", c.Metadata())
	}
}

func TestCheckpointErrors(t *testing.T) {
	wm := func(entries string) string { return `{"weight_map":{` + entries + `}}` }
	tests := []struct {
		name  string
		index string
		path  string // error must name this file (base name)
		want  []string
	}{
		{"traversal", wm(`"a":"../s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"`), IndexFileName,
			[]string{`tensor "a": shard file name "../s1.safetensors"`, "path separator"}},
		{"absolute", wm(`"a":"/etc/passwd"`), IndexFileName, []string{`"/etc/passwd"`, "path separator"}},
		{"subdirectory", wm(`"a":"sub/s1.safetensors"`), IndexFileName, []string{"path separator"}},
		{"backslash", wm(`"a":"..\\s1.safetensors"`), IndexFileName, []string{"path separator"}},
		{"dotdot", wm(`"a":".."`), IndexFileName, []string{`shard file name "..": not a file name`}},
		{"dot", wm(`"a":"."`), IndexFileName, []string{"not a file name"}},
		{"empty shard", wm(`"a":""`), IndexFileName, []string{`tensor "a": shard file name "": empty`}},
		{"NUL", wm(`"a":"s1\u0000.safetensors"`), IndexFileName, []string{"NUL"}},
		{"shard not string", wm(`"a":1`), IndexFileName, []string{`tensor "a": shard file name must be a string`}},
		{"empty tensor name", wm(`"":"s1.safetensors"`), IndexFileName, []string{"empty tensor name"}},
		{"duplicate key", wm(`"a":"s1.safetensors","a":"s2.safetensors"`), IndexFileName, []string{`weight_map key "a" appears twice`}},
		{"duplicate weight_map", `{"weight_map":{"a":"s1.safetensors"},"weight_map":{}}`, IndexFileName, []string{`top-level key "weight_map" appears twice`}},
		{"no weight_map", `{"metadata":{}}`, IndexFileName, []string{"no weight_map"}},
		{"empty weight_map", wm(``), IndexFileName, []string{"weight_map is empty"}},
		{"weight_map array", `{"weight_map":[]}`, IndexFileName, []string{"weight_map must be an object, got an array"}},
		{"metadata string", `{"metadata":"x","weight_map":{}}`, IndexFileName, []string{"metadata must be an object"}},
		{"not JSON", `{"weight_map":`, IndexFileName, []string{"not valid JSON"}},
		{"not object", `[]`, IndexFileName, []string{"index must be a JSON object, got an array"}},
		{"trailing data", wm(`"a":"s1.safetensors"`) + `{}`, IndexFileName, []string{"data after its JSON object"}},
		{"bad UTF-8", "{\"weight_map\":{\"\xff\":\"s1.safetensors\"}}", IndexFileName, []string{"not valid UTF-8"}},
		{"missing shard", wm(`"a":"s1.safetensors","b":"s1.safetensors","c":"s3.safetensors"`), IndexFileName,
			[]string{`shard "s3.safetensors" (holding tensor "c") is missing`}},
		{"absent from shard", wm(`"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors","d":"s2.safetensors"`), IndexFileName,
			[]string{`tensor "d": listed in shard "s2.safetensors", which does not contain it`}},
		{"not in index", wm(`"a":"s1.safetensors","c":"s2.safetensors"`), "s1.safetensors",
			[]string{`tensor "b": tensor is not listed in the index ` + IndexFileName}},
		{"wrong shard", wm(`"a":"s1.safetensors","b":"s2.safetensors","c":"s2.safetensors"`), "s1.safetensors",
			[]string{`tensor "b": the index lists this tensor in shard "s2.safetensors"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := shardedDir(t, tc.index)
			c, err := OpenCheckpoint(dir)
			if err == nil {
				c.Close()
				t.Fatal("OpenCheckpoint succeeded")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not match ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), filepath.Join(dir, tc.path)+": ") {
				t.Errorf("error %q does not start with %s", err, tc.path)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestCheckpointDuplicateAcrossShards(t *testing.T) {
	dir := t.TempDir()
	writeShard(t, filepath.Join(dir, "s1.safetensors"), "a")
	writeShard(t, filepath.Join(dir, "s2.safetensors"), "a", "b")
	os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}`), 0o644)
	_, err := OpenCheckpoint(dir)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `s2.safetensors: tensor "a": tensor is also in shard "s1.safetensors"`) {
		t.Errorf("error %v", err)
	}
}

func TestCheckpointMissingShardIsNotExist(t *testing.T) {
	dir := shardedDir(t, `{"weight_map":{"a":"gone.safetensors"}}`)
	_, err := OpenCheckpoint(filepath.Join(dir, IndexFileName))
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v: want ErrInvalid and fs.ErrNotExist", err)
	}
}

func TestCheckpointBadShardContent(t *testing.T) {
	dir := shardedDir(t, "")
	os.WriteFile(filepath.Join(dir, "s2.safetensors"), []byte("garbage"), 0o644)
	_, err := OpenCheckpoint(dir)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "s2.safetensors: file is 7 bytes") {
		t.Errorf("error %v", err)
	}
}

func TestCheckpointDirectory(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		dir := t.TempDir()
		writeShard(t, filepath.Join(dir, SingleFileName), "x")
		c, err := OpenCheckpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.Index() != nil || len(c.Files()) != 1 || c.Path() != filepath.Join(dir, SingleFileName) {
			t.Errorf("index %v, %d files, path %s", c.Index(), len(c.Files()), c.Path())
		}
		if b, err := c.Data("x"); err != nil || len(b) != 1 {
			t.Errorf("Data(x) = %v, %v", b, err)
		}
	})
	t.Run("single file path", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "other.safetensors")
		writeShard(t, p, "x")
		c, err := OpenCheckpoint(p)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	})
	t.Run("both", func(t *testing.T) {
		dir := shardedDir(t, "")
		writeShard(t, filepath.Join(dir, SingleFileName), "x")
		_, err := OpenCheckpoint(dir)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "holds both") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("neither", func(t *testing.T) {
		dir := t.TempDir()
		writeShard(t, filepath.Join(dir, "weights.safetensors"), "x")
		_, err := OpenCheckpoint(dir)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(),
			"holds neither model.safetensors.index.json nor model.safetensors; it has weights.safetensors: open one of them directly") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		dir := t.TempDir()
		_, err := OpenCheckpoint(dir)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "and no other .safetensors file") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("absent", func(t *testing.T) {
		_, err := OpenCheckpoint(filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error %v", err)
		}
	})
}
