//go:build !purego

package kernels

import (
	"math/rand/v2"
	"syscall"
	"testing"
)

// TestKQPageGuard places each K-quant family matrix flush against an
// inaccessible page and runs every tier on it (the task kernels with one
// activation row, the row kernels with three): a kernel reading past the
// last block faults and kills the test.
func TestKQPageGuard(t *testing.T) {
	page := syscall.Getpagesize()
	rng := rand.New(rand.NewPCG(27, 28))
	for _, typ := range kqTypes {
		const n, k = 5, 512
		data := randomKQBlocks(rng, typ, n, k, 0.01)
		size := (len(data) + page - 1) / page * page
		mem, err := syscall.Mmap(-1, 0, size+page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			t.Skip("mmap:", err)
		}
		if err := syscall.Mprotect(mem[size:], syscall.PROT_NONE); err != nil {
			syscall.Munmap(mem)
			t.Skip("mprotect:", err)
		}
		w := mem[size-len(data) : size : size]
		copy(w, data)
		m := &Matrix{Type: typ, Rows: n, Cols: k, Data: w}
		for _, batch := range []int{1, 3} {
			x := make([]float32, batch*k)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			checkTiersAgainstGo(t, typ.String()+" page-guarded", m, x, batch)
		}
		if err := syscall.Munmap(mem); err != nil {
			t.Fatal(err)
		}
	}
}
