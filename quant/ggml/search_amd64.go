//go:build amd64 && !purego

package ggml

import "golang.org/x/sys/cpu"

// haveAVX2 selects the candidate-parallel searches of search_amd64.s; tests flip it to
// check the pure-Go loops against the same golden bytes.
var haveAVX2 = cpu.X86.HasAVX2

//go:noescape
func qxSumsAVX2(x, w, wx *float32, n int, iscale *[8]float32, out *[2][8]float32, nmax int32)

// qkxLanes holds eight independent make_qkx2/qkx3 searches for qkxLanesAVX2, transposed so
// that lane j of each row is group j. The offsets are fixed in search_amd64.s.
type qkxLanes struct {
	x, w, L                              [32][8]float32
	min, max, sumW, sumX, bestErr, scale [8]float32
	active                               [8]int32
	aux                                  [32][8]float32
}

//go:noescape
func qkxLanesAVX2(s *qkxLanes, n int, nmax int32, rmin, rdelta float32, nstep int, mad bool)

// qkxLanes8 runs makeQkxQuants on k <= 8 consecutive groups of n elements (x, w and L hold
// k*n values) in the lanes of qkxLanesAVX2, which computes the start of each search too.
func qkxLanes8(nmax, n, k int, x, w []float32, L []uint8, scales, mins []float32, rmin, rdelta float32, nstep int, useMad bool) {
	var s qkxLanes
	for j := 0; j < k; j++ {
		xs, ws := x[j*n:(j+1)*n], w[j*n:(j+1)*n]
		for i := range n {
			s.x[i][j], s.w[i][j] = xs[i], ws[i]
		}
	}
	qkxLanesAVX2(&s, n, int32(nmax), rmin, rdelta, nstep, useMad)
	for j := 0; j < k; j++ {
		ls := L[j*n : (j+1)*n]
		if s.active[j] == 0 { // max <= min: codes 0, scale 0
			clear(ls)
			scales[j], mins[j] = 0, -s.min[j]
			continue
		}
		for i := range ls {
			ls[i] = uint8(s.L[i][j])
		}
		scales[j], mins[j] = s.scale[j], -s.min[j]
	}
}

// q3Lanes holds eight make_q3_quants searches for q3LanesAVX2 (offsets fixed in
// search_amd64.s): x and the signed codes L (as floats) transposed, the sums, the code range
// [lo, hi] and nmax in every lane, and each group's amax.
type q3Lanes struct {
	x, L         [16][8]float32
	sumlx, suml2 [8]float32
	hi, lo       [8]int32
	amax, nm     [8]float32
}

//go:noescape
func q3LanesAVX2(s *q3Lanes, n int)

// makeQ3Lanes8 runs makeQ3Quants(nmax, ...) on eight consecutive groups of 16 (x and L hold
// 128 values) in the lanes of q3LanesAVX2, writing their scales.
func makeQ3Lanes8(nmax int, x []float32, L []int8, scales []float32) {
	var s q3Lanes
	for j := range 8 {
		s.hi[j], s.lo[j], s.nm[j] = int32(nmax-1), int32(-nmax), float32(nmax)
		for i := range 16 {
			s.x[i][j] = x[16*j+i]
		}
	}
	q3LanesAVX2(&s, 16)
	for j := range 8 {
		ls := L[16*j : 16*j+16]
		if s.amax[j] < groupMaxEps { // all zero: codes 0, scale 0
			clear(ls)
			scales[j] = 0
			continue
		}
		for i := range ls {
			ls[i] = int8(s.L[i][j])
		}
		scales[j] = q3Finish(nmax, ls, s.sumlx[j], s.suml2[j])
	}
}

// qxLanes holds eight make_qx_quants searches for qxLanesAVX2 (offsets fixed in
// search_amd64.s): x, weights, codes and scratch codes transposed, the results, the 18
// candidate numerators -(nmax + 0.1*is), and the code range and nmax in every lane.
type qxLanes struct {
	x, w, L, aux [32][8]float32
	scale, amax  [8]float32
	cand         [24]float32
	hi, lo       [8]int32
	nm           [8]float32
}

//go:noescape
func qxLanesAVX2(s *qxLanes, n int)

// makeQxLanes8 runs makeQxQuants(n, nmax, ...) on k <= 8 consecutive groups of n <= 32
// elements (x, w and L hold k*n values) in the lanes of qxLanesAVX2, writing the scales.
func makeQxLanes8(n, nmax, k int, x, w []float32, L []int8, scales []float32) {
	var s qxLanes
	for j := range 8 {
		s.hi[j], s.lo[j], s.nm[j] = int32(nmax-1), int32(-nmax), float32(nmax)
	}
	for c := range 18 {
		is := int32(c - 9)
		if is >= 0 {
			is++
		}
		s.cand[c] = -(float32(nmax) + float32(0.1*float32(is)))
	}
	for j := 0; j < k; j++ {
		for i := range n {
			s.x[i][j], s.w[i][j] = x[j*n+i], w[j*n+i]
		}
	}
	qxLanesAVX2(&s, n)
	for j := 0; j < k; j++ {
		ls := L[j*n : (j+1)*n]
		if s.amax[j] < groupMaxEps {
			clear(ls)
			scales[j] = 0
			continue
		}
		for i := range ls {
			ls[i] = int8(s.L[i][j])
		}
		scales[j] = s.scale[j]
	}
}

//go:noescape
func q8_0AVX2(y *byte, x *float32, nb int, d *float32)

//go:noescape
func symAVX2(codes *byte, d, x *float32, nb int, div, bias float32, qmax int32)

//go:noescape
func asymAVX2(codes *byte, d, m, mx, x *float32, nb int, div float32, qmax int32)

//go:noescape
func anyNonFiniteAVX2(x *float32, n int) bool

//go:noescape
func requantAVX2(L *byte, x, d, m *float32, groups int, lo, hi, off int32)
