package graph

import (
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/tensor"
)

// Resize (opsets 10 to 19) and Upsample (7, 9). Every mode is separable: each resized axis
// maps every output index to a few input taps and weights (nearest: one, linear: two, cubic:
// four, more with antialias when shrinking), and the axes are resized one after the other.
// Coordinates are computed in float32 as onnxruntime does, so that nearest picks the same
// pixels; taps outside the input read its edge (exclude_outside drops them instead).

func init() {
	ops["Resize"] = buildResize
	ops["Upsample"] = buildUpsample
}

type resizeAttrs struct {
	mode      string // nearest, linear, cubic
	ctm       string // coordinate_transformation_mode
	nearest   string // nearest_mode; "simple" before opset 11
	cubicA    float32
	exclude   bool
	extrap    float32
	antialias bool
	axes      []int64
	policy    string // keep_aspect_ratio_policy
}

var (
	resizeModes   = map[string]bool{"nearest": true, "linear": true, "cubic": true}
	resizeCTModes = map[string]bool{"half_pixel": true, "half_pixel_symmetric": true, "pytorch_half_pixel": true,
		"align_corners": true, "asymmetric": true, "tf_half_pixel_for_nn": true, "tf_crop_and_resize": true}
	resizeNearest  = map[string]bool{"round_prefer_floor": true, "round_prefer_ceil": true, "floor": true, "ceil": true}
	resizePolicies = map[string]bool{"stretch": true, "not_larger": true, "not_smaller": true}
)

// resizeInputs are the input positions of roi, scales and sizes (-1: the form has none).
type resizeInputs struct{ roi, scales, sizes int }

func buildResize(b *builder) (kernel, error) {
	if b.opset < 10 {
		return nil, b.unsupported("Resize before opset 10 does not exist")
	}
	pos := resizeInputs{roi: 1, scales: 2, sizes: 3}
	minIn := 1
	switch {
	case b.opset == 10:
		pos, minIn = resizeInputs{roi: -1, scales: 1, sizes: -1}, 2
	case b.opset < 13:
		minIn = 3
	}
	if err := b.arity(minIn, 4, 1, 1); err != nil {
		return nil, err
	}
	a := resizeAttrs{mode: b.attrString("mode", "nearest"), ctm: "asymmetric", nearest: "simple", cubicA: -0.75, policy: "stretch"}
	if b.opset >= 11 {
		a.ctm = b.attrString("coordinate_transformation_mode", "half_pixel")
		a.nearest = b.attrString("nearest_mode", "round_prefer_floor")
		a.cubicA = b.attrFloat("cubic_coeff_a", -0.75)
		a.exclude = b.attrInt("exclude_outside", 0) != 0
		a.extrap = b.attrFloat("extrapolation_value", 0)
	}
	if b.opset >= 18 {
		a.antialias = b.attrInt("antialias", 0) != 0
		a.axes, _ = b.attrInts("axes")
		a.policy = b.attrString("keep_aspect_ratio_policy", "stretch")
	}
	if err := a.check(b); err != nil {
		return nil, err
	}
	return resizeKernel(b, a, pos, nil)
}

func buildUpsample(b *builder) (kernel, error) {
	if b.opset >= 10 {
		return nil, b.unsupported("Upsample is deprecated from opset 10 (Resize replaces it)")
	}
	a := resizeAttrs{mode: b.attrString("mode", "nearest"), ctm: "asymmetric", nearest: "simple", cubicA: -0.75, policy: "stretch"}
	if a.mode == "bilinear" { // Upsample-1's name for linear
		a.mode = "linear"
	}
	if a.mode == "cubic" {
		return nil, b.unsupported("mode=%q (Upsample has nearest and linear)", a.mode)
	}
	if err := a.check(b); err != nil {
		return nil, err
	}
	if attr, ok := b.attr("scales"); ok { // opset 7
		if err := b.arity(1, 1, 1, 1); err != nil {
			return nil, err
		}
		return resizeKernel(b, a, resizeInputs{-1, -1, -1}, attr.Floats)
	}
	if err := b.arity(2, 2, 1, 1); err != nil {
		return nil, err
	}
	return resizeKernel(b, a, resizeInputs{roi: -1, scales: 1, sizes: -1}, nil)
}

func (a resizeAttrs) check(b *builder) error {
	switch {
	case !resizeModes[a.mode]:
		return b.unsupported("mode=%q", a.mode)
	case !resizeCTModes[a.ctm]:
		return b.unsupported("coordinate_transformation_mode=%q", a.ctm)
	case a.nearest != "simple" && !resizeNearest[a.nearest]:
		return b.unsupported("nearest_mode=%q", a.nearest)
	case !resizePolicies[a.policy]:
		return b.unsupported("keep_aspect_ratio_policy=%q", a.policy)
	case a.antialias && a.mode == "nearest":
		return b.errorf("antialias applies to linear and cubic modes, not nearest")
	}
	return nil
}

// resizeKernel builds the kernel once the form is known; attrScales are Upsample-7's scales.
func resizeKernel(b *builder, a resizeAttrs, pos resizeInputs, attrScales []float32) (kernel, error) {
	if a.mode != "nearest" {
		if err := b.dtypes(0, tensor.F32); err != nil {
			return nil, err
		}
	} else if err := b.dtypes(0, allTypes...); err != nil {
		return nil, err
	}
	for _, i := range []int{pos.roi, pos.scales} {
		if i > 0 {
			if err := b.dtypes(i, tensor.F32); err != nil {
				return nil, err
			}
		}
	}
	if pos.sizes > 0 {
		if err := b.dtypes(pos.sizes, tensor.I64); err != nil {
			return nil, err
		}
	}
	b.setOut(0, b.in(0).DType, nil)
	if s := b.in(0).Shape; s != nil {
		out := make([]int, len(s))
		for i := range out {
			out[i] = -1
		}
		b.setOut(0, b.in(0).DType, out)
		known := func(i int) (*tensor.Tensor, bool) {
			if i < 0 || !b.has(i) {
				return nil, true
			}
			return b.constIn(i), b.constIn(i) != nil
		}
		roi, _ := known(pos.roi)
		scales, okScales := known(pos.scales)
		sizes, okSizes := known(pos.sizes)
		if !containsNeg(s) && okScales && okSizes {
			if r, err := resizeParams(a, s, roi, scales, sizes, attrScales); err == nil {
				b.setOut(0, b.in(0).DType, r.out)
			}
		}
	}
	at := func(ins []*tensor.Tensor, i int) *tensor.Tensor {
		if i < 0 || i >= len(ins) {
			return nil
		}
		return ins[i]
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x := ins[0]
		p, err := resizeParams(a, x.Shape, at(ins, pos.roi), at(ins, pos.scales), at(ins, pos.sizes), attrScales)
		if err != nil {
			return nil, err
		}
		if err := checkOutputSize(p.out); err != nil {
			return nil, err
		}
		return mem.result(resize(mem, x, a, p)), nil
	}, nil
}

// resizeSpec is what the inputs of one run ask for: the output shape, the scale of each axis
// and the roi (start, end) of each axis.
type resizeSpec struct {
	out      []int
	scales   []float32
	roiStart []float32
	roiEnd   []float32
}

// resizeParams resolves scales or sizes (and axes, keep_aspect_ratio_policy, roi) for an
// input shape.
func resizeParams(a resizeAttrs, in []int, roi, scales, sizes *tensor.Tensor, attrScales []float32) (resizeSpec, error) {
	var p resizeSpec
	rank := len(in)
	axes := make([]int, 0, rank)
	if len(a.axes) == 0 {
		for i := 0; i < rank; i++ {
			axes = append(axes, i)
		}
	}
	for _, ax := range a.axes {
		n, err := normAxis(ax, rank)
		if err != nil {
			return p, err
		}
		axes = append(axes, n)
	}
	p.scales = make([]float32, rank)
	p.out = append([]int{}, in...)
	p.roiStart, p.roiEnd = make([]float32, rank), make([]float32, rank)
	for i := range p.scales {
		p.scales[i], p.roiEnd[i] = 1, 1
	}
	if roi != nil && roi.Numel() > 0 && a.ctm == "tf_crop_and_resize" {
		r := roi.ToF32()
		if len(r) != 2*len(axes) {
			return p, fmt.Errorf("roi has %d values for %d axes", len(r), len(axes))
		}
		for k, ax := range axes {
			p.roiStart[ax], p.roiEnd[ax] = r[k], r[len(axes)+k]
		}
	}
	switch {
	case sizes != nil && sizes.Numel() > 0:
		if scales != nil && scales.Numel() > 0 {
			return p, fmt.Errorf("both scales and sizes are given")
		}
		s, err := toInts(nil, sizes)
		if err != nil {
			return p, err
		}
		if len(s) != len(axes) {
			return p, fmt.Errorf("sizes %v for %d axes", s, len(axes))
		}
		for k, ax := range axes {
			if s[k] < 0 {
				return p, fmt.Errorf("negative size %v", s)
			}
			p.out[ax] = int(s[k])
			if in[ax] > 0 {
				p.scales[ax] = float32(s[k]) / float32(in[ax])
			} else if s[k] != 0 {
				return p, fmt.Errorf("size %d for an empty dim", s[k])
			}
		}
		if a.policy != "stretch" {
			keepAspect(a.policy, in, axes, p)
		}
	case scales != nil && scales.Numel() > 0 || attrScales != nil:
		sv := attrScales
		if scales != nil && scales.Numel() > 0 {
			sv = scales.ToF32()
		}
		if len(sv) != len(axes) {
			return p, fmt.Errorf("scales %v for %d axes", sv, len(axes))
		}
		for k, ax := range axes {
			if !(sv[k] > 0) {
				return p, fmt.Errorf("scale %v is not positive", sv[k])
			}
			p.scales[ax] = sv[k]
			p.out[ax] = int(sv[k] * float32(in[ax]))
		}
	default:
		return p, fmt.Errorf("neither scales nor sizes is given")
	}
	return p, nil
}

// keepAspect applies keep_aspect_ratio_policy: one scale for every resized axis, the
// smallest (not_larger) or largest (not_smaller) of the sizes asked for.
func keepAspect(policy string, in []int, axes []int, p resizeSpec) {
	s := p.scales[axes[0]]
	for _, ax := range axes {
		if policy == "not_larger" {
			s = min(s, p.scales[ax])
		} else {
			s = max(s, p.scales[ax])
		}
	}
	for _, ax := range axes {
		p.scales[ax] = s
		p.out[ax] = int(math.Round(float64(s * float32(in[ax]))))
	}
}

// resize applies the resize axis by axis, skipping the axes it leaves as they are.
func resize(mem *arena, x *tensor.Tensor, a resizeAttrs, p resizeSpec) *tensor.Tensor {
	cur := x
	for ax := range x.Shape {
		t := axisTaps(a, cur.Shape[ax], p.out[ax], p.scales[ax], p.roiStart[ax], p.roiEnd[ax])
		if t.identity() {
			continue
		}
		cur = resizeAxis(mem, cur, ax, t, a.extrap)
	}
	return cur // x itself when no axis changes, as Identity returns its input
}

// taps maps each output index o of one axis to n input indices idx[o*n+k] and weights
// w[o*n+k]; extrap[o] marks outputs outside the roi (tf_crop_and_resize).
type taps struct {
	in, out, n int
	idx        []int
	w          []float32
	extrap     []bool
}

func (t taps) identity() bool {
	if t.in != t.out {
		return false
	}
	for o := 0; o < t.out; o++ {
		if t.extrap[o] {
			return false
		}
		for k := 0; k < t.n; k++ {
			w := t.w[o*t.n+k]
			if w != 0 && (w != 1 || t.idx[o*t.n+k] != o) {
				return false
			}
		}
	}
	return true
}

// originalCoord maps an output coordinate to the input's (ONNX Resize's formulas). lenOut is
// the output length; like ONNX's reference, align_corners, pytorch_half_pixel and
// tf_crop_and_resize use the unrounded scale * lenIn in its place, which differs from it when
// the scales (not sizes) give a fractional length.
func originalCoord(ctm string, x, scale, lenOut, lenIn, roiStart, roiEnd float32) float32 {
	if ctm != "half_pixel_symmetric" {
		lenOut = scale * lenIn
	}
	switch ctm {
	case "asymmetric":
		return x / scale
	case "pytorch_half_pixel":
		if lenOut > 1 {
			return (x+0.5)/scale - 0.5
		}
		return 0
	case "tf_half_pixel_for_nn":
		return (x + 0.5) / scale
	case "align_corners":
		if lenOut == 1 {
			return 0
		}
		return x * (lenIn - 1) / (lenOut - 1)
	case "tf_crop_and_resize":
		if lenOut > 1 {
			return float32(float64(roiStart)*float64(lenIn-1) + float64(x*(roiEnd-roiStart)*(lenIn-1))/float64(lenOut-1))
		}
		return float32(0.5 * float64(roiStart+roiEnd) * float64(lenIn-1))
	case "half_pixel_symmetric":
		adjust := lenOut / (scale * lenIn)
		center := lenIn / 2
		offset := center * (1 - adjust)
		return float32(float64(offset) + (float64(x)+0.5)/float64(scale) - 0.5)
	}
	return (x+0.5)/scale - 0.5 // half_pixel
}

// nearestIndex rounds an input coordinate by nearest_mode ("simple": Resize-10/Upsample's
// truncation, or ceiling when shrinking).
func nearestIndex(mode string, x float32, down bool) int {
	switch mode {
	case "simple":
		if down {
			return int(math.Ceil(float64(x)))
		}
		return int(x)
	case "round_prefer_ceil":
		return int(math.Round(float64(x)))
	case "floor":
		return int(math.Floor(float64(x)))
	case "ceil":
		return int(math.Ceil(float64(x)))
	}
	if x == float32(int64(x))+0.5 { // round_prefer_floor
		return int(math.Floor(float64(x)))
	}
	return int(math.Round(float64(x)))
}

// cubicWeight is the cubic convolution kernel with coefficient A at distance d.
func cubicWeight(d, A float64) float64 {
	d = math.Abs(d)
	switch {
	case d <= 1:
		return ((A+2)*d-(A+3))*d*d + 1
	case d < 2:
		return ((A*d-5*A)*d+8*A)*d - 4*A
	}
	return 0
}

// axisTaps computes one axis's taps.
func axisTaps(a resizeAttrs, in, out int, scale, roiStart, roiEnd float32) taps {
	n := 1
	s := float64(min(scale, 1))
	start := 0
	switch a.mode {
	case "linear":
		n, start = 2, 0
		if a.antialias {
			start = int(math.Floor(-1/s)) + 1
			n = 2 - 2*start
		}
	case "cubic":
		n, start = 4, -1
		if a.antialias {
			start = int(math.Floor(-2/s)) + 1
			n = 2 - 2*start
		}
	}
	t := taps{in: in, out: out, n: n, idx: make([]int, out*n), w: make([]float32, out*n), extrap: make([]bool, out)}
	ws := make([]float64, n)
	for o := 0; o < out; o++ {
		x := originalCoord(a.ctm, float32(o), scale, float32(out), float32(in), roiStart, roiEnd)
		if a.ctm == "tf_crop_and_resize" && (x < 0 || x > float32(in-1)) {
			t.extrap[o] = true
			continue
		}
		idx, w := t.idx[o*n:(o+1)*n], t.w[o*n:(o+1)*n]
		if a.mode == "nearest" {
			idx[0], w[0] = clampInt(nearestIndex(a.nearest, x, scale < 1), 0, in-1), 1
			continue
		}
		// The taps are ceil(x)-n/2 ... ceil(x)+n/2-1; ratio is x's distance past the tap
		// before ceil(x), in (0, 1].
		first := int(math.Ceil(float64(x))) - n/2
		ratio := float64(x) - float64(first+n/2-1)
		sum := 0.0
		for k := range ws {
			d := float64(start+k) - ratio // tap position minus x
			switch {
			case a.mode == "linear" && a.antialias:
				ws[k] = max(0, 1-math.Abs(d*s))
			case a.mode == "linear":
				ws[k] = max(0, 1-math.Abs(d))
			case a.antialias:
				ws[k] = cubicWeight(d*s, float64(a.cubicA))
			default:
				ws[k] = cubicWeight(d, float64(a.cubicA))
			}
			if a.exclude && (first+k < 0 || first+k >= in) {
				ws[k] = 0
			}
			sum += ws[k]
		}
		norm := a.antialias || a.exclude
		for k := range ws {
			idx[k] = clampInt(first+k, 0, in-1)
			if norm && sum != 0 {
				w[k] = float32(ws[k] / sum)
			} else {
				w[k] = float32(ws[k])
			}
		}
	}
	return t
}

func clampInt(v, lo, hi int) int { return max(lo, min(hi, v)) }

// resizeAxis resizes axis ax of x by its taps.
func resizeAxis(mem *arena, x *tensor.Tensor, ax int, t taps, extrap float32) *tensor.Tensor {
	shape := append([]int{}, x.Shape...)
	shape[ax] = t.out
	args := resizeArgs{outer: product(x.Shape[:ax]), inner: product(x.Shape[ax+1:]), t: t, extrap: extrap}
	rows := args.outer * t.out
	if x.DType != tensor.F32 {
		// nearest on any dtype: a gather of whole rows
		out, d := newTensorIn[byte](mem, x.DType, shape, false)
		es := x.DType.Size()
		args.inner *= es
		for r := 0; r < rows; r++ {
			o, j := r/t.out, r%t.out
			src := (o*t.in + t.idx[j]) * args.inner
			copy(d[r*args.inner:(r+1)*args.inner], x.Data[src:src+args.inner])
		}
		return out
	}
	out, d := newTensorIn[float32](mem, tensor.F32, shape, false)
	args.src, args.dst = elems[float32](x), d
	forRange(mem, rows, rows*args.inner*t.n, args, resizeArgs.run)
	return out
}

type resizeArgs struct {
	outer, inner int
	t            taps
	extrap       float32
	src, dst     []float32
}

func (a resizeArgs) run(lo, hi int) {
	t, inner := a.t, a.inner
	for r := lo; r < hi; r++ {
		o, j := r/t.out, r%t.out
		dst := a.dst[r*inner : (r+1)*inner]
		if t.extrap[j] {
			for i := range dst {
				dst[i] = a.extrap
			}
			continue
		}
		base := o * t.in * inner
		for i := range dst {
			dst[i] = 0
		}
		for k := 0; k < t.n; k++ {
			w := t.w[j*t.n+k]
			if w == 0 {
				continue
			}
			src := a.src[base+t.idx[j*t.n+k]*inner:][:inner]
			for i, v := range src {
				dst[i] += w * v
			}
		}
	}
}
