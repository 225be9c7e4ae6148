//go:build !purego

package kernels

import (
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestQuantizeActsAsm checks that the assembly quantizer and layout
// builder give exactly the Go code's bytes.
func TestQuantizeActsAsm(t *testing.T) {
	if quantQ8Rows == nil {
		t.Skip("no assembly quantizer on this CPU")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kind := range []actKind{actQ8_0, actQ8_1} {
		for _, shape := range [][2]int{{1, 32}, {3, 96}, {2, 4096}, {5, 160}} {
			rows, k := shape[0], shape[1]
			x := make([]float32, rows*k)
			for i := range x {
				switch i / 32 % 5 {
				case 0:
					x[i] = float32(rng.NormFloat64())
				case 1:
					x[i] = 0 // all-zero block
				case 2:
					x[i] = float32(rng.NormFloat64() * 1e-6) // tiny d
				case 3:
					x[i] = float32(rng.NormFloat64() * 1e4)
				case 4:
					x[i] = float32(rng.IntN(5)-2) * 0.5 // ties
				}
			}
			fastQ, fastVX := quantQ8Rows, buildVXRow
			got := quantizeActs(kind, x, rows, k)
			quantQ8Rows, buildVXRow = nil, nil
			want := quantizeActs(kind, x, rows, k)
			quantQ8Rows, buildVXRow = fastQ, fastVX
			eq := func(a, b []float32) bool {
				return slices.EqualFunc(a, b, func(p, q float32) bool { return math.Float32bits(p) == math.Float32bits(q) })
			}
			if !slices.Equal(got.q, want.q) || !eq(got.d, want.d) || !eq(got.s, want.s) || !slices.Equal(got.vx, want.vx) {
				t.Fatalf("kind %d, %dx%d: assembly and Go quantizers differ", kind, rows, k)
			}
		}
	}
}

// TestAVX2KernelsUseVEXRegisters checks that the generated AVX2 functions
// use only registers a VEX encoding can name: with X16-X31, Y16-Y31, Z or
// K registers the assembler would emit AVX-512 instructions, which fault
// on AVX2-only CPUs.
func TestAVX2KernelsUseVEXRegisters(t *testing.T) {
	src, err := os.ReadFile("zkernels_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	bad := regexp.MustCompile(`\b([XY](1[6-9]|2[0-9]|3[01])|Z[0-9]+|K[0-7])\b`)
	fn := ""
	for i, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, "TEXT ") {
			fn = line
			continue
		}
		if strings.Contains(fn, "avx2") && bad.MatchString(line) {
			t.Errorf("zkernels_amd64.s:%d: %s uses %q", i+1, strings.Fields(fn)[1], bad.FindString(line))
		}
	}
	if fn == "" {
		t.Fatal("no functions found")
	}
}
