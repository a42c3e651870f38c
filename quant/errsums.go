package quant

import (
	"errors"
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

// StatsAcc measures a quantized weight, run by run (a row's groups, a chunk's rows): the
// float64 sums of ErrorSums and a histogram count, in one pass over the values and their
// codes. It keeps the vector kernel's float64 lanes from call to call and adds them up
// once, in Sums.
type StatsAcc struct {
	lanes statsLanes
	vec   int       // pairs in the lanes
	rest  ErrorSums // pairs of the scalar tails
}

// AddCodes folds the pairs (x[i], y[i]) in exactly as ErrorSums.Add does, where y[i] is
// the dequantized code float32(int32(codes[i])-zp)*scale of dequantizeRow, and counts every
// x[i] into counts[int((x[i]-lo)*inv)] in float32 arithmetic (report.Binning's float32
// form). Every x[i] must be finite and lie where that index is within counts (the caller's
// histogram range, plus one count for the rounding at its top). Reference loop:
//
//	for i, v := range x {
//		y := float32(int32(codes[i])-zp) * scale
//		fa, fb := float64(v), float64(y)
//		d := fa - fb
//		xx += fa*fa; yy += fb*fb; xy += fa*fb; noise += d*d; maxAbs = max(maxAbs, |d|)
//		counts[int((v-lo)*inv)]++
//	}
//
// The vector kernels keep the float64 sums in several lanes and add them at the end, so
// the sums differ from the loop's by float64 summation order only (the products of two
// float32 values are exact in float64); counts and maxAbs are equal.
//
// With counts empty (nil), nothing is counted and lo and inv are not used: the sums are
// the same bit for bit (for a caller that needs the histogram's range before it can bin,
// and measures the error first). The same holds for AddFloats and AddFP8.
func (a *StatsAcc) AddCodes(counts []int64, x []float32, codes []int8, scale float32, zp int32, lo, inv float32) {
	codes = codes[:len(x)]
	done := addCodesPrefix(&a.lanes, counts, x, codes, scale, zp, lo, inv)
	a.vec += done
	addCodesGo(&a.rest, counts, x[done:], codes[done:], scale, zp, lo, inv)
}

// addGroups is AddCodes on len(scale) consecutive runs of size values, run g with
// scale[g] and zero point zp[g]-shift, with the same sums as those calls one by one (in
// one vector call when size is a multiple of 8).
func (a *StatsAcc) addGroups(counts []int64, x []float32, codes []int8, size int, scale []float32, zp []int32, shift int32, lo, inv float32) {
	if done := addGroupsPrefix(&a.lanes, counts, x, codes, size, scale, zp, shift, lo, inv); done > 0 {
		a.vec += done
		return
	}
	for g := range scale {
		a.AddCodes(counts, x[g*size:(g+1)*size], codes[g*size:(g+1)*size], scale[g], zp[g]-shift, lo, inv)
	}
}

// AddFloats is AddCodes for values y already dequantized (fp8, casts, interleaved channels).
func (a *StatsAcc) AddFloats(counts []int64, x, y []float32, lo, inv float32) {
	y = y[:len(x)]
	done := addFloatsPrefix(&a.lanes, counts, x, y, lo, inv)
	a.vec += done
	addFloatsGo(&a.rest, counts, x[done:], y[done:], lo, inv)
}

// AddFP8 is AddFloats(counts, x, y, lo, inv) for y the fp8 codes of dt dequantized by
// DequantizeFP8To(y, codes, scale, dt), with the values decoded in registers instead of
// stored and read back. The sums are AddFloats' bit for bit: the same float32 products in
// the same lanes, in the same order.
func (a *StatsAcc) AddFP8(counts []int64, x []float32, codes []uint8, scale float32, dt tensor.DType, lo, inv float32) error {
	table, ok := fp8TableOf(dt)
	if !ok {
		return fmt.Errorf("quant: AddFP8: %v is not an fp8 type", dt)
	}
	codes = codes[:len(x)]
	done := addFP8Prefix(&a.lanes, counts, x, codes, scale, table, lo, inv)
	a.vec += done
	var y [256]float32 // the rest, dequantized a block at a time
	for i := done; i < len(x); i += len(y) {
		n := min(len(y), len(x)-i)
		for j, c := range codes[i : i+n] {
			y[j] = table[c] * scale
		}
		addFloatsGo(&a.rest, counts, x[i:i+n], y[:n], lo, inv)
	}
	return nil
}

// CastTo is F32ToF16To(dst, x) or F32ToBF16To(dst, x) (dt F16 or BF16) followed by
// AddFloats(nil, x, y), y the cast values widened back (F16ToF32To, BF16ToF32To): a cast
// measured without a histogram, in one pass where the AVX-512 kernels run, with the same
// bits and sums (TestCastMeasured).
func (a *StatsAcc) CastTo(dst []uint16, x []float32, dt tensor.DType) error {
	if err := castArgs("CastTo", dst, x, dt); err != nil {
		return err
	}
	var r castRange
	done := castPrefix(&a.lanes, &r, dst, x, dt)
	a.vec += done
	return a.castRest(dst[done:], x[done:], dt)
}

// CastRangeTo is CastTo that also returns MinMaxOf(x): x's range, or MinMaxOf's
// *NonFiniteError for the first NaN or ±Inf of x (dst and the sums are then
// unspecified). The AVX-512 kernels fold x into a range as they cast it, so the range
// costs no pass of its own; the rest of x goes through minMaxRow. A NaN the vector min
// dropped shows in the Σx² lanes; where an end of the range is a zero, whose sign the
// vector min and max leave to the order of the comparisons, MinMaxOf(x) gives it. The
// bits and sums are CastTo's (TestCastRange).
func (a *StatsAcc) CastRangeTo(dst []uint16, x []float32, dt tensor.DType) (lo, hi float32, err error) {
	if err := castArgs("CastRangeTo", dst, x, dt); err != nil {
		return 0, 0, err
	}
	r := newCastRange()
	done := castPrefix(&a.lanes, &r, dst, x, dt)
	a.vec += done
	if err := a.castRest(dst[done:], x[done:], dt); err != nil {
		return 0, 0, err
	}
	lo, hi = r.fold()
	rlo, rhi, finite := minMaxRow(x[done&^15:])
	lo, hi = min(lo, rlo), max(hi, rhi)
	if !finite || lo-lo != 0 || hi-hi != 0 || a.lanes.nan() || lo == 0 || hi == 0 {
		return MinMaxOf(x)
	}
	return lo, hi, nil
}

func castArgs(name string, dst []uint16, x []float32, dt tensor.DType) error {
	if len(dst) < len(x) || dt != tensor.F16 && dt != tensor.BF16 {
		return fmt.Errorf("quant: %s: %d values of %v for %d values", name, len(dst), dt, len(x))
	}
	return nil
}

// castRest is CastTo's loop without the kernels: casts x and widens it back a block at a
// time, and measures the pairs.
func (a *StatsAcc) castRest(dst []uint16, x []float32, dt tensor.DType) error {
	var y [256]float32
	for i := 0; i < len(x); i += len(y) {
		n := min(len(y), len(x)-i)
		d := dst[i : i+n]
		var err error
		if dt == tensor.F16 {
			err = errors.Join(F32ToF16To(d, x[i:i+n]), F16ToF32To(y[:n], d))
		} else {
			err = errors.Join(F32ToBF16To(d, x[i:i+n]), BF16ToF32To(y[:n], d))
		}
		if err != nil {
			return err
		}
		a.AddFloats(nil, x[i:i+n], y[:n], 0, 0)
	}
	return nil
}

// castRange is the cast kernels' running min and max of x, one per 32-bit lane.
type castRange struct {
	lo, hi [16]float32
}

func newCastRange() castRange {
	var r castRange
	for i := range r.lo {
		r.lo[i], r.hi[i] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	return r
}

// fold is the lanes' min and max (their order does not matter: the caller redoes a range
// that ends at a zero or is not finite).
func (r *castRange) fold() (lo, hi float32) {
	lo, hi = r.lo[0], r.hi[0]
	for i := range r.lo {
		lo, hi = min(lo, r.lo[i]), max(hi, r.hi[i])
	}
	return lo, hi
}

// CountBins counts every x[i] into counts[int((x[i]-lo)*inv)] in float32 arithmetic, as
// AddCodes and AddFloats count them (the same kernel), without the error sums: for a
// histogram binned after the values were measured (the streaming save's deferred ones).
// The same conditions hold: every x[i] finite, every index within counts.
func CountBins(counts []int64, x []float32, lo, inv float32) {
	done := binsPrefix(counts, x, lo, inv)
	addBins(counts, x[done:], lo, inv)
}

// Sums returns the sums of every pair added.
func (a *StatsAcc) Sums() ErrorSums {
	s := a.rest
	a.lanes.fold(&s, a.vec)
	return s
}

func addCodesGo(s *ErrorSums, counts []int64, x []float32, codes []int8, scale float32, zp int32, lo, inv float32) {
	codes = codes[:len(x)]
	xx, yy, xy, noise, maxAbs := s.xx, s.yy, s.xy, s.noise, s.maxAbs
	for i, v := range x {
		y := float32(int32(codes[i])-zp) * scale
		fa, fb := float64(v), float64(y)
		d := fa - fb
		xx += fa * fa
		yy += fb * fb
		xy += fa * fb
		noise += d * d
		maxAbs = max(maxAbs, math.Abs(d))
	}
	s.xx, s.yy, s.xy, s.noise, s.maxAbs = xx, yy, xy, noise, maxAbs
	s.n += len(x)
	addBins(counts, x, lo, inv)
}

// addBins counts every x into counts[int((v-lo)*inv)], unless counts is empty.
func addBins(counts []int64, x []float32, lo, inv float32) {
	if len(counts) == 0 {
		return
	}
	for _, v := range x {
		counts[int((v-lo)*inv)]++
	}
}

// addFloatsGo is addCodesGo's loop on dequantized values: ErrorSums.Add, then the counts.
func addFloatsGo(s *ErrorSums, counts []int64, x, y []float32, lo, inv float32) {
	s.Add(x, y)
	addBins(counts, x, lo, inv)
}

// statsLanes are a vector kernel's partial sums: four float64 lanes of Σx², Σy², Σxy and
// Σ(x-y)² for each of two interleaved halves, and the lanes' max|x-y|.
type statsLanes struct {
	xx, yy, xy, noise [8]float64
	maxAbs            [4]float64
}

// nan reports whether a Σx² lane is NaN: a NaN x was added.
func (l *statsLanes) nan() bool {
	for _, v := range l.xx {
		if v != v {
			return true
		}
	}
	return false
}

// fold adds the lanes into s in a fixed order and counts n more pairs.
func (l *statsLanes) fold(s *ErrorSums, n int) {
	if n == 0 {
		return
	}
	var xx, yy, xy, noise float64
	for i := range 8 {
		xx += l.xx[i]
		yy += l.yy[i]
		xy += l.xy[i]
		noise += l.noise[i]
	}
	s.xx += xx
	s.yy += yy
	s.xy += xy
	s.noise += noise
	for _, m := range l.maxAbs {
		s.maxAbs = max(s.maxAbs, m)
	}
	s.n += n
}
