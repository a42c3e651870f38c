package sgemm

import "fmt"

// RowsSupported reports whether RunRows can compute a product of m rows with A packed by
// PrepackA: the kernel in use has a form that reads B's rows in place, and m is a whole
// number of its panels.
func RowsSupported(m int) bool {
	mk := gemmKernel.forRows(m)
	return mk.rows != nil && m%mk.mr == 0
}

// RowsPanel is the panel width of RunRows' kernel for m rows: it computes whole panels.
func RowsPanel(m int) int { return gemmKernel.forRows(m).nr }

// RunRows adds A·B to dst, where A (m×k) was packed by PrepackA and row kk of B is
// b[offs[kk]:], read in place: B's rows are slices of one array (a convolution's
// zero-padded input, shifted by each kernel tap), which need not be copied into panels.
// n is rounded up to whole panels of RowsPanel(m) columns: dst (rows ldc apart) and every
// row of B must hold that many. Each element of dst gets the additions Run would give it
// with B packed (same kernel, same depth blocks, in the same order). RowsSupported(m)
// must hold.
func RunRows(dst []float32, ldc int, packedA, b []float32, offs []int, m, n, k int) {
	mk := gemmKernel.forRows(m)
	mr, nr := mk.mr, mk.nr
	nPad := (n + nr - 1) / nr * nr
	if mk.rows == nil || m%mr != 0 || len(offs) < k || len(packedA) < m*k || (m > 0 && len(dst) < (m-1)*ldc+nPad) {
		panic(fmt.Sprintf("sgemm: RunRows of %dx%dx%d: unsupported or short operands", m, n, k))
	}
	for _, o := range offs[:k] {
		if o < 0 || o+nPad > len(b) {
			panic(fmt.Sprintf("sgemm: RunRows: row offset %d with %d columns outside B's %d values", o, nPad, len(b)))
		}
	}
	mc := max(mr, gemmMC/mr*mr)
	for i0 := 0; i0 < m; i0 += mc {
		i1 := min(i0+mc, m)
		for j0 := 0; j0 < nPad; j0 += gemmNC {
			j1 := min(j0+gemmNC, nPad)
			for k0 := 0; k0 < k; k0 += gemmKC {
				kc := min(gemmKC, k-k0)
				block := packedA[m*k0 : m*k0+m*kc]
				for j := j0; j < j1; j += nr {
					for i := i0; i < i1; i += mr {
						mk.rows(kc, block[(i/mr)*mr*kc:(i/mr+1)*mr*kc], b[j:], offs[k0:k0+kc], dst[i*ldc+j:], ldc)
					}
				}
			}
		}
	}
}
