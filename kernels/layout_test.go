package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/quantize"
)

// specHeader lists, per tileable type, the scale fields of its block as
// ggml's block structs define them (offset, length), written out here
// independently of splits.
var specHeader = map[gguf.Type][][2]int{
	gguf.TypeQ4_0: {{0, 2}}, gguf.TypeQ4_1: {{0, 2}, {2, 2}}, gguf.TypeQ5_0: {{0, 2}, {2, 4}},
	gguf.TypeQ5_1: {{0, 2}, {2, 2}, {4, 4}}, gguf.TypeQ8_0: {{0, 2}}, gguf.TypeIQ4_NL: {{0, 2}},
	gguf.TypeQ2_K: {{0, 16}, {80, 2}, {82, 2}}, gguf.TypeQ3_K: {{96, 12}, {108, 2}},
	gguf.TypeQ4_K: {{0, 2}, {2, 2}, {4, 12}}, gguf.TypeQ5_K: {{0, 2}, {2, 2}, {4, 12}},
	gguf.TypeQ6_K: {{192, 16}, {208, 2}}, gguf.TypeIQ4_XS: {{0, 2}, {2, 2}, {4, 4}},
	gguf.TypeTQ1_0: {{52, 2}}, gguf.TypeTQ2_0: {{64, 2}},
}

// specPos returns where the layout definition (docs/layouts.md) puts byte
// p of block j of tile row r, counted from the start of the tile.
func specPos(t gguf.Type, R, nb, r, j, p int) int {
	bb := t.BlockBytes()
	hdrN := 0
	for _, h := range specHeader[t] {
		hdrN += h[1]
	}
	base := j * R * bb
	// A scale byte: fields one after the other, R rows each; within a
	// field, unit by unit (the fp16, or 4-byte pieces), rows 0..R-1.
	fb := 0
	for _, h := range specHeader[t] {
		if p >= h[0] && p < h[0]+h[1] {
			o := p - h[0]
			us := 4
			if h[1] == 2 {
				us = 2
			}
			return base + R*fb + (o/us*R+r)*us + o%us
		}
		fb += h[1]
	}
	// A quant byte: its index q in the row's quant stream (the block
	// without its scale bytes), then 4-byte chunks round-robin over rows.
	q := p
	for _, h := range specHeader[t] {
		if h[0] < p {
			q -= min(h[1], p-h[0])
		}
	}
	return base + R*hdrN + (q/4*R+r)*4 + q%4
}

func TestPackMatchesSpec(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	if len(splits) != len(specHeader) {
		t.Fatalf("%d tileable types, the spec lists %d", len(splits), len(specHeader))
	}
	for typ := range specHeader {
		if !Tileable(typ) {
			t.Fatalf("%s is not tileable", typ)
		}
		bs, bb := typ.BlockSize(), typ.BlockBytes()
		for _, R := range []int{4, 8, 16} {
			l := BlockMajor(R)
			for _, rows := range []int{0, 1, R - 1, R, 2*R + 3} {
				cols := 3 * bs
				nb := cols / bs
				rb := nb * bb
				src := make([]byte, rows*rb)
				for i := range src {
					src[i] = byte(rng.Uint32())
				}
				dst := make([]byte, len(src))
				Pack(dst, src, typ, rows, cols, l)
				full := rows / R * R
				for r := range rows {
					for j := range nb {
						for p := range bb {
							want := src[r*rb+j*bb+p]
							var at int
							if r < full {
								at = r/R*R*rb + specPos(typ, R, nb, r%R, j, p)
							} else {
								at = r*rb + j*bb + p
							}
							if dst[at] != want {
								t.Fatalf("%s R=%d rows=%d: row %d block %d byte %d: at %d got %#x, want %#x", typ, R, rows, r, j, p, at, dst[at], want)
							}
						}
					}
				}
				back := make([]byte, len(src))
				Unpack(back, dst, typ, rows, cols, l)
				if !slices.Equal(back, src) {
					t.Fatalf("%s R=%d rows=%d: Unpack(Pack(x)) != x", typ, R, rows)
				}
			}
		}
	}
}

func TestLayoutNames(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Layout
	}{{"row", RowMajor}, {"Row-Major", RowMajor}, {"block", BlockMajor(DefaultTileRows)}, {"block-major-8", BlockMajor(8)}, {"block-major-4", BlockMajor(4)}} {
		got, err := ParseLayout(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseLayout(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "column", "block-major-3", "block-major-32"} {
		if _, err := ParseLayout(bad); err == nil {
			t.Errorf("ParseLayout(%q) accepted", bad)
		}
	}
	if s := BlockMajor(16).String(); s != "block-major-16" {
		t.Errorf("String = %q", s)
	}
	for _, f := range []func(){
		func() { BlockMajor(5) },
		func() { Pack(make([]byte, 4), make([]byte, 4), gguf.TypeF16, 2, 1, BlockMajor(4)) },
		func() { Pack(make([]byte, 18), make([]byte, 17), gguf.TypeQ4_0, 1, 32, BlockMajor(4)) },
		func() { Pack(make([]byte, 18), make([]byte, 18), gguf.TypeQ4_0, 1, 32, RowMajor) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
}

// TestMatMulBlockMajor runs every tileable type in every tile height at
// every tier against the row-major result of the same tier: bit for bit
// where the tier unpacks tiles into the row-major kernels, and within
// tierAgree where a native tile kernel sums in its own order.
func TestMatMulBlockMajor(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for typ := range specHeader {
		tr, ok := quantize.Lookup(typ)
		if !ok || tr.QuantizeRow == nil || !Supported(typ) {
			t.Logf("%s: no quantizer or kernel; skipped", typ)
			continue
		}
		bs := typ.BlockSize()
		for _, shape := range [][2]int{{53, 2 * max(bs, 128)}, {7, bs}, {64, 3 * bs}} {
			N, K := shape[0], shape[1]
			src := make([]float32, N*K)
			for i := range src {
				src[i] = float32(rng.NormFloat64() * 0.3)
			}
			rm := make([]byte, N*tr.RowBytes(K))
			if err := quantize.Quantize(typ, rm, src, K, nil); err != nil {
				t.Fatal(err)
			}
			deq := make([]float32, N*K)
			if err := quantize.Dequantize(typ, deq, rm); err != nil {
				t.Fatal(err)
			}
			for _, R := range []int{4, 8, 16} {
				bm := make([]byte, len(rm))
				Pack(bm, rm, typ, N, K, BlockMajor(R))
				mR := &Matrix{Type: typ, Rows: N, Cols: K, Data: rm}
				mB := &Matrix{Type: typ, Rows: N, Cols: K, Layout: BlockMajor(R), Data: bm}
				for _, batch := range []int{1, 3, 8, 9, 17} {
					x := make([]float32, batch*K)
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
					for _, tier := range Tiers() {
						for _, act := range []Activations{ActQuantized, ActFloat} {
							opts := Options{Tier: tier, Activations: act, Threads: 2}
							name := fmt.Sprintf("%s %dx%d R=%d batch %d %v", typ, N, K, R, batch, opts)
							want := callGuarded(t, x, batch, mR, opts)
							got := callGuarded(t, x, batch, mB, opts)
							native := pickTile(tier, typ, R, pick(tier, typ, act)) != nil
							for i := range got {
								if !native {
									if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
										t.Fatalf("%s: y[%d] = %g, row-major %g (must be identical)", name, i, got[i], want[i])
									}
									continue
								}
								b, n := i/N, i%N
								var den float64
								for k := range K {
									den += math.Abs(float64(x[b*K+k]) * float64(deq[n*K+k]))
								}
								if e := errOf(float64(got[i]), float64(want[i]), den); e > tierAgree {
									t.Fatalf("%s: y[%d] = %g, row-major %g (%.3g apart)", name, i, got[i], want[i], e)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestTileDispatch checks that the native tile kernels are the ones picked
// where the CPU has them, so TestMatMulBlockMajor exercises them.
func TestTileDispatch(t *testing.T) {
	if !TierAVX512.Available() {
		t.Skip("no AVX-512 tier on this CPU/build")
	}
	for _, typ := range []gguf.Type{gguf.TypeQ4_0, gguf.TypeQ8_0, gguf.TypeIQ4_NL, gguf.TypeQ4_K} {
		if pickTile(TierAVX512, typ, 16, pick(TierAVX512, typ, ActQuantized)) == nil {
			t.Errorf("%s: no 16-row tile kernel at avx512", typ)
		}
		if pickTile(TierAVX512, typ, 16, pick(TierAVX512, typ, ActFloat)) != nil {
			t.Errorf("%s: tile kernel picked for float activations", typ)
		}
		if pickTile(TierGo, typ, 16, pick(TierGo, typ, ActQuantized)) != nil {
			t.Errorf("%s: tile kernel picked for the go tier", typ)
		}
	}
}

// TestTileKernelsRandomBlocks feeds the tile kernels arbitrary block
// bytes (every quant code, -128 included, every 6-bit scale and min;
// finite fp16 scales) and requires the block-major result of each tier to
// match the row-major one of the same tier.
func TestTileKernelsRandomBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeIQ4_NL, gguf.TypeQ4_K} {
		const n, batch = 37, 11
		k := 352
		if typ.BlockSize() == 256 {
			k = 768
		}
		bb := typ.BlockBytes()
		data := make([]byte, n*k/typ.BlockSize()*bb)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for i := 0; i < len(data); i += bb {
			// d (and Q4_K's dmin) finite; every other byte arbitrary
			for f := 0; f < 1+bb/144; f++ {
				h := fp32ToFP16(float32(rng.NormFloat64() * 0.01))
				data[i+2*f], data[i+2*f+1] = byte(h), byte(h>>8)
			}
		}
		x := make([]float32, batch*k)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		deq := make([]float32, n*k)
		if err := quantize.Dequantize(typ, deq, data); err != nil {
			t.Fatal(err)
		}
		bm := make([]byte, len(data))
		Pack(bm, data, typ, n, k, BlockMajor(16))
		for _, tier := range Tiers() {
			opts := Options{Tier: tier, Threads: 2}
			want := callGuarded(t, x, batch, &Matrix{Type: typ, Rows: n, Cols: k, Data: data}, opts)
			got := callGuarded(t, x, batch, &Matrix{Type: typ, Rows: n, Cols: k, Layout: BlockMajor(16), Data: bm}, opts)
			native := pickTile(tier, typ, 16, pick(tier, typ, ActQuantized)) != nil
			for i := range got {
				if !native {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s tier %s: y[%d] = %g, row-major %g", typ, tier, i, got[i], want[i])
					}
					continue
				}
				b, r := i/n, i%n
				var den float64
				for c := range k {
					den += math.Abs(float64(x[b*k+c]) * float64(deq[r*k+c]))
				}
				if e := errOf(float64(got[i]), float64(want[i]), den); e > tierAgree {
					t.Fatalf("%s tier %s: y[%d] = %g, row-major %g (%.3g apart)", typ, tier, i, got[i], want[i], e)
				}
			}
		}
	}
}
