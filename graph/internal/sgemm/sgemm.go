package sgemm

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/qscript-dev/qscript/internal/parallel"
)

// microKernel adds the mr×nr product of a packed A panel (kc×mr) and a packed B panel (kc×nr)
// to c, whose rows are ldc apart.
type microKernel struct {
	mr, nr int
	run    func(kc int, a, b, c []float32, ldc int)
	// narrow, when set, is a kernel with a smaller tile that sgemm uses instead when padding
	// the product to its tile wastes less (forProduct): the attention products of small
	// encoders (6×8 by 6) and their 16-wide weights fill a fraction of an 8×32 tile.
	narrow *microKernel
	// edge, when set, computes a partial tile (rows ≤ mr, cols ≤ nr, at least one less) in
	// place, touching no element of c outside it; without it gemmTile goes through a buffer.
	edge func(kc, rows, cols int, a, b, c []float32, ldc int)
	// init, when set, is run for a whole tile that sets c[r][j] to init[r] plus the
	// product (the same addition as filling c with init[r], then run): the first depth
	// block of a product with Operands.Fill, which then skips filling those tiles.
	init func(kc int, a, b, c []float32, ldc int, init []float32)
	// rows, when set, is run for a whole tile reading step p's nr values of B at
	// b[offs[p]:] in place of a packed panel (RunRows).
	rows func(kc int, a, b []float32, offs []int, c []float32, ldc int)
	// rowsInit is rows that sets c[r][j] to init[r] plus the product, as init does: set
	// whenever rows is.
	rowsInit func(kc int, a, b []float32, offs []int, c []float32, ldc int, init []float32)
}

// forProduct is the kernel sgemm runs for an m×n product of ops: mk, or mk.narrow when that
// pads less or n is under two of mk's panels (see forCols). An operand packed in advance
// fixes the choice, which PrepackA made from m alone (forRows) or PrepackB from n alone
// (forCols), so that the kernel matches its layout. No caller packs both in advance.
func (mk microKernel) forProduct(m, n int, ops Operands) microKernel {
	switch {
	case ops.PackedA != nil:
		// A B packed too was packed for this kernel's panels (PackedAPanelWidth).
		return mk.forRows(m)
	case ops.PackedB != nil:
		return mk.forCols(n)
	}
	if nk := mk.narrow; nk != nil && (nk.padded(m, n) < mk.padded(m, n) || n < 2*mk.nr) {
		return *nk
	}
	return mk
}

// PackedAPanelWidth is the width of B's panels in a product whose A (m rows) was packed in
// advance: a B packed for it (PackBRow) may come packed too.
func PackedAPanelWidth(m int) int { return gemmKernel.forRows(m).nr }

// PackedBSize is the length of a k×n B packed for panels of nr columns.
func PackedBSize(n, k, nr int) int { return packedBSize(n, k, nr) }

// PackBRow writes row, columns col0.. of row kk of a k×n B, into bp, B packed for panels
// of nr columns (zero-padded past n), the layout packB makes: a caller that builds B row by
// row (Conv's im2col, one image's columns after another's) packs it without writing the
// whole matrix first.
func PackBRow(bp, row []float32, n, k, kk, nr, col0 int) {
	for j := 0; j < len(row); {
		c := col0 + j
		p, off := c/nr, c%nr
		cnt := min(nr-off, len(row)-j)
		o := p*nr*k + kk*nr + off
		if cnt == 32 {
			// A whole 32-wide panel row: a fixed-size copy is inline vector moves, where
			// copy() pays memmove's call and size dispatch (~15% of PackBRow measured).
			*(*[32]float32)(bp[o : o+32]) = *(*[32]float32)(row[j : j+32])
		} else {
			copy(bp[o:o+cnt], row[j:j+cnt])
		}
		j += cnt
	}
	if end := col0 + len(row); end == n && n%nr != 0 {
		o := (n/nr)*nr*k + kk*nr
		clear(bp[o+n%nr : o+nr])
	}
}

// forRows is mk, or mk.narrow when padding m rows to its mr wastes fewer rows.
func (mk microKernel) forRows(m int) microKernel {
	if nk := mk.narrow; nk != nil && nk.padded(m, 1)/nk.nr < mk.padded(m, 1)/mk.nr {
		return *nk
	}
	return mk
}

// forCols is mk, or mk.narrow when padding n columns to its nr wastes fewer columns or n
// is under two of mk's panels: BenchmarkModelRun measured the small encoders' 32-wide
// products (6×32 by 16) 2% slower through the wide kernel.
func (mk microKernel) forCols(n int) microKernel {
	if nk := mk.narrow; nk != nil && (nk.padded(1, n)/nk.mr < mk.padded(1, n)/mk.mr || n < 2*mk.nr) {
		return *nk
	}
	return mk
}

// padded is the size of an m×n product once padded to whole mr×nr tiles.
func (mk microKernel) padded(m, n int) int {
	return (m + mk.mr - 1) / mk.mr * mk.mr * ((n + mk.nr - 1) / mk.nr * mk.nr)
}

// goKernel is the portable 4×4 kernel: its 16 accumulators are local variables that the
// compiler keeps in registers.
var goKernel = microKernel{mr: 4, nr: 4, run: kernel4x4}

// gemmKernel is the kernel the ops use: goKernel, or an assembly kernel chosen at init when
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
	// ParallelFlops is the work (2·m·n·k) below which one goroutine is faster than several.
	ParallelFlops = 1 << 17
)

// Matrix describes a row-major float32 operand, possibly read transposed.
type Matrix struct {
	Data  []float32
	LD    int  // elements between consecutive rows of the stored matrix
	Trans bool // the logical matrix is the transpose of the stored one
}

// Operands holds A and B, each either as a matrix to pack during the product or as
// panels packed in advance (PrepackA/PrepackB, for the kernel in use), which graph.Load
// prepares for constant weights.
type Operands struct {
	A, B    Matrix
	PackedA []float32
	PackedB []float32
	// Fill, when set, makes Run set each MC×NC tile of dst to RowInit[i] in row i (zero
	// when RowInit is nil) just before computing it, instead of adding to what dst holds:
	// the tile is then still in cache when the product reads it, where a caller's fill of the
	// whole output beforehand is one more pass over memory (Conv's bias).
	Fill    bool
	RowInit []float32
	// Residual and Act, when set, finish each tile once its last block is added: Residual
	// (laid out like dst, ldc apart) is added to it, then Act applied. The tile is still
	// in cache, where the Add and the activation nodes after a Conv would each take a pass
	// over memory; each element gets the same operations, so the result is theirs bit for
	// bit.
	Residual []float32
	Act      Activation
	// BRowOffsets, when set, is kk·B.LD for each row kk of B (not transposed, not packed):
	// where the kernel has a form that reads B's rows in place (m a whole number of its
	// panels: RowsSupported(m) with A packed in advance), sgemm reads the whole panels of B there instead of copying them into
	// packed panels, and packs only the last, partial one. Same additions, same order.
	BRowOffsets []int
}

// Activation is an element-wise function finishing a product (Operands.Act): none, ONNX
// Relu (ActRelu), or ONNX Clip to [Lo, Hi] with Lo <= Hi (ActClamp).
type Activation struct {
	Kind   ActKind
	Lo, Hi float32
}

// ActKind selects an Activation's function.
type ActKind uint8

// The activations.
const (
	ActNone ActKind = iota
	ActRelu
	ActClamp
)

// Apply applies a to s in place.
func (a Activation) Apply(s []float32) {
	switch a.Kind {
	case ActRelu:
		Relu(s, s)
	case ActClamp:
		Clamp(s, s, a.Lo, a.Hi)
	}
}

// Clamp sets d[i] to src[i] clamped to [l, h] (NaN and -0 kept; d may be src), 8 at a time
// with AVX (clampAVX), the rest without a data-dependent branch: about half of a
// convolution's outputs are below ReLU6's 0, which a branch mispredicts. Each comparison
// becomes a 0/1 (SETcc), whose mask picks the bound's bits or the value's.
func Clamp(d, src []float32, l, h float32) {
	lb, hb := math.Float32bits(l), math.Float32bits(h)
	d = d[:len(src)]
	k := clampVector(d, src, l, h) // the same bits (clampAVX)
	d, src = d[k:], src[k:]
	for i, v := range src {
		var below, above uint32
		if v < l {
			below = 1
		}
		if v > h {
			above = 1
		}
		b := math.Float32bits(v)
		b = b&(below-1) | lb&-below
		b = b&(above-1) | hb&-above
		d[i] = math.Float32frombits(b)
	}
}

// Scratch lends Run its scratch buffers (packed panels, edge tiles), which Run returns
// with Put, and the number of goroutines it may use. A nil Scratch allocates from the heap
// and allows GOMAXPROCS goroutines.
type Scratch interface {
	Get(n int) []float32
	Put(buf []float32)
	MaxWorkers() int
}

// heap is the nil Scratch.
type heap struct{}

func (heap) Get(n int) []float32 { return make([]float32, n) }
func (heap) Put([]float32)       {}
func (heap) MaxWorkers() int     { return runtime.GOMAXPROCS(0) }

// Run is sgemm with the fastest kernel this CPU has.
func Run(mem Scratch, dst []float32, ldc int, ops Operands, m, n, k, maxWorkers int) {
	sgemm(mem, gemmKernel, dst, ldc, ops, m, n, k, maxWorkers)
}

// packedASize and packedBSize are the lengths of the packed layouts.
func packedASize(m, k, mr int) int { return (m + mr - 1) / mr * mr * k }
func packedBSize(n, k, nr int) int { return (n + nr - 1) / nr * nr * k }

// sgemm adds A·B to dst, where A is m×k, B is k×n and dst is m×n row-major with row stride
// ldc. Callers zero dst, or fill it with a bias, first, or set ops.Fill to have sgemm do so
// tile by tile. Reference loop:
//
//	for i := 0; i < m; i++ {
//		for j := 0; j < n; j++ {
//			for p := 0; p < k; p++ {
//				dst[i*ldc+j] += A[i][p] * B[p][j]
//			}
//		}
//	}
//
// A is packed into MR-tall row panels per KC-deep block and B into NR-wide column panels
// (both once, shared by all workers, unless ops holds them packed at load); the work is then
// split into MC×NC tiles of dst, over at most maxWorkers goroutines (0: as many as
// mem.MaxWorkers allows), or none but the caller's when the product is small. Its scratch
// space (packed panels, edge tiles) comes from mem.
func sgemm(mem Scratch, mk microKernel, dst []float32, ldc int, ops Operands, m, n, k, maxWorkers int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 { // A·B is zero: only the fill is left to do
		if ops.Fill {
			gemmFill(dst, ldc, ops.RowInit, 0, m, 0, n)
		}
		return
	}
	if mem == nil {
		mem = heap{}
	}
	mk = mk.forProduct(m, n, ops)
	mc := max(mk.mr, gemmMC/mk.mr*mk.mr) // whole panels per tile
	tilesM := (m + mc - 1) / mc
	tilesN := (n + gemmNC - 1) / gemmNC
	tiles := tilesM * tilesN
	workers := mem.MaxWorkers()
	if maxWorkers > 0 {
		workers = min(workers, maxWorkers)
	}
	if 2*m*n*k < ParallelFlops {
		workers = 1
	}
	workers = min(workers, tiles)
	ap, bp := ops.PackedA, ops.PackedB
	// Copied out of ops: a closure capturing ops itself (too large to capture by value) would
	// move it to the heap on every call, parallel or not.
	a, b := ops.A, ops.B
	fin := finish{fill: ops.Fill, rowInit: ops.RowInit, residual: ops.Residual, act: ops.Act}
	// The packing closures escape to the heap once made, so a serial product (every one on
	// calibration's Runners) calls packA and packB directly instead, making no garbage.
	if ap == nil {
		buf := mem.Get(packedASize(m, k, mk.mr))
		defer mem.Put(buf)
		panels := (m + mk.mr - 1) / mk.mr
		if workers > 1 {
			parallel.Split(panels, workers, func(p0, p1 int) { packA(buf, a, m, k, mk.mr, p0, p1) })
		} else {
			packA(buf, a, m, k, mk.mr, 0, panels)
		}
		ap = buf
	}
	var ib *inPlaceB
	if bp == nil && inPlaceOK(mk, ops, m, n, k) {
		ib = &inPlaceB{data: b.Data, offs: ops.BRowOffsets[:k], full: n / mk.nr * mk.nr}
		if ib.full < n {
			ib.tail = mem.Get(k * mk.nr)
			defer mem.Put(ib.tail)
			packTail(ib.tail, b, n, k, mk.nr, ib.full)
		}
		bp = ib.tail
	}
	if bp == nil && ib == nil {
		buf := mem.Get(packedBSize(n, k, mk.nr))
		defer mem.Put(buf)
		panels := (n + mk.nr - 1) / mk.nr
		if workers > 1 {
			parallel.Split(panels, workers, func(p0, p1 int) { packB(buf, b, n, k, mk.nr, p0, p1) })
		} else {
			packB(buf, b, n, k, mk.nr, 0, panels)
		}
		bp = buf
	}
	edges := mem.Get(workers * maxKernelTile)
	defer mem.Put(edges)
	runTiles(mk, dst, ldc, ap, bp, m, n, k, mc, tilesN, tiles, workers, edges, fin, ib)
}

// inPlaceB is B read in place (Operands.BRowOffsets): the panels of columns below full
// straight from B's rows, the last partial panel, when there is one, packed in tail.
type inPlaceB struct {
	data []float32
	offs []int
	full int
	tail []float32
}

// inPlaceOK reports whether sgemm reads ops' B in place: offsets given for every row of a
// B neither transposed nor packed, a kernel mk with a form reading B's rows (whole panels
// of rows only: m a multiple of mk.mr), and every offset kk·B.LD with room for the whole
// panels. It panics on offsets that do not describe B.
func inPlaceOK(mk microKernel, ops Operands, m, n, k int) bool {
	if ops.BRowOffsets == nil || ops.B.Trans || mk.rows == nil || m%mk.mr != 0 {
		return false
	}
	full := n / mk.nr * mk.nr
	if len(ops.BRowOffsets) < k {
		panic(fmt.Sprintf("sgemm: %d row offsets for a B of %d rows", len(ops.BRowOffsets), k))
	}
	for kk, o := range ops.BRowOffsets[:k] {
		if o != kk*ops.B.LD || o+full > len(ops.B.Data) {
			panic(fmt.Sprintf("sgemm: B's row %d at offset %d, not %d·%d with %d columns inside its %d values", kk, o, kk, ops.B.LD, full, len(ops.B.Data)))
		}
	}
	return true
}

// runTiles computes sgemm's tiles 0..tiles-1 (gemmTileAt) over workers goroutines, the
// caller's among them, each with its own maxKernelTile of edges.
func runTiles(mk microKernel, dst []float32, ldc int, ap, bp []float32, m, n, k, mc, tilesN, tiles, workers int, edges []float32, fin finish, ib *inPlaceB) {
	if workers <= 1 {
		for t := 0; t < tiles; t++ {
			gemmTileAt(mk, dst, ldc, ap, bp, m, n, k, mc, tilesN, t, edges, fin, ib)
		}
		return
	}
	// Workers take tiles from a shared counter, so a worker slowed by the machine does less.
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func(edge []float32) {
		for t := int(next.Add(1) - 1); t < tiles; t = int(next.Add(1) - 1) {
			gemmTileAt(mk, dst, ldc, ap, bp, m, n, k, mc, tilesN, t, edge, fin, ib)
		}
	}
	wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		go func(edge []float32) {
			defer wg.Done()
			work(edge)
		}(edges[w*maxKernelTile : (w+1)*maxKernelTile])
	}
	work(edges[:maxKernelTile])
	wg.Wait()
}

// finish is what sgemm does to each tile besides the product (Operands' Fill, RowInit,
// Residual and Act).
type finish struct {
	fill     bool
	rowInit  []float32
	residual []float32
	act      Activation
}

// gemmTileAt computes tile t of sgemm's product: mc×gemmNC tiles, tilesN per row of tiles.
func gemmTileAt(mk microKernel, dst []float32, ldc int, ap, bp []float32, m, n, k, mc, tilesN, t int, edge []float32, fin finish, ib *inPlaceB) {
	i0, j0 := (t/tilesN)*mc, (t%tilesN)*gemmNC
	i1, j1 := min(i0+mc, m), min(j0+gemmNC, n)
	if fin.fill && mk.init == nil {
		gemmFill(dst, ldc, fin.rowInit, i0, i1, j0, j1)
		fin.fill = false
	}
	gemmTile(mk, dst, ldc, ap, bp, m, k, i0, i1, j0, j1, edge, fin, ib)
	if fin.residual == nil && fin.act.Kind == ActNone {
		return
	}
	for i := i0; i < i1; i++ {
		row := dst[i*ldc+j0 : i*ldc+j1]
		if fin.residual != nil {
			AddTo(row, fin.residual[i*ldc+j0:i*ldc+j1])
		}
		fin.act.Apply(row)
	}
}

// AddTo adds src to dst element by element.
func AddTo(dst, src []float32) {
	src = src[:len(dst)]
	k := addVector(dst, src)
	dst, src = dst[k:], src[k:]
	for i := range dst {
		dst[i] += src[i]
	}
}

// Relu sets d to src with its negatives, zeros and NaNs made +0 (ONNX Relu; d may be src),
// without a data-dependent branch: a convolution's output is about half negative, which a
// branch mispredicts. The bits b of v are kept when 0 < b <= bits(+Inf), the positive
// numbers: b-1, taken in 64 bits so that b = 0 wraps around, is then below bits(+Inf), and
// subtracting that sets bit 63 exactly in that case.
func Relu(d, src []float32) {
	const inf = 0x7f800000
	d = d[:len(src)]
	k := reluVector(d, src) // the same bits (reluAVX2)
	d, src = d[k:], src[k:]
	for i, v := range src {
		b := math.Float32bits(v)
		keep := uint32(int64(uint64(b)-1-inf) >> 63)
		d[i] = math.Float32frombits(b & keep)
	}
}

// gemmFill sets dst[i][j0:j1] to rowInit[i] (zero when rowInit is nil) for rows i0..i1.
func gemmFill(dst []float32, ldc int, rowInit []float32, i0, i1, j0, j1 int) {
	for i := i0; i < i1; i++ {
		row := dst[i*ldc+j0 : i*ldc+j1]
		if rowInit == nil {
			clear(row)
			continue
		}
		fillF32(row, rowInit[i])
	}
}

// fillF32 sets every element of s to v: a few stores, then copies that double the filled
// prefix, which run as vector moves where an element loop stores one float at a time.
func fillF32(s []float32, v float32) {
	if len(s) == 0 {
		return
	}
	s[0] = v
	for n := 1; n < len(s); n *= 2 {
		copy(s[n:], s[:n])
	}
}

// PrepackA packs a constant A (m×k) for the kernel sgemm picks from gemmKernel when A comes
// packed (forProduct), for sgemm's packedA.
func PrepackA(a Matrix, m, k int) []float32 {
	mr := gemmKernel.forRows(m).mr
	ap := make([]float32, packedASize(m, k, mr))
	packA(ap, a, m, k, mr, 0, (m+mr-1)/mr)
	return ap
}

// PrepackB packs a constant B (k×n) for the kernel sgemm picks from gemmKernel when B comes
// packed (forProduct), for sgemm's packedB.
func PrepackB(b Matrix, n, k int) []float32 {
	nr := gemmKernel.forCols(n).nr
	bp := make([]float32, packedBSize(n, k, nr))
	packB(bp, b, n, k, nr, 0, (n+nr-1)/nr)
	return bp
}

// packB lays column panels p0..p1 of B out as panels of nr columns: panel p holds, for each
// row kk, B[kk][p*nr : p*nr+nr] (zero-padded past n).
func packB(bp []float32, b Matrix, n, k, nr, p0, p1 int) {
	for p := p0; p < p1; p++ {
		j0 := p * nr
		panel := bp[p*nr*k : (p+1)*nr*k]
		cols := min(nr, n-j0)
		switch {
		case !b.Trans && cols == nr:
			for kk := 0; kk < k; kk++ {
				copy(panel[kk*nr:kk*nr+nr], b.Data[kk*b.LD+j0:kk*b.LD+j0+nr])
			}
		case !b.Trans:
			for kk := 0; kk < k; kk++ {
				row := panel[kk*nr : kk*nr+nr]
				copy(row, b.Data[kk*b.LD+j0:kk*b.LD+j0+cols])
				clear(row[cols:])
			}
		default:
			clear(panel)
			for jj := 0; jj < cols; jj++ {
				src := b.Data[(j0+jj)*b.LD : (j0+jj)*b.LD+k]
				for kk, v := range src {
					panel[kk*nr+jj] = v
				}
			}
		}
	}
}

// packTail packs columns j0..n of B (fewer than nr) as one panel of nr columns, the last
// panel of a product reading B in place. Where B holds nr values from a row's column j0,
// a 32-wide panel copies them all at once: the values past column n (the next row's
// first ones) go only into columns of C that no kernel stores (partial tiles are written
// column by column up to n, and each column of C depends on its own column of B alone),
// where a copy of the exact count and a clear of the rest are two calls per row. Other
// rows are packed as packB does.
func packTail(panel []float32, b Matrix, n, k, nr, j0 int) {
	kk := 0
	if nr == 32 {
		for ; kk < k && kk*b.LD+j0+32 <= len(b.Data); kk++ {
			*(*[32]float32)(panel[kk*32 : kk*32+32]) = *(*[32]float32)(b.Data[kk*b.LD+j0 : kk*b.LD+j0+32])
		}
	}
	if kk < k {
		rest := panel[kk*nr:]
		packB(rest, Matrix{Data: b.Data[kk*b.LD+j0:], LD: b.LD}, n-j0, k-kk, nr, 0, 1)
	}
}

// packA lays row panels p0..p1 of A (mr rows each, zero-padded past m) out for every
// KC-deep block: block k0 starts at mPad*k0 and holds its panels one after the other, each
// as kc steps of mr values.
func packA(ap []float32, a Matrix, m, k, mr, p0, p1 int) {
	mPad := (m + mr - 1) / mr * mr
	for k0 := 0; k0 < k; k0 += gemmKC {
		kc := min(gemmKC, k-k0)
		block := ap[mPad*k0 : mPad*k0+mPad*kc]
		for p := p0; p < p1; p++ {
			r0 := p * mr
			rows := min(mr, m-r0)
			panel := block[p*mr*kc : (p+1)*mr*kc]
			if a.Trans {
				for kk := 0; kk < kc; kk++ {
					dst := panel[kk*mr : kk*mr+mr]
					copy(dst, a.Data[(k0+kk)*a.LD+r0:(k0+kk)*a.LD+r0+rows])
					clear(dst[rows:])
				}
				continue
			}
			if rows < mr {
				clear(panel)
			}
			for r := 0; r < rows; r++ {
				src := a.Data[(r0+r)*a.LD+k0 : (r0+r)*a.LD+k0+kc]
				for kk, v := range src {
					panel[kk*mr+r] = v
				}
			}
		}
	}
}

// gemmTile computes the dst tile rows i0..i1, cols j0..j1 over the whole depth k from the
// packed operands. edge (at least maxKernelTile long) is scratch for partial edge tiles.
// With fin.fill, dst holds garbage: the first depth block sets each kernel tile, through
// mk.init, or after filling it (partial tiles and tiles read from B in place). With ib,
// the panels below ib.full are read from B in place (mk.rows) and bp is the last panel.
func gemmTile(mk microKernel, dst []float32, ldc int, ap, bp []float32, m, k, i0, i1, j0, j1 int, edge []float32, fin finish, ib *inPlaceB) {
	mr, nr := mk.mr, mk.nr
	mPad := (m + mr - 1) / mr * mr
	edge = edge[:mr*nr]
	for k0 := 0; k0 < k; k0 += gemmKC {
		kc := min(gemmKC, k-k0)
		block := ap[mPad*k0 : mPad*k0+mPad*kc]
		first := fin.fill && k0 == 0
		for j := j0; j < j1; j += nr {
			p := j / nr
			inPlace := ib != nil && j < ib.full
			if ib != nil {
				p = 0 // bp holds the last panel only
			}
			var bpanel []float32
			if !inPlace {
				bpanel = bp[p*nr*k+k0*nr : p*nr*k+(k0+kc)*nr]
			}
			cols := min(nr, j1-j)
			for i := i0; i < i1; i += mr {
				apanel := block[(i/mr)*mr*kc : (i/mr+1)*mr*kc]
				rows := min(mr, i1-i)
				if inPlace { // a whole tile: inPlaceOK and the panel-aligned tiles
					if first {
						mk.rowsInit(kc, apanel, ib.data[j:], ib.offs[k0:k0+kc], dst[i*ldc+j:], ldc, rowInitAt(fin.rowInit, i, mr))
						continue
					}
					mk.rows(kc, apanel, ib.data[j:], ib.offs[k0:k0+kc], dst[i*ldc+j:], ldc)
					continue
				}
				if rows == mr && cols == nr {
					if first {
						mk.init(kc, apanel, bpanel, dst[i*ldc+j:], ldc, rowInitAt(fin.rowInit, i, mr))
						continue
					}
					mk.run(kc, apanel, bpanel, dst[i*ldc+j:], ldc)
					continue
				}
				if first {
					gemmFill(dst, ldc, fin.rowInit, i, i+rows, j, j+cols)
				}
				if mk.edge != nil {
					mk.edge(kc, rows, cols, apanel, bpanel, dst[i*ldc+j:], ldc)
					continue
				}
				clear(edge)
				mk.run(kc, apanel, bpanel, edge, nr)
				for r := 0; r < rows; r++ {
					out := dst[(i+r)*ldc+j : (i+r)*ldc+j+cols]
					for c, v := range edge[r*nr : r*nr+cols] {
						out[c] += v
					}
				}
			}
		}
	}
}

// zeroRows is the row start of a product without Operands.RowInit.
var zeroRows [maxKernelRows]float32

// maxKernelRows bounds mr of every micro-kernel.
const maxKernelRows = 16

// rowInitAt is the row starts of rows i..i+mr: rowInit's, or zeros.
func rowInitAt(rowInit []float32, i, mr int) []float32 {
	if rowInit == nil {
		return zeroRows[:mr]
	}
	return rowInit[i : i+mr]
}

// maxKernelTile bounds mr×nr of every micro-kernel (the edge buffer of gemmTile).
const maxKernelTile = 16 * 32

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
