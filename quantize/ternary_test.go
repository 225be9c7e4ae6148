package quantize

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// TestTernaryKnownBlock checks the packing by hand: x[0] = 1 and zeros
// elsewhere gives d = 1, trit +1 (code 2) for element 0 and code 1 for the
// rest. TQ1_0: byte 0 = ceil((2·81 + 27 + 9 + 3 + 1)·256/243) = 213, other
// qs bytes ceil(121·256/243) = 128, qh bytes ceil(40·3·256/243) = 127.
// TQ2_0: byte 0 = 0b01010110, the others 0x55.
func TestTernaryKnownBlock(t *testing.T) {
	x := make([]float32, 256)
	x[0] = 1
	tq1 := make([]byte, 54)
	quantizeRowTQ1_0(tq1, x, nil)
	for i, b := range tq1[:52] {
		want := byte(128)
		switch {
		case i == 0:
			want = 213
		case i >= 48:
			want = 127
		}
		if b != want {
			t.Fatalf("tq1_0 byte %d = %d, want %d (block %x)", i, b, want, tq1)
		}
	}
	if d := binary.LittleEndian.Uint16(tq1[52:]); d != 0x3c00 {
		t.Errorf("tq1_0 d = %#04x", d)
	}
	tq2 := make([]byte, 66)
	quantizeRowTQ2_0(tq2, x, nil)
	for i, b := range tq2[:64] {
		want := byte(0x55)
		if i == 0 {
			want = 0x56
		}
		if b != want {
			t.Fatalf("tq2_0 byte %d = %#02x, want %#02x", i, b, want)
		}
	}
	if d := binary.LittleEndian.Uint16(tq2[64:]); d != 0x3c00 {
		t.Errorf("tq2_0 d = %#04x", d)
	}
}

// TestTernaryRoundTrip: rows of d·{-1,0,1} with an fp16-exact d come back
// exactly; halfway values round away from zero (lroundf).
func TestTernaryRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 1024
	x := make([]float32, n)
	for _, d := range []float32{0.75, 1, 0.013671875, 3} {
		for i := range x {
			x[i] = d * float32(r.IntN(3)-1)
		}
		x[5] = d // make sure the block maxima are d
		for b := 0; b < n; b += 256 {
			x[b] = -d
		}
		for _, tr := range []*Traits{mustLookup(t, "tq1_0"), mustLookup(t, "tq2_0")} {
			q := make([]byte, tr.RowBytes(n))
			tr.QuantizeRow(q, x, nil)
			y := make([]float32, n)
			tr.DequantizeRow(y, q)
			for i := range x {
				if math.Float32bits(x[i]) != math.Float32bits(y[i]) && !(x[i] == 0 && y[i] == 0) {
					t.Fatalf("%s d=%g: element %d = %g came back as %g", tr.Name, d, i, x[i], y[i])
				}
			}
		}
	}
	// Halfway: 0.5·d → +d, -0.5·d → -d, just below half → 0.
	clear(x)
	x[0], x[1], x[2], x[3] = 1, 0.5, -0.5, 0.49999997
	for _, tr := range []*Traits{mustLookup(t, "tq1_0"), mustLookup(t, "tq2_0")} {
		q := make([]byte, tr.RowBytes(n))
		tr.QuantizeRow(q, x, nil)
		y := make([]float32, n)
		tr.DequantizeRow(y, q)
		if y[1] != 1 || y[2] != -1 || y[3] != 0 {
			t.Errorf("%s: halfway values gave %v", tr.Name, y[:4])
		}
	}
}

func mustLookup(t *testing.T, name string) *Traits {
	t.Helper()
	for _, tr := range Registered() {
		if tr.Name == name {
			return tr
		}
	}
	t.Fatalf("%s not registered", name)
	return nil
}
