package verify

import (
	"hash/fnv"
	"math/rand/v2"
	"slices"
)

// SampleSeed is the first PCG seed word of SampleRows; the second is the
// FNV-1a hash of the tensor name.
const SampleSeed = 0x71636f6e76657269 // "qconveri"

// SampleRows returns k distinct row indexes of a tensor with rows rows, in
// increasing order: all rows when k <= 0 or k >= rows, else a uniform
// sample drawn with Floyd's algorithm from a PCG generator seeded with
// (SampleSeed, FNV-1a-64(name)). The same name, rows and k always give the
// same rows, on every machine and for every -j.
func SampleRows(name string, rows, k int64) []int64 {
	if k <= 0 || k >= rows {
		out := make([]int64, rows)
		for i := range out {
			out[i] = int64(i)
		}
		return out
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	rng := rand.New(rand.NewPCG(SampleSeed, h.Sum64()))
	seen := make(map[int64]bool, k)
	out := make([]int64, 0, k)
	for j := rows - k; j < rows; j++ {
		r := rng.Int64N(j + 1)
		if seen[r] {
			r = j
		}
		seen[r] = true
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}
