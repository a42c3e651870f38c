package sgemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRunRows checks RunRows against Run with the same B copied out (A packed in advance,
// dst filled with a bias first), bit for bit, including depths over several blocks.
func TestRunRows(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, sz := range [][3]int{{8, 32, 1}, {64, 100, 576}, {16, 300, 257}, {72, 64, 40}} {
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
		got := make([]float32, m*ldc)
		for i := 0; i < m; i++ {
			fillF32(got[i*ldc:i*ldc+nPad], bias[i])
		}
		RunRows(got, ldc, PrepackA(a, m, k), src, offs, m, n, k)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				if g, w := got[i*ldc+j], want[i*n+j]; math.Float32bits(g) != math.Float32bits(w) {
					t.Fatalf("%dx%dx%d: [%d][%d] = %v, want %v", m, n, k, i, j, g, w)
				}
			}
		}
	}
}
