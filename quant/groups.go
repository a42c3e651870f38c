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
	if err := s.Validate(); err != nil {
		return err
	}
	if cols <= 0 || groupSize <= 0 || len(x)%cols != 0 {
		return fmt.Errorf("quant: QuantizeGroupsTo: %d values do not form rows of %d in groups of %d", len(x), cols, groupSize)
	}
	if s.QType.Bits > 16 || s.QType.Min-shift < math.MinInt8 || s.QType.Max-shift > math.MaxInt8 {
		return fmt.Errorf("quant: QuantizeGroupsTo: %s codes minus %d do not fit int8", s.QType.Name, shift)
	}
	rows, groups := len(x)/cols, (cols+groupSize-1)/groupSize
	if len(codes) != len(x) || len(scale) != rows*groups || len(zp) != rows*groups {
		return fmt.Errorf("quant: QuantizeGroupsTo: %d codes, %d scales, %d zero points for %d values in %d groups",
			len(codes), len(scale), len(zp), len(x), rows*groups)
	}
	gq := groupQuantizer{s: s, shift: shift, fixScale: fixScale}
	gq.qmin, gq.qmax = s.Range()
	for r := 0; r < rows; r++ {
		for g := 0; g < groups; g++ {
			a, z := r*cols+g*groupSize, r*cols+min((g+1)*groupSize, cols)
			k := r*groups + g
			if err := gq.group(codes[a:z], &scale[k], &zp[k], x[a:z], k); err != nil {
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

// groupQuantizer is what QuantizeGroupsTo fixes once for all groups.
type groupQuantizer struct {
	s          Scheme
	qmin, qmax int32 // s.Range()
	shift      int32
	fixScale   func(int, float32) (float32, error)
}

// group is one group of QuantizeGroupsTo (k its index): range, qparams, codes.
func (gq *groupQuantizer) group(dst []int8, scale *float32, zp *int32, x []float32, k int) error {
	lo, hi, finite := minMaxRow(x)
	if !finite {
		return errNonFiniteGroup
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
			return err
		}
	}
	// The qparams functions give a positive finite scale and a zero point in the code
	// range; newAffine's checks only matter for a scale fixScale changed.
	if gq.fixScale != nil || z < -1<<20 || z > 1<<20 {
		if _, err := newAffine(sc, z, gq.s); err != nil {
			return err
		}
	}
	a := affineOf(sc, z, gq.s)
	a.zp -= float32(gq.shift) // code - shift straight from the kernel: exact small integers
	quantizeRow(dst, x, &a)
	*scale, *zp = sc, z
	return nil
}
