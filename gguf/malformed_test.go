package gguf

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
)

// minimal returns a valid v3 file with one KV and one f32 [8] tensor.
func minimal() []byte {
	g := newGB(3, 1, 1)
	g.kv("a", ValueUint32).u32(7)
	g.tensor("t", TypeF32, 0, 8)
	g.pad(32).zeros(32)
	return g.b
}

func TestMinimalValid(t *testing.T) {
	f, err := Parse(minimal(), "m.gguf")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := f.Uint32("a"); !ok || v != 7 {
		t.Errorf("a = %v %v", v, ok)
	}
	if ti, ok := f.Tensor("t"); !ok || ti.Size != 32 || ti.FileOffset != 96 {
		t.Errorf("tensor %+v", ti)
	}
}

func TestMalformed(t *testing.T) {
	// kvFile returns a v3 file with one KV whose payload is written by fn,
	// and no tensors.
	kvFile := func(key string, vt ValueType, fn func(g *gb)) []byte {
		g := newGB(3, 0, 1)
		g.kv(key, vt)
		fn(g)
		return g.b
	}
	// tensorFile returns a v3 file with the given KVs count written by kvs,
	// one tensor info written by ti, and tail bytes of data.
	tensorFile := func(nt uint64, kvs func(g *gb) uint64, ti func(g *gb), data int) []byte {
		g := &gb{}
		var body gb
		nkv := uint64(0)
		if kvs != nil {
			nkv = kvs(&body)
		}
		ti(&body)
		g.raw("GGUF").u32(3).u64(nt).u64(nkv)
		g.b = append(g.b, body.b...)
		g.pad(32).zeros(data)
		return g.b
	}
	one := func(typ Type, off uint64, dims ...uint64) func(g *gb) {
		return func(g *gb) { g.tensor("w", typ, off, dims...) }
	}
	alignKV := func(vt ValueType, fn func(g *gb)) func(g *gb) uint64 {
		return func(g *gb) uint64 { g.kv("general.alignment", vt); fn(g); return 1 }
	}

	cases := []struct {
		name  string
		data  []byte
		parts []string
	}{
		{"empty", nil, []string{"0 bytes", "too short"}},
		{"short magic", []byte("GGU"), []string{"too short"}},
		{"bad magic", []byte("GGUX\x03\x00\x00\x00"), []string{"offset 0", "bad magic", "not a GGUF file"}},
		{"version 0", newGB(0, 0, 0).b, []string{"offset 4", "invalid version 0"}},
		{"version 4", newGB(4, 0, 0).b, []string{"offset 4", "unsupported GGUF version 4"}},
		{"big-endian v2", (&gb{}).raw("GGUF").u32(0x02000000).zeros(16).b, []string{"offset 4", "big-endian", "version 2 byte-swapped"}},
		{"truncated tensor count", (&gb{}).raw("GGUF").u32(3).u32(0).b, []string{"offset 8", "truncated", "tensor count"}},
		{"truncated kv count", (&gb{}).raw("GGUF").u32(3).u64(0).u32(0).b, []string{"offset 16", "truncated", "metadata count"}},
		{"huge kv count", newGB(3, 0, math.MaxUint64).b, []string{"offset 16", "metadata count 18446744073709551615 is impossible"}},
		{"huge tensor count", newGB(3, 1<<60, 0).b, []string{"offset 8", "tensor count 1152921504606846976 is impossible"}},
		{"kv count beyond bytes", append(newGB(3, 0, 3).kv("a", ValueUint8).u8(1).b, 0, 0, 0), []string{"metadata count 3 is impossible"}},
		{"huge key length", newGB(3, 0, 1).u64(1 << 40).zeros(8).b, []string{"offset 24", "metadata entry 0", "key length 1099511627776 exceeds the limit of 1073741824"}},
		{"key beyond file", newGB(3, 0, 1).u64(100).raw("abcd").zeros(8).b, []string{"offset 32", "truncated: key needs 100 bytes, only 12 left"}},
		{"empty key", newGB(3, 0, 1).str("").typ(ValueUint8).u8(0).zeros(4).b, []string{"offset 24", "empty key"}},
		{"duplicate key", newGB(3, 0, 2).kv("k", ValueUint8).u8(0).kv("k", ValueUint8).u8(1).b, []string{"offset 38", `key "k"`, "duplicate key"}},
		{"unknown value type", kvFile("x", 13, func(g *gb) { g.u64(0) }), []string{"offset 33", `key "x"`, "unknown value type 13"}},
		{"huge value type", kvFile("x", 0xFFFFFFFF, func(g *gb) { g.u64(0) }), []string{`key "x"`, "unknown value type 4294967295"}},
		{"truncated u64", kvFile("x", ValueUint64, func(g *gb) { g.u32(0) }), []string{"offset 37", `key "x"`, "truncated: u64 value needs 8 bytes, only 4 left"}},
		{"huge string", kvFile("x", ValueString, func(g *gb) { g.u64(1<<30 + 1).zeros(16) }), []string{`key "x"`, "string length 1073741825 exceeds the limit"}},
		{"string beyond file", kvFile("x", ValueString, func(g *gb) { g.u64(1 << 20).zeros(16) }), []string{`key "x"`, "truncated: string needs 1048576 bytes, only 16 left"}},
		{"bool 2", kvFile("b", ValueBool, func(g *gb) { g.u8(2) }), []string{"offset 37", `key "b"`, "bool byte is 2, must be 0 or 1"}},
		{"bad array elem type", kvFile("a", ValueArray, func(g *gb) { g.u32(13).u64(0) }), []string{"offset 37", `key "a"`, "unknown array element type 13"}},
		{"huge array", kvFile("a", ValueArray, func(g *gb) { g.typ(ValueUint8).u64(1<<30 + 1).zeros(16) }), []string{"offset 41", "array of 1073741825 elements exceeds the limit of 1073741824"}},
		{"u32 array beyond file", kvFile("a", ValueArray, func(g *gb) { g.typ(ValueUint32).u64(1000).zeros(100) }), []string{`key "a"`, "truncated: array of 1000 u32 needs at least 4000 bytes, only 100 left"}},
		{"string array beyond file", kvFile("a", ValueArray, func(g *gb) { g.typ(ValueString).u64(1 << 29).zeros(100) }), []string{"array of 536870912 string needs at least 4294967296 bytes"}},
		{"nested array beyond file", kvFile("a", ValueArray, func(g *gb) { g.typ(ValueArray).u64(1 << 20).zeros(100) }), []string{"array of 1048576 array needs at least 12582912 bytes"}},
		{"bool array 7", kvFile("a", ValueArray, func(g *gb) { g.typ(ValueBool).u64(3).u8(1).u8(0).u8(7) }), []string{"offset 51", "bool array element 2 is 7"}},
		{"too deep", kvFile("a", ValueArray, func(g *gb) {
			for range MaxArrayDepth {
				g.typ(ValueArray).u64(1)
			}
			g.typ(ValueUint8).u64(0)
		}), []string{`key "a"`, "arrays nested more than 8 deep"}},
		{"alignment i32", tensorFile(0, alignKV(ValueInt32, func(g *gb) { g.u32(32) }), func(*gb) {}, 0), []string{`key "general.alignment"`, "must be u32, not i32"}},
		{"alignment 0", tensorFile(0, alignKV(ValueUint32, func(g *gb) { g.u32(0) }), func(*gb) {}, 0), []string{`key "general.alignment"`, "alignment 0 is not a non-zero power of two"}},
		{"alignment 48", tensorFile(0, alignKV(ValueUint32, func(g *gb) { g.u32(48) }), func(*gb) {}, 0), []string{"alignment 48 is not a non-zero power of two"}},
		{"empty tensor name", tensorFile(1, nil, func(g *gb) { g.tensor("", TypeF32, 0, 8) }, 32), []string{"offset 24", "tensor 0", "empty tensor name"}},
		{"long tensor name", tensorFile(1, nil, func(g *gb) { g.tensor(strings.Repeat("n", 64), TypeF32, 0, 8) }, 32), []string{"offset 24", "name of 64 bytes exceeds ggml's limit of 63"}},
		{"duplicate tensor", tensorFile(2, nil, func(g *gb) { g.tensor("w", TypeF32, 0, 8).tensor("w", TypeF32, 32, 8) }, 64), []string{`tensor "w"`, "duplicate tensor name"}},
		{"n_dims 5", tensorFile(1, nil, one(TypeF32, 0, 1, 1, 1, 1, 1), 32), []string{"offset 33", `tensor "w"`, "n_dims is 5, at most 4 allowed"}},
		{"n_dims huge", tensorFile(1, nil, func(g *gb) { g.str("w").u32(1 << 31).zeros(64) }, 0), []string{`tensor "w"`, "n_dims is 2147483648"}},
		{"negative dim", tensorFile(1, nil, one(TypeF32, 0, 8, 1<<63), 32), []string{`tensor "w"`, "dimension 1 is negative (-9223372036854775808)"}},
		{"element overflow", tensorFile(1, nil, one(TypeF32, 0, 1<<32, 1<<32), 32), []string{`tensor "w"`, "element count of shape [4294967296 4294967296] overflows int64"}},
		{"byte size overflow", tensorFile(1, nil, one(TypeF32, 0, 1<<62), 32), []string{`tensor "w"`, "byte size of f32 shape [4611686018427387904] overflows int64"}},
		{"ne0 not block multiple", tensorFile(1, nil, one(TypeQ4_K, 0, 128, 2), 32), []string{"offset 33", `tensor "w"`, "row length ne0=128 is not a multiple of q4_K's block size 256"}},
		{"unknown type", tensorFile(1, nil, one(TypeCount, 0, 8), 32), []string{"offset 45", `tensor "w"`, "unknown type id 43"}},
		{"unknown type huge", tensorFile(1, nil, one(Type(math.MaxUint32), 0, 8), 32), []string{"unknown type id 4294967295"}},
		{"removed q4_2", tensorFile(1, nil, one(4, 0, 32), 32), []string{"offset 45", `tensor "w"`, "type q4_2 (id 4) was removed from ggml"}},
		{"removed q4_0_4_4", tensorFile(1, nil, one(31, 0, 32), 32), []string{"type q4_0_4_4 (id 31) was removed"}},
		{"removed iq4_nl_8_8", tensorFile(1, nil, one(38, 0, 32), 32), []string{"type iq4_nl_8_8 (id 38) was removed"}},
		{"unaligned offset", tensorFile(1, nil, one(TypeF32, 16, 4), 64), []string{"offset 49", `tensor "w"`, "data offset 16 is not a multiple of the alignment 32"}},
		{"offset too large", tensorFile(1, nil, one(TypeF32, 1<<63, 4), 64), []string{`tensor "w"`, "data offset 9223372036854775808 is too large"}},
		{"offset wraps", tensorFile(1, nil, one(TypeF32, math.MaxInt64&^31, 4), 64), []string{`tensor "w"`, "lies outside the file"}},
		{"data beyond file", tensorFile(1, nil, one(TypeF32, 64, 8), 64), []string{"offset 24", `tensor "w"`, "data [128, 160) lies outside the file of 128 bytes"}},
		{"data truncated", tensorFile(1, nil, one(TypeF32, 0, 8), 31), []string{`tensor "w"`, "data [64, 96) lies outside the file of 95 bytes"}},
		{"overlap", tensorFile(2, nil, func(g *gb) { g.tensor("a", TypeF32, 0, 16).tensor("b", TypeF32, 32, 8) }, 96),
			[]string{"offset 57", `tensor "b"`, `data [128, 160) overlaps tensor "a" at [96, 160)`}},
		{"overlap listed backwards", tensorFile(2, nil, func(g *gb) { g.tensor("b", TypeF32, 32, 8).tensor("a", TypeF32, 0, 16) }, 96),
			[]string{"offset 24", `tensor "b"`, `overlaps tensor "a"`}},
		{"truncated tensor info", newGB(3, 1, 0).str("w").u32(1).u64(8).u32(0).zeros(4).b, []string{`tensor "w"`, "truncated", "tensor data offset"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.data, "bad.gguf")
			wantErr(t, err, append([]string{"bad.gguf: "}, c.parts...)...)
			if errors.Is(err, ErrBigEndian) != strings.HasPrefix(c.name, "big-endian") {
				t.Errorf("ErrBigEndian match wrong for %v", err)
			}
		})
	}
}

// TestV1Crafted checks the 32-bit counts, lengths and dims of GGUF v1.
func TestV1Crafted(t *testing.T) {
	g := newGB(1, 1, 2)
	g.kv("s", ValueString).str("hi")
	g.kv("arr", ValueArray).typ(ValueString).cnt(2).str("x").str("yz")
	g.tensor("w", TypeF16, 0, 4, 2)
	g.pad(32).zeros(16)
	f, err := Parse(g.b, "v1.gguf")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := f.String("s"); s != "hi" {
		t.Errorf("s = %q", s)
	}
	if a, _ := f.Strings("arr"); len(a) != 2 || a[1] != "yz" {
		t.Errorf("arr = %q", a)
	}
	if ti := f.Tensors()[0]; ti.Size != 16 || len(ti.Dims) != 2 || ti.Dims[1] != 2 {
		t.Errorf("tensor %+v", ti)
	}
	// A v1 file read with u64 counts would be garbage; a v1 file declaring
	// a huge u32 count fails cleanly.
	_, err = Parse(newGB(1, 0, math.MaxUint32).b, "v1.gguf")
	wantErr(t, err, "offset 12", "metadata count 4294967295 is impossible")
}

// TestValidEdgeCases covers layouts that are legal but unusual.
func TestValidEdgeCases(t *testing.T) {
	t.Run("any offset order, no trailing padding", func(t *testing.T) {
		g := newGB(3, 3, 0)
		g.tensor("c", TypeF32, 64, 3) // 12 bytes, last in the file
		g.tensor("a", TypeF32, 0, 8)  // 32 bytes
		g.tensor("b", TypeF32, 32, 8)
		g.pad(32)
		start := len(g.b)
		g.zeros(76)
		g.b[start+64] = 0xAB
		f, err := Parse(g.b, "order.gguf")
		if err != nil {
			t.Fatal(err)
		}
		if f.Size() != f.DataOffset()+76 {
			t.Errorf("size %d", f.Size())
		}
		if d, _ := f.TensorDataByName("c"); len(d) != 12 || d[0] != 0xAB {
			t.Errorf("c data %v", d)
		}
	})
	t.Run("zero tensors, no data section", func(t *testing.T) {
		g := newGB(3, 0, 1).kv("k", ValueUint8).u8(1)
		f, err := Parse(g.b, "z.gguf")
		if err != nil || f.DataOffset() != 64 || f.Size() != 38 {
			t.Fatalf("%v, data offset %d", err, f.DataOffset())
		}
	})
	t.Run("scalar and empty tensors", func(t *testing.T) {
		g := newGB(3, 3, 0)
		g.tensor("s", TypeF32, 0)          // n_dims 0: one element
		g.tensor("e", TypeQ4_K, 32, 0, 99) // no elements
		g.tensor("e2", TypeF32, 32, 4, 0)  // no elements, same offset
		g.pad(32).zeros(4)
		f, err := Parse(g.b, "s.gguf")
		if err != nil {
			t.Fatal(err)
		}
		s, _ := f.Tensor("s")
		e, _ := f.Tensor("e")
		if s.NElements() != 1 || s.Size != 4 || e.NElements() != 0 || e.Size != 0 || len(f.TensorData(1)) != 0 {
			t.Errorf("s %+v e %+v", s, e)
		}
	})
	t.Run("alignment 1 and big alignment", func(t *testing.T) {
		for _, a := range []uint32{1, 8, 1 << 12} {
			g := newGB(3, 2, 1).kv("general.alignment", ValueUint32).u32(a)
			g.tensor("a", TypeI8, 0, 3)
			off, _ := alignUp(3, int64(a))
			g.tensor("b", TypeI8, uint64(off), 3)
			g.pad(int(a)).zeros(int(off) + 3)
			f, err := Parse(g.b, "a.gguf")
			if err != nil {
				t.Fatalf("alignment %d: %v", a, err)
			}
			if f.Alignment() != int64(a) || f.DataOffset()%int64(a) != 0 {
				t.Errorf("alignment %d: got %d, data at %d", a, f.Alignment(), f.DataOffset())
			}
		}
	})
}

// TestHugeCountsCheap: tiny files declaring huge counts and lengths fail
// fast and without large allocations.
func TestHugeCountsCheap(t *testing.T) {
	inputs := [][]byte{
		newGB(3, math.MaxInt64, math.MaxInt64).zeros(64).b,
		newGB(3, 0, 1).kv("a", ValueArray).typ(ValueUint64).u64(1 << 30).zeros(64).b,
		newGB(3, 0, 1).kv("a", ValueArray).typ(ValueString).u64(1 << 30).zeros(64).b,
		newGB(3, 0, 1).kv("a", ValueArray).typ(ValueArray).u64(1 << 30).zeros(64).b,
		newGB(3, 0, 1).kv("a", ValueString).u64(1 << 30).zeros(64).b,
		newGB(3, 0, 1).u64(math.MaxUint64).zeros(64).b,
		newGB(3, 1, 0).str("w").u32(4).u64(1 << 40).u64(1 << 40).u64(1 << 40).u64(1 << 40).u32(0).u64(0).b,
	}
	for i, in := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := Parse(in, "huge.gguf")
		el := time.Since(start)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("input %d parsed", i)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
			t.Errorf("input %d: allocated %d bytes", i, alloc)
		}
		if el > time.Second {
			t.Errorf("input %d: took %v", i, el)
		}
	}
}

// TestTruncatedEverywhere cuts a rich valid file at every length: each
// prefix must fail cleanly (or parse, once the data is complete).
func TestTruncatedEverywhere(t *testing.T) {
	full := richFileBytes(t)
	f, err := Parse(full, "full.gguf")
	if err != nil {
		t.Fatal(err)
	}
	var end int64 // the file is complete once the last tensor's data is
	for _, ti := range f.Tensors() {
		end = max(end, ti.FileOffset+ti.Size)
	}
	for n := 0; n < int(end); n++ {
		if _, err := Parse(full[:n], "cut.gguf"); err == nil {
			t.Fatalf("prefix of %d of %d bytes parsed", n, len(full))
		} else if !errors.Is(err, ErrInvalid) {
			t.Fatalf("prefix %d: %v", n, err)
		}
	}
	if _, err := Parse(full[:end], "end.gguf"); err != nil {
		t.Fatal(err)
	}
}
