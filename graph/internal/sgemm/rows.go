package sgemm

import (
	"fmt"

	"github.com/qscript-dev/qscript/internal/parallel"
)

// RowsSupported reports whether RunRows can compute a product of m rows with A packed by
// PrepackA: the kernel in use has a form that reads B's rows in place, and m is a whole
// number of its panels.
func RowsSupported(m int) bool {
	mk := gemmKernel.forRows(m)
	return mk.rows != nil && mk.rowsInit != nil && m%mk.mr == 0
}

// RowsPanel is the panel width of RunRows' kernel for m rows: it computes whole panels.
func RowsPanel(m int) int { return gemmKernel.forRows(m).nr }

// RunRows sets dst to A·B plus rowInit[i] in row i (zero when rowInit is nil), where A
// (m×k) was packed by PrepackA and row kk of B is b[offs[kk]:], read in place: B's rows are
// slices of one array (a convolution's zero-padded input, shifted by each kernel tap),
// which need not be copied into panels. n is rounded up to whole panels of RowsPanel(m)
// columns: dst (rows ldc apart) and every row of B must hold that many. Each element of dst
// gets the additions Run with Operands.Fill would give it with B packed (same kernel, same
// depth blocks, in the same order; the first block adds the row start, as Run's does).
// Its tiles are split over up to workers goroutines. RowsSupported(m) must hold.
func RunRows(dst []float32, ldc int, packedA, b []float32, offs []int, m, n, k int, rowInit []float32, workers int) {
	mk := gemmKernel.forRows(m)
	mr, nr := mk.mr, mk.nr
	nPad := (n + nr - 1) / nr * nr
	if !RowsSupported(m) || len(offs) < k || len(packedA) < m*k || (m > 0 && len(dst) < (m-1)*ldc+nPad) || (rowInit != nil && len(rowInit) < m) {
		panic(fmt.Sprintf("sgemm: RunRows of %dx%dx%d: unsupported or short operands", m, n, k))
	}
	for _, o := range offs[:k] {
		if o < 0 || o+nPad > len(b) {
			panic(fmt.Sprintf("sgemm: RunRows: row offset %d with %d columns outside B's %d values", o, nPad, len(b)))
		}
	}
	if k == 0 {
		gemmFill(dst, ldc, rowInit, 0, m, 0, nPad)
		return
	}
	mc := max(mr, gemmMC/mr*mr)
	tiles := (m + mc - 1) / mc * ((nPad + gemmNC - 1) / gemmNC)
	r := rowsRun{mk: mk, dst: dst, ldc: ldc, a: packedA, b: b, offs: offs, m: m, k: k, nPad: nPad, mc: mc, rowInit: rowInit}
	if workers = min(workers, tiles); workers <= 1 {
		r.tiles(0, tiles) // no closure: a serial product makes no garbage
		return
	}
	parallel.Split(tiles, workers, r.tiles)
}

// rowsRun is RunRows' product, computed over a range of its mc×gemmNC tiles.
type rowsRun struct {
	mk                  microKernel
	dst, a, b           []float32
	offs                []int
	ldc, m, k, nPad, mc int
	rowInit             []float32
}

func (r rowsRun) tiles(t0, t1 int) {
	mr, nr := r.mk.mr, r.mk.nr
	tilesN := (r.nPad + gemmNC - 1) / gemmNC
	for t := t0; t < t1; t++ {
		i0, j0 := t/tilesN*r.mc, t%tilesN*gemmNC
		i1, j1 := min(i0+r.mc, r.m), min(j0+gemmNC, r.nPad)
		for k0 := 0; k0 < r.k; k0 += gemmKC {
			kc := min(gemmKC, r.k-k0)
			block := r.a[r.m*k0 : r.m*k0+r.m*kc]
			offs := r.offs[k0 : k0+kc]
			for j := j0; j < j1; j += nr {
				for i := i0; i < i1; i += mr {
					a, c := block[(i/mr)*mr*kc:(i/mr+1)*mr*kc], r.dst[i*r.ldc+j:]
					if k0 == 0 {
						r.mk.rowsInit(kc, a, r.b[j:], offs, c, r.ldc, rowInitAt(r.rowInit, i, mr))
						continue
					}
					r.mk.rows(kc, a, r.b[j:], offs, c, r.ldc)
				}
			}
		}
	}
}
