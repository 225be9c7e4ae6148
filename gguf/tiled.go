package gguf

import (
	"fmt"
	"strings"
)

// qconv's block-major ("tiled") tensors are stored under private type ids
// outside ggml's range, so that every tool that does not know them refuses
// the file (ggml rejects a type id >= GGML_TYPE_COUNT) instead of reading
// interleaved bytes as the standard type. A file holding any of them also
// carries KeyLayout = LayoutBlockMajor and KeyLayoutVersion; this package
// reads and writes such ids only in files that do (docs/layouts.md).
//
// The id of base type b in r-row tiles is tiledTag | r<<8 | b: for example
// q4_0 (2) in 16-row tiles is 0x51431002. The byte size of a tiled tensor
// equals that of the base type; only the order of the bytes differs.
const (
	tiledTag  Type = 0x51430000 // "QC" in the high half
	tiledMask Type = 0xffff0000

	// KeyLayout names the layout family of a file's tiled tensors.
	KeyLayout = "qconv.layout"
	// KeyLayoutVersion is the version of that layout's definition (u32).
	KeyLayoutVersion = "qconv.layout.version"
	// LayoutBlockMajor is KeyLayout's value for qconv's block-major tiles.
	LayoutBlockMajor = "block-major"
	// LayoutVersion is the version this package reads and writes.
	LayoutVersion uint32 = 1
)

// TiledType returns the private id of base stored in block-major tiles
// of rows rows (4, 8 or 16). It reports false when base is not a
// quantized ggml type or rows is not a tile size.
func TiledType(base Type, rows int) (Type, bool) {
	ti, ok := base.Info()
	if !ok || !ti.Quantized || base > 0xff || (rows != 4 && rows != 8 && rows != 16) {
		return 0, false
	}
	return tiledTag | Type(rows)<<8 | base, true
}

// Tiled reports whether t is a block-major id and returns its base type
// and tile rows.
func (t Type) Tiled() (base Type, rows int, ok bool) {
	if t&tiledMask != tiledTag {
		return 0, 0, false
	}
	base, rows = t&0xff, int(t>>8&0xff)
	if tt, ok := TiledType(base, rows); !ok || tt != t {
		return 0, 0, false
	}
	return base, rows, true
}

// Base returns the ggml type whose blocks t stores: t itself, or the base
// of a block-major id.
func (t Type) Base() Type {
	if b, _, ok := t.Tiled(); ok {
		return b
	}
	return t
}

// tiledName is the name of a block-major id: the base name and "_bm" with
// the tile rows, e.g. "q4_K_bm16".
func tiledName(base Type, rows int) string { return fmt.Sprintf("%s_bm%d", base, rows) }

// parseTiledName is ParseType's rule for block-major names.
func parseTiledName(name string) (Type, bool) {
	i := strings.LastIndex(strings.ToLower(name), "_bm")
	if i < 0 {
		return 0, false
	}
	base, ok := ParseType(name[:i])
	if !ok {
		return 0, false
	}
	var rows int
	if _, err := fmt.Sscanf(name[i+3:], "%d", &rows); err != nil || fmt.Sprint(rows) != name[i+3:] {
		return 0, false
	}
	return TiledType(base, rows)
}

// ParseStorageType is ParseType extended to block-major names
// ("q4_0_bm16").
func ParseStorageType(name string) (Type, bool) {
	if t, ok := ParseType(name); ok {
		return t, true
	}
	return parseTiledName(name)
}

// storageInfo is the storage description of t for reading and writing:
// that of the base type for a block-major id when tiled is allowed.
func (t Type) storageInfo(tiled bool) (TypeInfo, bool) {
	if b, _, ok := t.Tiled(); ok && tiled {
		return b.Info()
	}
	return t.Info()
}

// tiledAllowed reports whether kvs declare the block-major layout, and an
// error message when they declare a layout this package does not know.
func tiledAllowed(kvs []KV) (bool, string) {
	var layout string
	var has bool
	version := uint32(0)
	for _, kv := range kvs {
		switch kv.Key {
		case KeyLayout:
			s, ok := kv.Value.x.(string)
			if !ok {
				return false, fmt.Sprintf("key %s must be a string, not %s", KeyLayout, kv.Value.typ)
			}
			layout, has = s, true
		case KeyLayoutVersion:
			v, ok := kv.Value.x.(uint32)
			if !ok {
				return false, fmt.Sprintf("key %s must be u32, not %s", KeyLayoutVersion, kv.Value.typ)
			}
			version = v
		}
	}
	if !has {
		return false, ""
	}
	if layout != LayoutBlockMajor {
		return false, fmt.Sprintf("unknown %s %q (this build knows %q)", KeyLayout, layout, LayoutBlockMajor)
	}
	if version != LayoutVersion {
		return false, fmt.Sprintf("%s %q version %d is not supported (this build reads version %d)", KeyLayout, layout, version, LayoutVersion)
	}
	return true, ""
}
