package sgemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRunRows checks RunRows against Run with the same B copied out (A packed in advance,
// Fill with a bias), bit for bit, including depths over several blocks, on one and two
// goroutines.
func TestRunRows(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, sz := range [][3]int{{8, 32, 1}, {64, 100, 576}, {16, 300, 257}, {72, 64, 40}, {128, 600, 300}} {
		m, n, k := sz[0], sz[1], sz[2]
		if !RowsSupported(m) {
			t.Skipf("no in-place kernel for %d rows on this CPU", m)
		}
		nPad := (n + RowsPanel(m) - 1) / RowsPanel(m) * RowsPanel(m)
		a := Matrix{Data: randSlice(r, m*k), LD: k}
		src := randSlice(r, 4*n+k)
		offs := make([]int, k)
		bm := make([]float32, k*n)
		for kk := range offs {
			offs[kk] = r.IntN(len(src) - nPad)
			copy(bm[kk*n:(kk+1)*n], src[offs[kk]:])
		}
		bias := randSlice(r, m)
		want := make([]float32, m*n)
		Run(nil, want, n, Operands{PackedA: PrepackA(a, m, k), B: Matrix{Data: bm, LD: n}, Fill: true, RowInit: bias}, m, n, k, 1)
		ldc := nPad + 3
		for _, workers := range []int{1, 2} {
			got := randSlice(r, m*ldc) // RunRows sets every element
			RunRows(got, ldc, PrepackA(a, m, k), src, offs, m, n, k, bias, workers)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					if g, w := got[i*ldc+j], want[i*n+j]; math.Float32bits(g) != math.Float32bits(w) {
						t.Fatalf("%dx%dx%d workers=%d: [%d][%d] = %v, want %v", m, n, k, workers, i, j, g, w)
					}
				}
			}
		}
	}
}

// TestRunBRowOffsets checks Run reading B's whole panels in place (Operands.BRowOffsets)
// against Run packing B, bit for bit, with and without the bias fill, residual and
// activation, on one and two goroutines, over widths with and without a partial last
// panel (49 and 196 columns: 7×7 and 14×14 planes), depths over several blocks, and a B
// that ends right after its last row (the last panel must not be read in place). The
// guard cells after dst must stay untouched.
func TestRunBRowOffsets(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, sz := range [][3]int{{8, 32, 1}, {16, 49, 160}, {64, 196, 300}, {24, 300, 513}, {8, 7, 5}, {40, 64, 24}} {
		m, n, k := sz[0], sz[1], sz[2]
		if !RowsSupported(m) {
			t.Skipf("no in-place kernel for %d rows on this CPU", m)
		}
		a := Matrix{Data: randSlice(r, m*k), LD: k}
		b := Matrix{Data: randSlice(r, k*n), LD: n}
		offs := make([]int, k)
		for kk := range offs {
			offs[kk] = kk * n
		}
		bias, res := randSlice(r, m), randSlice(r, m*n)
		for _, ops := range []Operands{
			{},
			{Fill: true, RowInit: bias},
			{Fill: true, Residual: res, Act: Activation{Kind: ActClamp, Lo: 0, Hi: 0.3}},
			{Residual: res, Act: Activation{Kind: ActRelu}},
		} {
			ops.PackedA, ops.B = PrepackA(a, m, k), b
			for _, workers := range []int{1, 2} {
				start := randSlice(r, m*n+16)
				want := append([]float32{}, start...)
				Run(nil, want[:m*n], n, ops, m, n, k, workers)
				got := append([]float32{}, start...)
				ops.BRowOffsets = offs
				Run(nil, got[:m*n], n, ops, m, n, k, workers)
				ops.BRowOffsets = nil
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%dx%dx%d fill=%v residual=%v workers=%d: element %d is %v, want %v", m, n, k, ops.Fill, ops.Residual != nil, workers, i, got[i], want[i])
					}
				}
			}
		}
	}
}
