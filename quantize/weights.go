package quantize

import (
	"fmt"
	"github.com/qscript-dev/qscript/internal/parallel"
	"math"
	"unsafe"

	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// chunkElems is the block size of per-tensor work and of the statistics pass: large
// enough to amortize a call, small enough to stay in cache.
const chunkElems = 1 << 16

// layerWork is one selected weight after quantization: what the compressed layout stores
// and what the statistics and the fake layout need. Its slices live in the workspace.
type layerWork struct {
	ws    weightScheme
	layer layer.Layer
	x     []float32 // the source values, C order
	idx   paramIndex

	p     *quant.QParams // kindInt: scales as stored, zero points before the shift
	codes []int8         // kindInt: stored codes (unsigned types shifted to signed)

	scales []float32 // kindFP8: scales as stored
	fp8    []uint8   // kindFP8: stored fp8 codes
	cast   []uint16  // kindCast: F16 or BF16 bits

	// A per-tensor weight quantized piece by piece (the streaming save) takes its scale
	// from the whole tensor's range: fixedP (kindInt) or fixedFP8 (kindFP8, as stored)
	// instead of x's. paramBase is the index of x's first scale in the whole weight, for
	// error messages.
	fixedP *quant.QParams
	groupP *quant.QParams // per group (fp8: per row): the qparams of x's groups, already chosen
	// groupStats, with groupP: measure the codes in the group kernel (x is finite).
	groupStats *quant.GroupStats
	// castSums, for a cast measured as it is made (quant.StatsAcc.CastRangeTo): one
	// per block of chunkElems of x, as blockStats would measure them.
	castSums  []quant.ErrorSums
	fixedFP8  float32
	paramBase int
	finite    bool // x is known to be finite (the first pass checked it)
	// ranged: quantizeInt also finds x's range (lo, hi) from the ranges it chooses the
	// qparams of channels with (quant.ChooseQParamsRange), and castWeight as it casts
	// (with castSums), for the streaming save.
	ranged bool
	lo, hi float32
}

// paramIndex maps a flat element index to its scale's index.
type paramIndex struct {
	mode      int // 0 per tensor, 1 per channel, 2 per group
	inner     int // per channel: elements after the axis; per group: row length
	channels  int // per channel: length of the axis
	groupSize int
	groups    int // per group: groups per row
}

func (p paramIndex) at(i int) int {
	switch p.mode {
	case 1:
		return (i / p.inner) % p.channels
	case 2:
		return (i/p.inner)*p.groups + (i%p.inner)/p.groupSize
	}
	return 0
}

// runsOf8 reports whether every run of one scale starts a multiple of 8 elements after
// any multiple of 8 (a block of chunkElems, a chunk of rows).
func (p paramIndex) runsOf8() bool {
	switch p.mode {
	case 1:
		return p.inner%8 == 0
	case 2:
		return p.inner%8 == 0 && p.groupSize%8 == 0
	}
	return true
}

// count is the number of scales.
func (p paramIndex) count(n int) int {
	switch p.mode {
	case 1:
		return p.channels
	case 2:
		return n / p.inner * p.groups
	}
	return 1
}

// blocks cuts n elements into runs that share one scale: whole channels (axis 0), groups,
// or chunks of a per-tensor weight. ok is false when channels are interleaved (axis > 0).
func (p paramIndex) blocks(n int) (count int, at func(b int) (lo, hi, param int), ok bool) {
	switch {
	case p.mode == 0:
		c := (n + chunkElems - 1) / chunkElems
		return c, func(b int) (int, int, int) { return b * chunkElems, min((b+1)*chunkElems, n), 0 }, true
	case p.mode == 1 && p.inner*p.channels == n:
		return p.channels, func(b int) (int, int, int) { return b * p.inner, (b + 1) * p.inner, b }, true
	case p.mode == 2:
		c := n / p.inner * p.groups
		return c, func(b int) (int, int, int) {
			r, g := b/p.groups, b%p.groups
			lo := r*p.inner + g*p.groupSize
			return lo, min(lo+p.groupSize, (r+1)*p.inner), b
		}, true
	}
	return 0, nil, false
}

func newParamIndex(ws weightScheme, l layer.Layer, n int) paramIndex {
	g := ws.granularity(l)
	switch {
	case g.GroupSize > 0:
		cols := n / l.Shape[0]
		return paramIndex{mode: 2, inner: cols, groupSize: g.GroupSize, groups: (cols + g.GroupSize - 1) / g.GroupSize}
	case g.PerChannel:
		inner := 1
		for _, d := range l.Shape[l.Axis+1:] {
			inner *= d
		}
		return paramIndex{mode: 1, inner: inner, channels: l.Shape[l.Axis]}
	}
	return paramIndex{}
}

// quantize quantizes (or casts) lw.x by its scheme's kind into the workspace buffers.
func (w *workspace) quantize(lw *layerWork) error {
	switch lw.ws.kind {
	case kindInt:
		return w.quantizeInt(lw)
	case kindFP8:
		return w.quantizeFP8(lw)
	case kindCast:
		return w.castWeight(lw)
	}
	return nil
}

// quantizeLayer quantizes one selected weight t of layer l into the workspace buffers.
func (w *workspace) quantizeLayer(ws weightScheme, l layer.Layer, t *tensor.Tensor) (*layerWork, error) {
	x, err := w.floats(t)
	if err != nil {
		return nil, err
	}
	lw := &layerWork{ws: ws, layer: l, x: x, idx: newParamIndex(ws, l, len(x))}
	if err := w.quantize(lw); err != nil {
		return nil, err
	}
	return lw, nil
}

func (w *workspace) quantizeInt(lw *layerWork) error {
	l, ws, x := lw.layer, lw.ws, lw.x
	view := l.Shape
	if l.Axis == 0 {
		view = []int{l.Shape[0], len(x) / l.Shape[0]}
	}
	tv := tensor.FromF32(view, x)
	p := lw.fixedP
	g := ws.granularity(layer.Layer{Axis: l.Axis})
	if p == nil && g.GroupSize > 0 && len(view) > 0 && view[len(view)-1] > 0 {
		return w.quantizeGroups(lw, len(view)-1, view[len(view)-1], g.GroupSize)
	}
	if p == nil {
		var err error
		if lw.ranged {
			p, lw.lo, lw.hi, err = quant.ChooseQParamsRange(tv, ws.scheme, g)
		} else {
			p, err = quant.ChooseQParams(tv, ws.scheme, g)
		}
		if err != nil {
			return err
		}
		if err := roundScales(p, scaleDType(l.DType), lw.paramBase); err != nil {
			return err
		}
	}
	lw.p = p
	w.codes = grow(w.codes, len(x))
	lw.codes = w.codes
	if lw.groupStats != nil && lw.idx.mode == 1 && l.Axis == 0 && len(view) == 2 && ws.scheme.QType.Bits <= 8 {
		// The streaming save measures channels as it quantizes them: a channel is a group
		// as long as its row, and quant's group kernel quantizes and measures each row
		// while it is in cache (the codes of QuantizeTo, the sums of blockStats).
		return quant.QuantizeGroupsWithTo(lw.codes, x, p.Scale, p.ZeroPoint, view[1], view[1], ws.scheme, ws.shift, lw.groupStats)
	}
	count, at, ok := lw.idx.blocks(len(x))
	if !ok || lw.idx.mode == 2 {
		// Channels interleaved (an ONNX MatMul weight [in, out]), or groups, too short to
		// be worth a call each: the general kernel, one call for the whole weight.
		ct, err := quant.Quantize(tv, p)
		if err != nil {
			return err
		}
		if ws.scheme.QType.Signed {
			copy(lw.codes, ct.I8())
		} else {
			shiftCodes(lw.codes, ct.U8(), ws.shift)
		}
		return nil
	}
	return parallel.For(count, 4*len(x), func(b, _ int) error {
		lo, hi, k := at(b)
		if ws.scheme.QType.Signed {
			return quant.QuantizeTo(lw.codes[lo:hi], x[lo:hi], p.Scale[k], p.ZeroPoint[k], ws.scheme)
		}
		u := unsafe.Slice((*uint8)(unsafe.Pointer(unsafe.SliceData(lw.codes[lo:hi]))), hi-lo)
		if err := quant.QuantizeTo(u, x[lo:hi], p.Scale[k], p.ZeroPoint[k], ws.scheme); err != nil {
			return err
		}
		shiftCodes(lw.codes[lo:hi], u, ws.shift)
		return nil
	})
}

// quantizeGroups is quantizeInt for groups of groupSize along rows of cols: quant's
// fused kernel finds each group's range and qparams, rounds its scale to the stored type
// and quantizes it in one pass, with the same result as ChooseQParams, roundScales and
// Quantize (quant's TestQuantizeGroupsToMatchesGeneric) at a fraction of the per-group
// cost; with lw.groupP (the streaming save's first pass found them) it only quantizes.
// Rows of different groups are independent, so large weights split by rows.
func (w *workspace) quantizeGroups(lw *layerWork, axis, cols, groupSize int) error {
	x, ws := lw.x, lw.ws
	groups := (cols + groupSize - 1) / groupSize
	rows := len(x) / cols
	p := &quant.QParams{Scheme: ws.scheme, Axis: axis, GroupSize: groupSize}
	if lw.groupP != nil {
		p.Scale, p.ZeroPoint = lw.groupP.Scale, lw.groupP.ZeroPoint
	} else {
		p.Scale, p.ZeroPoint = make([]float32, rows*groups), make([]int32, rows*groups)
	}
	w.codes = grow(w.codes, len(x))
	lw.codes = w.codes
	rowsPer := max(1, chunkElems/cols)
	if lw.groupStats != nil {
		rowsPer = max(1, rows) // one call: its blocks start at x's start
	}
	err := parallel.For((rows+rowsPer-1)/rowsPer, 4*len(x), func(b, _ int) error {
		r0, r1 := b*rowsPer, min((b+1)*rowsPer, rows)
		k0, k1 := r0*groups, r1*groups
		codes, scale, zp, xs := lw.codes[r0*cols:r1*cols], p.Scale[k0:k1], p.ZeroPoint[k0:k1], x[r0*cols:r1*cols]
		var err error
		if lw.groupP != nil {
			err = quant.QuantizeGroupsWithTo(codes, xs, scale, zp, cols, groupSize, ws.scheme, ws.shift, lw.groupStats)
		} else {
			err = quant.QuantizeGroupsTo(codes, scale, zp, xs, cols, groupSize, ws.scheme, ws.shift, scaleFixer(lw.layer.DType, lw.paramBase+k0))
		}
		return nonFiniteAt(err, r0*cols)
	})
	if err != nil {
		// As ChooseQParams: a NaN or ±Inf anywhere comes before a scale that does not fit.
		if _, _, nf := quant.MinMaxOf(x); nf != nil {
			return nf
		}
		return err
	}
	lw.p = p
	return nil
}

// scaleFixer is the fixScale of quant's group kernels for a weight of dtype weight whose
// first group is block base: nil for f32 weights, else storedScale.
func scaleFixer(weight tensor.DType, base int) func(int, float32) (float32, error) {
	sdt := scaleDType(weight)
	if sdt == tensor.F32 {
		return nil
	}
	return func(i int, s float32) (float32, error) { return storedScale(s, sdt, base+i) }
}

// perTensorQParams are the qparams of a per-tensor weight whose values lie in [lo, hi],
// as quantizeInt chooses them for the whole weight: the same observer arithmetic on the
// same range.
func perTensorQParams(ws weightScheme, lo, hi float32, weight tensor.DType) (*quant.QParams, error) {
	scale, zp, err := quant.CalculateQParams([]float32{lo}, []float32{hi}, ws.scheme)
	if err != nil {
		return nil, err
	}
	p := &quant.QParams{Scheme: ws.scheme, Scale: scale, ZeroPoint: zp}
	return p, roundScales(p, scaleDType(weight), 0)
}

// roundScales rounds scales to sdt, in which they are stored (the weight's dtype when it
// is f16 or bf16), so that codes and stored scales agree exactly. base is the index of
// p's first scale in the whole weight, for the error.
func roundScales(p *quant.QParams, sdt tensor.DType, base int) error {
	if sdt == tensor.F32 {
		return nil
	}
	for i, s := range p.Scale {
		var err error
		if p.Scale[i], err = storedScale(s, sdt, base+i); err != nil {
			return err
		}
	}
	return nil
}

// storedScale is s rounded to sdt, or an error naming block when it does not fit (zero or
// infinite once rounded).
func storedScale(s float32, sdt tensor.DType, block int) (float32, error) {
	if r := roundScale(s, sdt); r != 0 && !math.IsInf(float64(r), 0) {
		return r, nil
	}
	return 0, fmt.Errorf("scale %g of block %d does not fit %v", s, block, sdt)
}

// shiftCodes stores unsigned codes as signed ones: dst[i] = src[i] - shift (128 for
// uint8, 8 for uint4), the convention of compressed-tensors, which has no unsigned
// integer types. dst may alias src.
func shiftCodes(dst []int8, src []uint8, shift int32) {
	for i, u := range src {
		dst[i] = int8(int32(u) - shift)
	}
}

func (w *workspace) quantizeFP8(lw *layerWork) error {
	x, ws := lw.x, lw.ws
	if err := lw.checkFinite(); err != nil {
		return err
	}
	scales := make([]float32, lw.idx.count(len(x)))
	count, at, ok := lw.idx.blocks(len(x))
	switch {
	case lw.fixedFP8 > 0:
		scales[0] = lw.fixedFP8
	case lw.groupP != nil:
		copy(scales, lw.groupP.Scale)
	default:
		lw.fp8Scales(scales, count, at, ok)
	}
	lw.scales = scales
	w.out = grow(w.out, len(x))
	lw.fp8 = w.out[:len(x)]
	lo, hi := -ws.fp8Max, ws.fp8Max
	blocks := (len(x) + chunkElems - 1) / chunkElems
	return parallel.For(blocks, 4*len(x), func(b, _ int) error {
		var err error
		lw.forRuns(b*chunkElems, min(chunkElems, len(x)-b*chunkElems), func(a, z, k int) {
			// x/s clamped, then encoded, in one pass.
			if e := quant.DivClampFP8To(lw.fp8[a:z], x[a:z], scales[k], lo, hi, ws.target); e != nil && err == nil {
				err = e
			}
		})
		return err
	})
}

// fp8Scales sets the stored fp8 scale of every block of lw.x: its absolute maximum over
// the format's largest value (count, at and ok are lw.idx.blocks).
func (lw *layerWork) fp8Scales(scales []float32, count int, at func(int) (int, int, int), ok bool) {
	x, ws := lw.x, lw.ws
	if ok {
		// Per-tensor chunks share scale 0: their maxima are combined after the loop.
		amax := make([]float32, count)
		parallel.For(count, 4*len(x), func(b, _ int) error {
			lo, hi, _ := at(b)
			amax[b] = absMax(x[lo:hi])
			return nil
		})
		for b, a := range amax {
			_, _, k := at(b)
			scales[k] = max(scales[k], a)
		}
	} else {
		for i, v := range x {
			k := lw.idx.at(i)
			scales[k] = max(scales[k], float32(math.Abs(float64(v))))
		}
	}
	sdt := scaleDType(lw.layer.DType)
	for k, a := range scales {
		scales[k] = fp8Scale(a, ws, sdt)
	}
}

// fp8Scale is the stored scale of an fp8 block whose absolute maximum is a:
// compressed-tensors' absmax / ((max - min)/2), at least float32 eps.
func fp8Scale(a float32, ws weightScheme, sdt tensor.DType) float32 {
	return roundScale(max(a/ws.fp8Max, quant.Eps), sdt)
}

// absMax is the largest |v| of finite x (0 when x is empty), from quant's vector range
// kernel: max(-min, max) is the same value.
// checkFinite reports the first NaN or ±Inf of lw.x, unless a first pass already did.
func (lw *layerWork) checkFinite() error {
	if lw.finite {
		return nil
	}
	return checkFinite(lw.x)
}

func absMax(x []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	lo, hi, err := quant.MinMaxOf(x)
	if err != nil { // not reached: the weight was checked first
		lo, hi = minMax(x)
	}
	return max(-lo, hi, 0)
}

func (w *workspace) castWeight(lw *layerWork) error {
	if lw.castSums != nil {
		return w.castRanged(lw)
	}
	if err := lw.checkFinite(); err != nil {
		return err
	}
	var err error
	lw.cast, err = w.castBits(lw.x, lw.ws.target)
	return err
}

// castRanged is castWeight for a cast measured as it is made (castSums, the streaming
// save): each block of chunkElems cast, measured and its range found in one pass
// (quant.StatsAcc.CastRangeTo), with no pass of its own over x for the range and the
// check for NaN and ±Inf. The range and the error are
// quant.MinMaxOf(x)'s: the blocks' ranges fold into x's (quant.RangeFold).
func (w *workspace) castRanged(lw *layerWork) error {
	x := lw.x
	lw.cast = w.castOut(len(x))
	fold := quant.NewRangeFold()
	for b := 0; b < len(x); b += chunkElems {
		e := min(b+chunkElems, len(x))
		var acc quant.StatsAcc
		blo, bhi, err := acc.CastRangeTo(lw.cast[b:e], x[b:e], lw.ws.target)
		if err != nil {
			if _, _, nf := quant.MinMaxOf(x); nf != nil {
				return nf // the first NaN or ±Inf of x, not of the block
			}
			return err
		}
		lw.castSums[b/chunkElems] = acc.Sums()
		fold.Add(blo, bhi)
	}
	lw.lo, lw.hi = fold.Range(x)
	return nil
}

// castOut is the reused out buffer as n 16-bit values.
func (w *workspace) castOut(n int) []uint16 {
	w.out = grow(w.out, 2*n)
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(w.out))), n)
}

// castBits casts float32 values to F16 or BF16 bits in the reused out buffer.
func (w *workspace) castBits(x []float32, dt tensor.DType) ([]uint16, error) {
	bits := w.castOut(len(x))
	if dt == tensor.F16 {
		return bits, quant.F32ToF16To(bits, x)
	}
	return bits, quant.F32ToBF16To(bits, x)
}

// dequantizeTo writes the dequantized values of elements [lo, lo+len(dst)) into dst:
// (code - zero point) * scale for integers, fp8 * scale, or the cast value, with quant's
// dequantize kernels run by run of one scale.
func (lw *layerWork) dequantizeTo(dst []float32, lo int) {
	switch {
	case lw.ws.kind == kindInt && lw.idx.mode == 1 && lw.idx.inner == 1:
		quant.DequantizeChannelsTo(dst, lw.codes[lo:lo+len(dst)], lw.p.Scale, lw.p.ZeroPoint, lw.ws.shift, lo)
	case lw.ws.kind == kindInt:
		lw.forRuns(lo, len(dst), func(a, b, k int) {
			quant.DequantizeTo(dst[a-lo:b-lo], lw.codes[a:b], lw.p.Scale[k], lw.p.ZeroPoint[k]-lw.ws.shift)
		})
	case lw.ws.kind == kindFP8:
		lw.forRuns(lo, len(dst), func(a, b, k int) {
			quant.DequantizeFP8To(dst[a-lo:b-lo], lw.fp8[a:b], lw.scales[k], lw.ws.target)
		})
	case lw.ws.kind == kindCast:
		// F16C / AVX2 conversions where the CPU has them, exact either way.
		if lw.ws.target == tensor.BF16 {
			quant.BF16ToF32To(dst, lw.cast[lo:lo+len(dst)])
		} else {
			quant.F16ToF32To(dst, lw.cast[lo:lo+len(dst)])
		}
	}
}

// forRuns calls fn(a, b, k) for the runs of elements [a, b) within [lo, lo+n) that share
// scale k.
func (lw *layerWork) forRuns(lo, n int, fn func(a, b, k int)) {
	p := lw.idx
	end := lo + n
	for a := lo; a < end; {
		k := p.at(a)
		b := end
		switch {
		case p.mode == 1 && p.inner > 1:
			b = min(end, (a/p.inner+1)*p.inner)
		case p.mode == 1:
			b = a + 1
		case p.mode == 2:
			row, col := a/p.inner, a%p.inner
			b = min(end, row*p.inner+min(p.inner, (col/p.groupSize+1)*p.groupSize))
		}
		fn(a, b, k)
		a = b
	}
}

// scaleRange is the smallest and largest stored scale (zero for casts).
func (lw *layerWork) scaleRange() (lo, hi float64) {
	var s []float32
	switch lw.ws.kind {
	case kindInt:
		s = lw.p.Scale
	case kindFP8:
		s = lw.scales
	}
	if len(s) == 0 {
		return 0, 0
	}
	if l, h, err := quant.MinMaxOf(s); err == nil {
		return float64(l), float64(h) // the vector kernel: exact, as the loop below
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range s {
		lo, hi = min(lo, float64(v)), max(hi, float64(v))
	}
	return lo, hi
}
