package graph

import (
	"runtime"
	"sync"
)

// microKernel adds the mr×nr product of a packed A panel (kc×mr) and a packed B panel (kc×nr)
// to c, whose rows are ldc apart.
type microKernel struct {
	mr, nr int
	run    func(kc int, a, b, c []float32, ldc int)
}

// goKernel is the portable 4×4 kernel: its 16 accumulators are local variables that the
// compiler keeps in registers.
var goKernel = microKernel{mr: 4, nr: 4, run: kernel4x4}

// gemmKernel is the kernel sgemmTo uses: goKernel, or an assembly kernel chosen at init when
// the CPU has it (sgemm_amd64.go).
var gemmKernel = goKernel

const (
	// gemmKC is the depth of one packed block: an MR×KC panel of A and a KC×NR panel of B stay in
	// L1 while the micro-kernel sweeps them.
	gemmKC = 256
	// gemmMC and gemmNC are the tile of C one worker owns; tiles are disjoint, so workers never
	// write the same element.
	gemmMC = 64
	gemmNC = 256
	// gemmParallelFlops is the work below which one goroutine is faster than several.
	gemmParallelFlops = 1 << 17
)

// matrix describes a row-major float32 operand, possibly read transposed.
type matrix struct {
	data  []float32
	ld    int  // elements between consecutive rows of the stored matrix
	trans bool // the logical matrix is the transpose of the stored one
}

func (x matrix) at(i, j int) float32 {
	if x.trans {
		return x.data[j*x.ld+i]
	}
	return x.data[i*x.ld+j]
}

// sgemmTo adds A·B to dst, where A is m×k, B is k×n and dst is m×n row-major with row stride
// ldc. Callers zero dst, or fill it with a bias, first. Reference loop:
//
//	for i := 0; i < m; i++ {
//		for j := 0; j < n; j++ {
//			for p := 0; p < k; p++ {
//				dst[i*ldc+j] += A[i][p] * B[p][j]
//			}
//		}
//	}
//
// B is packed once into NR-wide column panels shared by all workers; the work is split into
// MC×NC tiles of dst, and each worker packs its own A panels per tile.
func sgemmTo(dst []float32, ldc int, a, b matrix, m, n, k int) {
	sgemmWith(gemmKernel, dst, ldc, a, b, m, n, k)
}

func sgemmWith(mk microKernel, dst []float32, ldc int, a, b matrix, m, n, k int) {
	if m == 0 || n == 0 || k == 0 {
		return
	}
	nPanels := (n + mk.nr - 1) / mk.nr
	bp := getBuf(nPanels * mk.nr * k)
	packB(bp, b, n, k, mk.nr)
	mc := max(mk.mr, gemmMC/mk.mr*mk.mr) // whole panels per tile
	tilesM := (m + mc - 1) / mc
	tilesN := (n + gemmNC - 1) / gemmNC
	tiles := tilesM * tilesN
	workers := min(runtime.GOMAXPROCS(0), tiles)
	if 2*m*n*k < gemmParallelFlops {
		workers = 1
	}
	run := func(t int, ap []float32) {
		i0, j0 := (t/tilesN)*mc, (t%tilesN)*gemmNC
		gemmTile(mk, dst, ldc, a, bp, i0, min(i0+mc, m), j0, min(j0+gemmNC, n), k, ap)
	}
	if workers <= 1 {
		ap := getBuf((gemmMC + mk.mr) * gemmKC)
		for t := 0; t < tiles; t++ {
			run(t, ap)
		}
		putBuf(ap)
		putBuf(bp)
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ap := getBuf((gemmMC + mk.mr) * gemmKC)
			defer putBuf(ap)
			for {
				mu.Lock()
				t := next
				next++
				mu.Unlock()
				if t >= tiles {
					return
				}
				run(t, ap)
			}
		}()
	}
	wg.Wait()
	putBuf(bp)
}

// packB lays B out as panels of nr columns: panel p holds, for each row kk, B[kk][p*nr : p*nr+nr]
// (zero-padded past n).
func packB(bp []float32, b matrix, n, k, nr int) {
	for p := 0; p*nr < n; p++ {
		j0 := p * nr
		panel := bp[p*nr*k : (p+1)*nr*k]
		cols := min(nr, n-j0)
		if !b.trans && cols == nr {
			for kk := 0; kk < k; kk++ {
				copy(panel[kk*nr:kk*nr+nr], b.data[kk*b.ld+j0:kk*b.ld+j0+nr])
			}
			continue
		}
		for kk := 0; kk < k; kk++ {
			row := panel[kk*nr : kk*nr+nr]
			for jj := range row {
				if jj < cols {
					row[jj] = b.at(kk, j0+jj)
				} else {
					row[jj] = 0
				}
			}
		}
	}
}

// packA lays rows i0..i1 and depth k0..k1 of A out as panels of mr rows: for each kk, mr values.
func packA(ap []float32, a matrix, i0, i1, k0, k1, mr int) {
	kc := k1 - k0
	for pi := 0; i0+pi*mr < i1; pi++ {
		r0 := i0 + pi*mr
		rows := min(mr, i1-r0)
		panel := ap[pi*mr*kc : (pi+1)*mr*kc]
		for r := 0; r < mr; r++ {
			if r >= rows {
				for kk := 0; kk < kc; kk++ {
					panel[kk*mr+r] = 0
				}
				continue
			}
			if a.trans {
				for kk := 0; kk < kc; kk++ {
					panel[kk*mr+r] = a.data[(k0+kk)*a.ld+r0+r]
				}
				continue
			}
			src := a.data[(r0+r)*a.ld+k0 : (r0+r)*a.ld+k1]
			for kk, v := range src {
				panel[kk*mr+r] = v
			}
		}
	}
}

// gemmTile computes the dst tile rows i0..i1, cols j0..j1 over the whole depth k.
func gemmTile(mk microKernel, dst []float32, ldc int, a matrix, bp []float32, i0, i1, j0, j1, k int, ap []float32) {
	mr, nr := mk.mr, mk.nr
	var edgeBuf [16 * 16]float32
	edge := edgeBuf[:mr*nr]
	for k0 := 0; k0 < k; k0 += gemmKC {
		k1 := min(k0+gemmKC, k)
		kc := k1 - k0
		packA(ap, a, i0, i1, k0, k1, mr)
		for j := j0; j < j1; j += nr {
			p := j / nr
			bpanel := bp[p*nr*k+k0*nr : p*nr*k+k1*nr]
			cols := min(nr, j1-j)
			for i := i0; i < i1; i += mr {
				apanel := ap[(i-i0)*kc : (i-i0)*kc+mr*kc]
				rows := min(mr, i1-i)
				if rows == mr && cols == nr {
					mk.run(kc, apanel, bpanel, dst[i*ldc+j:], ldc)
					continue
				}
				clear(edge)
				mk.run(kc, apanel, bpanel, edge, nr)
				for r := 0; r < rows; r++ {
					for c := 0; c < cols; c++ {
						dst[(i+r)*ldc+j+c] += edge[r*nr+c]
					}
				}
			}
		}
	}
}

// kernel4x4 adds the 4×4 product of a packed A panel (kc×4) and B panel (kc×4) to c.
func kernel4x4(kc int, a, b, c []float32, ldc int) {
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	a = a[:4*kc]
	b = b[:4*kc]
	for p := 0; p < kc; p++ {
		aa := a[4*p : 4*p+4 : 4*p+4]
		bb := b[4*p : 4*p+4 : 4*p+4]
		a0, a1, a2, a3 := aa[0], aa[1], aa[2], aa[3]
		b0, b1, b2, b3 := bb[0], bb[1], bb[2], bb[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	r := c[0:4:4]
	r[0] += c00
	r[1] += c01
	r[2] += c02
	r[3] += c03
	r = c[ldc : ldc+4 : ldc+4]
	r[0] += c10
	r[1] += c11
	r[2] += c12
	r[3] += c13
	r = c[2*ldc : 2*ldc+4 : 2*ldc+4]
	r[0] += c20
	r[1] += c21
	r[2] += c22
	r[3] += c23
	r = c[3*ldc : 3*ldc+4 : 3*ldc+4]
	r[0] += c30
	r[1] += c31
	r[2] += c32
	r[3] += c33
}

// bufPool recycles packing buffers across calls and goroutines.
var bufPool sync.Pool

func getBuf(n int) []float32 {
	if p, ok := bufPool.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n)
}

func putBuf(b []float32) {
	bufPool.Put(&b)
}
