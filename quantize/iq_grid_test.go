package quantize

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"

	"github.com/qconv/qconv/gguf"
)

// Every type in gguf's table either dequantizes or is listed, with a
// reason, as unsupported; never both.
func TestEveryTypeDequantizesOrIsUnsupported(t *testing.T) {
	for _, typ := range gguf.Types() {
		tr, ok := Lookup(typ)
		can := ok && tr.DequantizeRow != nil
		reason, listed := Unsupported(typ)
		switch {
		case can && listed:
			t.Errorf("%s: has DequantizeRow but is listed as unsupported (%s)", typ, reason)
		case !can && !listed:
			t.Errorf("%s (id %d): no DequantizeRow and not listed as unsupported", typ, uint32(typ))
		case listed && reason == "":
			t.Errorf("%s: listed as unsupported without a reason", typ)
		}
	}
	for typ := range unsupported {
		if !typ.Valid() {
			t.Errorf("unsupported list names %s, which gguf does not know", typ)
		}
	}
	if _, ok := Unsupported(gguf.TypeCount); ok {
		t.Error("Unsupported(TypeCount) = true")
	}
}

// SHA-256 of ggml's tables (src/ggml-common.h at commit d99724f, as
// little-endian bytes), computed from ggml's compiled tables and from the
// header text.
func TestIQGridChecksums(t *testing.T) {
	le64 := func(v []uint64) []byte {
		b := make([]byte, 0, 8*len(v))
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, x)
		}
		return b
	}
	le32 := func(v []uint32) []byte {
		b := make([]byte, 0, 4*len(v))
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, x)
		}
		return b
	}
	var ksigns [128]byte
	for i := range ksigns {
		ksigns[i] = byte(iq2Signs(uint32(i)))
	}
	var kmask [8]byte // bit j of a sign byte negates element j
	for j := range kmask {
		kmask[j] = 1 << j
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"iq2xxs_grid", le64(iq2xxsGrid[:]), "05826b5d3e472a3a78f196be62ac78acf81df0f909626e12ab9fa2a5d490dd54"},
		{"iq2xs_grid", le64(iq2xsGrid[:]), "06e47aaca60b4dc1d9b5a3f34540437058a6b142b4d7a59d5ded769b4d1bf1de"},
		{"iq2s_grid", le64(iq2sGrid[:]), "e1aa1473412b0552c2174c30ef22ab4073f6a181b85a17056e8249bd2932fd88"},
		{"iq3xxs_grid", le32(iq3xxsGrid[:]), "46e35f5a997efdee6c99ce57854c8a0d4f0ff8ca57e5e8a60c0793ea580acf5d"},
		{"iq3s_grid", le32(iq3sGrid[:]), "bd1af4945a1717c65610b0284e4628b9a1ba3b306fae3a06f6e5f597356e349f"},
		{"iq1s_grid", le64(iq1sGrid[:]), "07540ffc1aeaf6ad4d97e96b0fcc765aae39671d4ae4a27bbd0e796fde167c6a"},
		{"ksigns_iq2xs (derived)", ksigns[:], "a76742a603f8beca5212ecce0f1f02f11a4887fd2f7c8b15aca0ea3eb3380c31"},
		{"kmask_iq2xs (derived)", kmask[:], "5ac9831b2e30eb285ef34f8501620f878432d5c04331ad1ae47f977a83ba41a5"},
	} {
		if got := lbSHA(c.b); got != c.want {
			t.Errorf("%s: sha256 %s, ggml's table %s", c.name, got, c.want)
		}
	}
}

// Reference vectors for the codebook types (iq1_test.go, iq2_test.go,
// iq3_test.go) come from ggml commit d99724f through libggml-base's
// to_float. As in mxfp4_test.go the inputs are not stored but rebuilt from
// the xorshift64 stream lbRng: iqBulkBlocks random blocks (seed
// lbDequantSeed ^ type id) whose fp16 scale, where its exponent is all
// ones, loses exponent bit 4, so scales span the whole finite fp16 range,
// subnormals included; and one edge block per iqEdgeD value (random quants
// from seed lbEdgeSeed ^ type id) with that fp16 scale (subnormal,
// extremes, ±0, ±Inf, NaN). The tests compare SHA-256 digests of ggml's
// float32 output bits, and sub-block 0 of the first random block literally.

const iqBulkBlocks = 1024

var iqEdgeD = [...]uint16{0x0001, 0x03FF, 0x0400, 0x3C00, 0x7BFF, 0x8001, 0xFBFF, 0x7C00, 0xFC00, 0x0000, 0x8000, 0x7E00, 0xFE01, 0x7D00}

// iqD16Bit is the position (block byte, bit) of fp16 bit k of a block's
// scale d: bytes 0 and 1 for all but IQ1_M, which keeps d in the top
// nibbles of its four u16 scale words (bytes 49, 51, 53, 55).
func iqD16Bit(typ gguf.Type, k int) (byteOff int, bit uint) {
	if typ == gguf.TypeIQ1_M {
		return 49 + 2*(k/4), uint(4 + k%4)
	}
	return k / 8, uint(k % 8)
}

func iqGetD16(typ gguf.Type, b []byte) (h uint16) {
	for k := 0; k < 16; k++ {
		o, bit := iqD16Bit(typ, k)
		h |= uint16(b[o]>>bit&1) << k
	}
	return h
}

func iqSetD16(typ gguf.Type, b []byte, h uint16) {
	for k := 0; k < 16; k++ {
		o, bit := iqD16Bit(typ, k)
		b[o] = b[o]&^(1<<bit) | byte(h>>k&1)<<bit
	}
}

func iqRandomBlocks(typ gguf.Type, n int) []byte {
	r := lbRng(lbDequantSeed ^ uint64(typ))
	bb := typ.BlockBytes()
	q := make([]byte, n*bb)
	for i := range q {
		q[i] = r.byte()
	}
	for b := 0; b < n; b++ {
		blk := q[b*bb : (b+1)*bb]
		if h := iqGetD16(typ, blk); h>>10&0x1f == 0x1f {
			iqSetD16(typ, blk, h&^0x4000)
		}
	}
	return q
}

func iqEdgeBlocks(typ gguf.Type) []byte {
	r := lbRng(lbEdgeSeed ^ uint64(typ))
	bb := typ.BlockBytes()
	q := make([]byte, len(iqEdgeD)*bb)
	for i := range q {
		q[i] = r.byte()
	}
	for b, h := range iqEdgeD {
		iqSetD16(typ, q[b*bb:(b+1)*bb], h)
	}
	return q
}

type iqGGMLCase struct {
	typ        gguf.Type
	blockIn    string // first random block, hex
	blockOut   string // its first 32 values from ggml, hex float32 LE
	bulkDeqSHA string // to_float of iqBulkBlocks random blocks
	edgeInSHA  string // the edge blocks themselves
	edgeDeqSHA string // to_float of the edge blocks
}

func iqCheckGGML(t *testing.T, c iqGGMLCase) {
	t.Helper()
	tr := lbLookup(t, c.typ)
	if tr.DequantizeRow == nil || tr.QuantizeRow != nil || tr.BlockSize != qkK {
		t.Fatalf("%s: traits %+v", tr.Name, tr)
	}
	if _, listed := Unsupported(c.typ); listed {
		t.Errorf("%s is still listed as unsupported", tr.Name)
	}
	bulk := iqRandomBlocks(c.typ, iqBulkBlocks)
	if got := hex.EncodeToString(bulk[:tr.BlockBytes]); got != c.blockIn {
		t.Fatalf("%s: random stream differs from the generator's: first block %s, want %s", tr.Name, got, c.blockIn)
	}
	edge := iqEdgeBlocks(c.typ)
	if got := lbSHA(edge); got != c.edgeInSHA {
		t.Fatalf("%s: edge blocks differ from the generator's: sha256 %s, want %s", tr.Name, got, c.edgeInSHA)
	}
	want := lbFloatsFromHex(t, c.blockOut)
	got := lbDequant(t, c.typ, bulk[:tr.BlockBytes])
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: block 0 element %d = %g (%08x), ggml %g (%08x)", tr.Name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
	if got := lbSHA(lbFloatBytes(lbDequant(t, c.typ, bulk))); got != c.bulkDeqSHA {
		t.Errorf("%s: dequantized random blocks: sha256 %s, ggml %s", tr.Name, got, c.bulkDeqSHA)
	}
	if got := lbSHA(lbFloatBytes(lbDequant(t, c.typ, edge))); got != c.edgeDeqSHA {
		t.Errorf("%s: dequantized edge blocks: sha256 %s, ggml %s", tr.Name, got, c.edgeDeqSHA)
	}
}
