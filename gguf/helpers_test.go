package gguf

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// gb builds GGUF bytes field by field, so tests can craft valid and
// malformed files. Counts and lengths are u32 in v1 and u64 otherwise.
type gb struct {
	b  []byte
	v1 bool
}

// newGB starts a file with magic, version and the two counts.
func newGB(version uint32, nTensors, nKV uint64) *gb {
	g := &gb{v1: version == 1}
	g.raw("GGUF").u32(version).cnt(nTensors).cnt(nKV)
	return g
}

func (g *gb) raw(s string) *gb    { g.b = append(g.b, s...); return g }
func (g *gb) u8(v uint8) *gb      { g.b = append(g.b, v); return g }
func (g *gb) u32(v uint32) *gb    { g.b = binary.LittleEndian.AppendUint32(g.b, v); return g }
func (g *gb) u64(v uint64) *gb    { g.b = binary.LittleEndian.AppendUint64(g.b, v); return g }
func (g *gb) zeros(n int) *gb     { g.b = append(g.b, make([]byte, n)...); return g }
func (g *gb) str(s string) *gb    { return g.cnt(uint64(len(s))).raw(s) }
func (g *gb) typ(t ValueType) *gb { return g.u32(uint32(t)) }

func (g *gb) cnt(n uint64) *gb {
	if g.v1 {
		return g.u32(uint32(n))
	}
	return g.u64(n)
}

// kv writes a key and a value type; the caller appends the payload.
func (g *gb) kv(key string, t ValueType) *gb { return g.str(key).typ(t) }

// tensor writes one tensor info.
func (g *gb) tensor(name string, typ Type, off uint64, dims ...uint64) *gb {
	g.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		g.cnt(d)
	}
	return g.u32(uint32(typ)).u64(off)
}

// pad appends zeros up to a multiple of align.
func (g *gb) pad(align int) *gb {
	for len(g.b)%align != 0 {
		g.b = append(g.b, 0)
	}
	return g
}

// wantErr checks that err is a FormatError matching ErrInvalid whose
// message contains every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %q does not match ErrInvalid", err)
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Errorf("error %q is not a *FormatError", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}
