package quant

import (
	"fmt"
	"math"
)

// QuantizeGroupsTo is group-wise quantization fused into one pass over x, a C-order
// [rows, cols] weight with groups of groupSize consecutive elements of each row (the last
// group of a row may be shorter): for every group it finds the range, turns it into a
// scale and zero point exactly as CalculateQParams does, passes the scale through
// fixScale when that is not nil (the caller stores scales in a narrower type: it returns
// the stored scale or an error), quantizes the group as QuantizeTo does, and stores each
// code minus shift in codes (shift is 8 for uint4 or 128 for uint8 stored signed, else 0).
//
// The result is the one of ChooseQParams(PerGroup(groupSize)) then Quantize then
// subtracting shift (TestQuantizeGroupsToMatchesGeneric), without their per-group
// allocations, calls and second pass over x: the group is still in cache when it is
// quantized. scale and zp receive rows*ceil(cols/groupSize) entries in row-major order.
// A NaN or ±Inf anywhere in x is a *NonFiniteError for the first one, whatever fixScale
// would have said about an earlier group, as the two-step path reports it.
func QuantizeGroupsTo(codes []int8, scale []float32, zp []int32, x []float32, cols, groupSize int, s Scheme, shift int32, fixScale func(i int, s float32) (float32, error)) error {
	gq, err := newGroupQuantizer("QuantizeGroupsTo", codes, scale, zp, x, cols, groupSize, s, shift)
	if err != nil {
		return err
	}
	gq.fixScale, gq.wantRange = fixScale, true
	return gq.forGroups(x, func(a, z, k int) error {
		sc, zk, err := gq.qparams(x[a:z], k)
		if err != nil {
			return err
		}
		gq.quantize(codes[a:z], x[a:z], sc, zk)
		scale[k], zp[k] = sc, zk
		return nil
	})
}

// GroupQParamsRangeTo is the first half of QuantizeGroupsTo alone: every group's scale and
// zero point, with the same errors, and no codes; with QuantizeGroupsWithTo it splits the
// fused kernel in two for a caller that measures the codes as they are quantized (the
// streaming save's statistics). It also returns the range of x, from the groups' ranges it
// finds anyway (the streaming save: the range of the report's histogram), so that x is not
// read again for it. The range is MinMaxOf(x)'s, zeros
// included: the groups' ranges combine with Go's min and max, and when one of them ends
// at a zero (whose sign could depend on the order of the combination) MinMaxOf(x) gives it.
func GroupQParamsRangeTo(scale []float32, zp []int32, x []float32, cols, groupSize int, s Scheme, fixScale func(i int, s float32) (float32, error)) (lo, hi float32, err error) {
	gq, err := newGroupQuantizer("GroupQParamsRangeTo", nil, scale, zp, x, cols, groupSize, s, 0)
	if err != nil {
		return 0, 0, err
	}
	gq.fixScale, gq.wantRange = fixScale, true
	r := NewRangeFold()
	gq.ranged = &r
	if fixScale == nil && s.Numerics != ORT && cols%groupSize == 0 {
		err = gq.torchRows(scale, zp, x)
	} else {
		err = gq.forGroups(x, func(a, z, k int) error {
			var err error
			scale[k], zp[k], err = gq.qparams(x[a:z], k)
			return err
		})
	}
	if err != nil {
		return 0, 0, err
	}
	lo, hi = r.Range(x)
	return lo, hi, nil
}

// torchRows is GroupQParamsRangeTo's loop for whole groups, torch numerics and no
// fixScale: each row's group ranges in one vector call, then the groups' qparams in a
// loop of locals, as qparams computes them (torchQParams; the zero point it clamps needs
// no check), without a call through forGroups and qparams per group. A row the vector
// call does not take (a NaN or ±Inf, or no AVX2) goes group by group through qparams,
// which finds the error.
func (gq *groupQuantizer) torchRows(scale []float32, zp []int32, x []float32) error {
	cols, size := gq.cols, gq.groupSize
	groups := cols / size
	los, his := make([]float32, groups), make([]float32, groups)
	r, qmin, qmax, s := gq.ranged, gq.qmin, gq.qmax, gq.s
	for row := range gq.n / cols {
		xr, k0 := x[row*cols:(row+1)*cols], row*groups
		if !groupsMinMax(los, his, xr, size) {
			gq.rowRanged = false
			for g := range groups {
				var err error
				if scale[k0+g], zp[k0+g], err = gq.qparams(xr[g*size:(g+1)*size], k0+g); err != nil {
					return groupError(err, x)
				}
			}
			continue
		}
		for g, lo := range los {
			hi := his[g]
			r.Add(lo, hi)
			scale[k0+g], zp[k0+g] = torchQParams(lo, hi, qmin, qmax, s)
		}
	}
	return nil
}

// QuantizeGroupsWithTo is the second half of QuantizeGroupsTo: it quantizes every group of
// x with the scale and zero point GroupQParamsRangeTo gave it and stores each code minus shift,
// so that the two calls give QuantizeGroupsTo's codes (TestQuantizeGroupsToMatchesGeneric).
// With m, it also measures each group right after quantizing it, while the group is in
// cache (see GroupStats); every x must then be finite.
func QuantizeGroupsWithTo(codes []int8, x []float32, scale []float32, zp []int32, cols, groupSize int, s Scheme, shift int32, m *GroupStats) error {
	gq, err := newGroupQuantizer("QuantizeGroupsWithTo", codes, scale, zp, x, cols, groupSize, s, shift)
	if err != nil {
		return err
	}
	if m != nil {
		if err := m.check(len(x)); err != nil {
			return err
		}
		defer m.flush()
	}
	groups := (cols + groupSize - 1) / groupSize
	for r := 0; r < len(x)/cols; r++ {
		base, k0 := r*cols, r*groups
		sc, z := scale[k0:k0+groups], zp[k0:k0+groups]
		if m != nil {
			if done, finite := m.quantizeMeasureRow(gq, codes, x, base, sc, z); done {
				if !finite {
					return groupError(errNonFiniteGroup, x)
				}
				continue
			}
		}
		if !gq.quantizeRow(codes[base:base+cols], x[base:base+cols], sc, z) {
			return groupError(errNonFiniteGroup, x)
		}
		if m != nil {
			m.measureRow(gq, codes, x, base, sc, z)
		}
	}
	return nil
}

// quantizeRow quantizes one row's groups with their qparams (codes minus the shift), in
// one vector call when the groups are whole, of a multiple of 32 elements, and multiplied
// by a reciprocal (torch numerics); false when a value is NaN or ±Inf.
func (gq *groupQuantizer) quantizeRow(codes []int8, x []float32, scale []float32, zp []int32) bool {
	size := gq.groupSize
	if gq.cols%size == 0 && gq.s.Numerics != ORT {
		// affineOf's torch constants, the shift taken off the zero point, in a loop of
		// locals (through affineOf and append, 13 ns a group: a tenth of the int4 save).
		if done, finite := quantizeGroupsI8(codes, x, size, gq.rowAffines(scale, zp)); done {
			return finite
		}
	}
	finite := true
	for g := range scale {
		a, z := g*size, min((g+1)*size, gq.cols)
		finite = gq.quantize(codes[a:z], x[a:z], scale[g], zp[g]) && finite
	}
	return finite
}

// rowAffines are affineOf's torch constants of a row's groups, the shift taken off the
// zero point, computed in a loop of locals (through affineOf and append, 13 ns a group: a
// tenth of the int4 save), in gq's scratch.
func (gq *groupQuantizer) rowAffines(scale []float32, zp []int32) []groupAffine {
	if cap(gq.affines) < len(scale) {
		gq.affines = make([]groupAffine, len(scale))
	}
	affines := gq.affines[:len(scale)]
	qmin, qmax, shift := gq.s.QType.Min, gq.s.QType.Max, float32(gq.shift)
	for g, sc := range scale {
		z := zp[g]
		affines[g] = groupAffine{mul: 1 / sc, lo: float32(qmin - z), hi: float32(qmax - z), zp: float32(z) - shift}
	}
	return affines
}

// quantizeMeasureRow quantizes and measures the row of x that starts at base in one pass
// of the fused kernel (quantStatsGroups), where it can: no histogram, whole groups of a
// multiple of 8 values multiplied by a reciprocal (torch numerics), and every block
// boundary inside the row at a group's edge. The codes are quantizeRow's and the sums
// measureRow's, bit for bit (TestQuantizeGroupsMeasured). done is false where it cannot:
// the caller then quantizes and measures the row apart.
func (m *GroupStats) quantizeMeasureRow(gq *groupQuantizer, codes []int8, x []float32, base int, scale []float32, zp []int32) (done, finite bool) {
	cols, size, end := gq.cols, gq.groupSize, base+gq.cols
	if m.Counts != nil || cols%size != 0 || gq.s.Numerics == ORT || !fusedGroups(size) {
		return false, true
	}
	for b := m.end; b < end; b += m.Block {
		if b > base && (b-base)%size != 0 {
			return false, true
		}
	}
	affines := gq.rowAffines(scale, zp)
	finite = true
	for a := base; a < end; {
		m.reach(a)
		stop := min(end, m.end)
		g, n := (a-base)/size, (stop-a)/size
		finite = quantStatsGroups(&m.acc.lanes, codes[a:stop], x[a:stop], size, affines[g:g+n], scale[g:g+n]) && finite
		m.acc.vec += n * size
		a = stop
	}
	return true, finite
}

// groupAffine is one group's quantize constants for the row kernel: affine's, with the
// shift taken off the zero point.
type groupAffine struct{ mul, lo, hi, zp float32 }

// GroupStats are the statistics QuantizeGroupsWithTo measures as it quantizes: the
// histogram counts of x and the error sums of x against the dequantized codes, in blocks.
// The sums restart every Block elements of x (a group across a boundary is measured in two
// runs), so that they are, bit for bit, those of a StatsAcc per block that AddCodes each
// run of one scale in order (TestQuantizeGroupsMeasured).
type GroupStats struct {
	Counts  []int64     // AddCodes' counts: the bins plus one (nil: no histogram)
	Lo, Inv float32     // AddCodes' float32 bin formula
	Block   int         // elements per entry of Sums
	Sums    []ErrorSums // set: one per block of x
	acc     StatsAcc
	block   int // index of the block acc measures
	end     int // and its end in x
}

func (m *GroupStats) check(n int) error {
	if m.Block <= 0 || len(m.Sums) != (n+m.Block-1)/m.Block {
		return fmt.Errorf("quant: GroupStats: %d sums of blocks of %d for %d values", len(m.Sums), m.Block, n)
	}
	m.acc, m.block, m.end = StatsAcc{}, 0, m.Block
	return nil
}

// measureRow measures the row of x that starts at base, whose groups have the qparams
// scale and zp, in runs of one scale cut at block boundaries: whole groups together in
// one vector call, the pieces of a group cut by a boundary on their own.
func (m *GroupStats) measureRow(gq *groupQuantizer, codes []int8, x []float32, base int, scale []float32, zp []int32) {
	cols, size, end := gq.cols, gq.groupSize, base+gq.cols
	for a := base; a < end; {
		m.reach(a)
		g, stop := (a-base)/size, min(end, m.end)
		if a == base+g*size { // whole groups from a up to stop
			if n := min((stop-a)/size, cols/size-g); n > 0 {
				m.acc.addGroups(m.Counts, x[a:a+n*size], codes[a:a+n*size], size, scale[g:g+n], zp[g:g+n], gq.shift, m.Lo, m.Inv)
				a += n * size
				continue
			}
		}
		e := min(base+min(cols, (g+1)*size), stop)
		m.acc.AddCodes(m.Counts, x[a:e], codes[a:e], scale[g], zp[g]-gq.shift, m.Lo, m.Inv)
		a = e
	}
}

// reach moves on to the next block when element a is past the end of the one being
// measured (a run never crosses a block boundary).
func (m *GroupStats) reach(a int) {
	if a >= m.end {
		m.flush()
		m.acc, m.block, m.end = StatsAcc{}, m.block+1, m.end+m.Block
	}
}

// flush stores the sums of the block being measured.
func (m *GroupStats) flush() {
	if m.block < len(m.Sums) {
		m.Sums[m.block] = m.acc.Sums()
	}
}

// newGroupQuantizer checks the arguments of the group kernels (codes nil: no codes).
func newGroupQuantizer(name string, codes []int8, scale []float32, zp []int32, x []float32, cols, groupSize int, s Scheme, shift int32) (*groupQuantizer, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if cols <= 0 || groupSize <= 0 || len(x)%cols != 0 {
		return nil, fmt.Errorf("quant: %s: %d values do not form rows of %d in groups of %d", name, len(x), cols, groupSize)
	}
	if codes != nil && (s.QType.Bits > 16 || s.QType.Min-shift < math.MinInt8 || s.QType.Max-shift > math.MaxInt8) {
		return nil, fmt.Errorf("quant: %s: %s codes minus %d do not fit int8", name, s.QType.Name, shift)
	}
	rows, groups := len(x)/cols, (cols+groupSize-1)/groupSize
	if (codes != nil && len(codes) != len(x)) || len(scale) != rows*groups || len(zp) != rows*groups {
		return nil, fmt.Errorf("quant: %s: %d codes, %d scales, %d zero points for %d values in %d groups",
			name, len(codes), len(scale), len(zp), len(x), rows*groups)
	}
	gq := &groupQuantizer{s: s, shift: shift, n: len(x), cols: cols, groupSize: groupSize}
	gq.qmin, gq.qmax = s.Range()
	return gq, nil
}

// forGroups calls fn(a, z, k) for every group of x, elements [a, z) and index k, row by
// row, and stops at the first error, which groupError turns into the one to return.
func (gq *groupQuantizer) forGroups(x []float32, fn func(a, z, k int) error) error {
	rows, groups := gq.n/gq.cols, (gq.cols+gq.groupSize-1)/gq.groupSize
	if gq.wantRange && gq.cols%gq.groupSize == 0 {
		gq.los, gq.his = make([]float32, groups), make([]float32, groups)
	}
	for r := 0; r < rows; r++ {
		// The ranges of a row's groups in one vector call, when its groups are whole.
		gq.rowBase = r * groups
		gq.rowRanged = gq.los != nil && groupsMinMax(gq.los, gq.his, x[r*gq.cols:(r+1)*gq.cols], gq.groupSize)
		for g := 0; g < groups; g++ {
			a, z := r*gq.cols+g*gq.groupSize, r*gq.cols+min((g+1)*gq.groupSize, gq.cols)
			if err := fn(a, z, r*groups+g); err != nil {
				return groupError(err, x)
			}
		}
	}
	return nil
}

// errNonFiniteGroup marks a group with a NaN or ±Inf; groupError turns it into the
// *NonFiniteError of the first one in x.
var errNonFiniteGroup = fmt.Errorf("non-finite group: %w", ErrNonFinite)

// groupError is the error QuantizeGroupsTo returns for err from a group: the first NaN or
// ±Inf of x when there is one (the two-step path checks the whole input first), else err.
func groupError(err error, x []float32) error {
	if nf := findNonFinite(x, 0); nf != nil {
		return nf
	}
	return err
}

// groupQuantizer is what the group kernels fix once for all groups.
type groupQuantizer struct {
	s          Scheme
	qmin, qmax int32 // s.Range()
	shift      int32
	fixScale   func(int, float32) (float32, error)
	n, cols    int // elements, row length
	groupSize  int
	// wantRange: forGroups finds each row's group ranges (los, his from group rowBase on)
	// in one call where it can (rowRanged), for qparams.
	wantRange bool
	rowRanged bool
	rowBase   int
	los, his  []float32
	affines   []groupAffine // quantizeRow's scratch
	ranged    *RangeFold    // not nil: qparams folds each group's range into it
}

// qparams are the scale and zero point of group k, x: range, qparams, fixScale.
func (gq *groupQuantizer) qparams(x []float32, k int) (float32, int32, error) {
	var lo, hi float32
	if gq.rowRanged {
		lo, hi = gq.los[k-gq.rowBase], gq.his[k-gq.rowBase]
	} else {
		var finite bool
		if lo, hi, finite = minMaxRow(x); !finite {
			return 0, 0, errNonFiniteGroup
		}
	}
	if gq.ranged != nil {
		gq.ranged.Add(lo, hi)
	}
	var sc float32
	var z int32
	if gq.s.Numerics == ORT {
		sc, z = ortQParams(lo, hi, gq.qmin, gq.qmax, gq.s.Symmetric)
	} else {
		sc, z = torchQParams(lo, hi, gq.qmin, gq.qmax, gq.s)
	}
	if gq.fixScale != nil {
		var err error
		if sc, err = gq.fixScale(k, sc); err != nil {
			return 0, 0, err
		}
	}
	// The qparams functions give a positive finite scale and a zero point in the code
	// range; newAffine's checks only matter for a scale fixScale changed.
	if gq.fixScale != nil || z < -1<<20 || z > 1<<20 {
		if _, err := newAffine(sc, z, gq.s); err != nil {
			return 0, 0, err
		}
	}
	return sc, z, nil
}

// quantize stores the codes of group x minus the shift in dst; false when x is not finite.
func (gq *groupQuantizer) quantize(dst []int8, x []float32, sc float32, z int32) bool {
	a := affineOf(sc, z, gq.s)
	a.zp -= float32(gq.shift) // code - shift straight from the kernel: exact small integers
	return quantizeRow(dst, x, &a)
}
