package quantize

import (
	"fmt"
	"strings"

	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// Layouts of Save.
const (
	// LayoutCompressed is the compressed-tensors layout (SPEC §5): codes under the
	// weight's name (int8, fp8) or `weight_packed` (int4), plus `weight_scale`,
	// `weight_zero_point` (asymmetric), `weight_shape` (int4) and `input_scale` (static).
	LayoutCompressed = "compressed"
	// LayoutFake stores quantized-then-dequantized weights under the original names and
	// dtypes, so the file loads into the original module with load_state_dict.
	LayoutFake = "fake"
)

// Layouts lists the accepted layout names.
var Layouts = []string{LayoutCompressed, LayoutFake}

// role says what happens to one source tensor in the output.
type role int

const (
	rolePass   role = iota // written unchanged
	roleCast               // cast to the scheme's float dtype (fp16/bf16 schemes)
	roleWeight             // a selected layer's weight, quantized
)

func (q *WeightPlan) roleOf(info tensor.Info) (role, *layer.Decision) {
	r := q.byTensor[info.Name]
	switch {
	case r != nil && r.decision.Selected && !r.isBias && q.ws.kind != kindCast:
		return roleWeight, r.decision
	case q.ws.kind != kindCast || !info.DType.IsFloat() || info.DType == q.ws.target:
		return rolePass, nil
	case r != nil && !r.decision.Selected:
		return rolePass, r.decision // a skipped layer keeps its dtype
	case r != nil:
		return roleCast, r.decision
	}
	return roleCast, nil
}

// inputBase is the prefix of a layer's static activation tensors: "fc1.weight" gives
// "fc1.input", for "fc1.input_scale" and "fc1.input_zero_point".
func inputBase(l layer.Layer) string {
	if p, ok := strings.CutSuffix(l.Weight, ".weight"); ok {
		return p + ".input"
	}
	return l.Weight + "_input"
}

// scaleShape is the shape of a layer's weight_scale: [out, groups] per group; per
// channel the weight's rank with 1 everywhere but the channel axis ([out, 1] for Linear,
// [out, 1, 1, 1] for Conv2d) or, for int4, [out, 1]; [1] per tensor.
//
// A Conv2d scale is [out, 1, 1, 1], not [out, 1], because that is what compressed-tensors
// needs: its dequantize is a plain broadcast, (w - zero_point) * scale, which an
// [out, 1] scale would align with the kernel dimensions, and llm-compressor's observers
// reduce every dimension but the first with keepdim, giving the same shape. (Its
// [out, 1] placeholder, and vLLM's loader, exist for Linear layers only.)
func (q *WeightPlan) scaleShape(l layer.Layer) []int {
	idx := newParamIndex(q.ws, l, numel(l.Shape))
	switch idx.mode {
	case 2:
		return []int{l.Shape[0], idx.groups}
	case 1:
		if q.ws.kind == kindInt && q.ws.scheme.QType.Bits == 4 {
			return []int{l.Shape[0], 1} // int4 works on the [out, in] view it packs
		}
		s := make([]int, len(l.Shape))
		for i := range s {
			s[i] = 1
		}
		s[l.Axis] = l.Shape[l.Axis]
		return s
	}
	return []int{1}
}

func numel(shape []int) int {
	n, _ := tensor.Numel(shape)
	return n
}

// storesZeroPoint reports whether weights get a weight_zero_point: affine schemes, and
// symmetric ones whose zero point, once shifted to signed storage, is not 0 (ORT's
// symmetric uint8 uses 127, and its all-zero channels 0).
func (ws weightScheme) storesZeroPoint() bool {
	s := ws.scheme
	if !s.Symmetric || (!s.QType.Signed && s.Numerics == quant.ORT) {
		return true
	}
	_, zp, err := quant.CalculateQParams([]float32{-1}, []float32{1}, s)
	return err != nil || zp[0]-ws.shift != 0
}

// inputStoresZeroPoint is storesZeroPoint for activation qparams.
func inputStoresZeroPoint(p *quant.QParams) bool {
	shift := int32(0)
	if !p.Scheme.QType.Signed {
		shift = (p.Scheme.QType.Max + 1) / 2
	}
	return !p.Scheme.Symmetric || p.ZeroPoint[0]-shift != 0
}

// outputInfos lists what the output holds for one source tensor under layout, in
// writing order.
func (q *WeightPlan) outputInfos(info tensor.Info, layout string) []tensor.Info {
	r, d := q.roleOf(info)
	switch {
	case r == rolePass || (r == roleCast && layout == LayoutFake) || (r == roleWeight && layout == LayoutFake):
		return []tensor.Info{info}
	case r == roleCast:
		return []tensor.Info{{Name: info.Name, DType: q.ws.target, Shape: info.Shape}}
	}
	l := d.Layer
	sdt := scaleDType(l.DType)
	if q.ws.kind == kindFP8 {
		return []tensor.Info{
			{Name: l.Weight, DType: q.ws.target, Shape: l.Shape},
			{Name: l.Weight + "_scale", DType: sdt, Shape: q.scaleShape(l)},
		}
	}
	var out []tensor.Info
	sshape := q.scaleShape(l)
	if q.ws.scheme.QType.Bits == 4 {
		cols := numel(l.Shape) / l.Shape[0]
		out = append(out,
			tensor.Info{Name: l.Weight + "_packed", DType: tensor.I32, Shape: []int{l.Shape[0], (cols + 7) / 8}},
			tensor.Info{Name: l.Weight + "_scale", DType: sdt, Shape: sshape},
			tensor.Info{Name: l.Weight + "_shape", DType: tensor.I64, Shape: []int{len(l.Shape)}})
		if q.ws.storesZeroPoint() {
			out = append(out, tensor.Info{Name: l.Weight + "_zero_point", DType: zeroPointDType4(sshape), Shape: zeroPointShape4(sshape)})
		}
	} else {
		out = append(out,
			tensor.Info{Name: l.Weight, DType: tensor.I8, Shape: l.Shape},
			tensor.Info{Name: l.Weight + "_scale", DType: sdt, Shape: sshape})
		if q.ws.storesZeroPoint() {
			out = append(out, tensor.Info{Name: l.Weight + "_zero_point", DType: tensor.I8, Shape: sshape})
		}
	}
	if p := q.inputQ[l.Name]; p != nil {
		out = append(out, tensor.Info{Name: inputBase(l) + "_scale", DType: sdt, Shape: []int{1}})
		if inputStoresZeroPoint(p) {
			out = append(out, tensor.Info{Name: inputBase(l) + "_zero_point", DType: tensor.I8, Shape: []int{1}})
		}
	}
	return out
}

// int4 zero points per channel or group are packed eight to an int32 along the output
// dimension, as compressed-tensors' pack_to_int32(packed_dim=0) does: [ceil(out/8),
// groups]. A per-tensor zero point stays one int8.
func zeroPointShape4(scaleShape []int) []int {
	if len(scaleShape) == 2 {
		return []int{(scaleShape[0] + 7) / 8, scaleShape[1]}
	}
	return []int{1}
}

func zeroPointDType4(scaleShape []int) tensor.DType {
	if len(scaleShape) == 2 {
		return tensor.I32
	}
	return tensor.I8
}

// named is one output tensor.
type named struct {
	name string
	t    *tensor.Tensor
}

// produce reads one source tensor and returns its output tensors under layout (matching
// outputInfos), and the layer's work when it is a quantized or cast weight. The returned
// tensors live in the workspace until its next use.
func (q *WeightPlan) produce(w *workspace, info tensor.Info, layout string) ([]named, *layerWork, error) {
	t, err := w.read(info)
	if err != nil {
		return nil, nil, err
	}
	r, d := q.roleOf(info)
	switch {
	case r == rolePass:
		return []named{{info.Name, t}}, nil, nil
	case r == roleCast && (d == nil || d.Layer.Weight != info.Name):
		out, err := w.castTensor(t, q.ws.target, layout == LayoutFake)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", info.Name, err)
		}
		return []named{{info.Name, out}}, nil, nil
	}
	lw, err := q.quantizeSelected(w, d.Layer, t)
	if err != nil {
		return nil, nil, fmt.Errorf("tensor %q: %w", info.Name, err)
	}
	if layout == LayoutFake {
		out, err := w.fakeWeight(lw)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", info.Name, err)
		}
		return []named{{info.Name, out}}, lw, nil
	}
	out, err := q.compressed(lw)
	return out, lw, err
}

// castTensor casts a floating tensor that is not a selected weight (fp16/bf16 schemes);
// with fake set it is cast and cast back to its own dtype.
func (w *workspace) castTensor(t *tensor.Tensor, dt tensor.DType, fake bool) (*tensor.Tensor, error) {
	x, err := w.floats(t)
	if err != nil {
		return nil, err
	}
	if _, err := w.castBits(x, dt); err != nil {
		return nil, err
	}
	c, err := tensor.FromBytes(dt, t.Shape, w.out[:2*len(x)])
	if err != nil || !fake {
		return c, err
	}
	return c.To(t.DType)
}

// fakeWeight dequantizes the whole weight into its source dtype.
func (w *workspace) fakeWeight(lw *layerWork) (*tensor.Tensor, error) {
	deq := make([]float32, len(lw.x))
	lw.dequantizeTo(deq, 0)
	return tensor.FromF32(lw.layer.Shape, deq).To(lw.layer.DType)
}

// compressed returns a quantized weight's tensors in the compressed-tensors layout: the
// codes (or cast values) first, then its parameters.
func (q *WeightPlan) compressed(lw *layerWork) ([]named, error) {
	codes, err := q.codesOutput(lw)
	if err != nil {
		return nil, err
	}
	params, err := q.paramOutputs(lw)
	if err != nil {
		return nil, err
	}
	return append([]named{codes}, params...), nil
}

// codesOutput is the tensor that holds a weight's codes in the compressed layout: int8
// codes, int4 codes packed eight to an int32 word along each row, fp8 codes or cast values.
func (q *WeightPlan) codesOutput(lw *layerWork) (named, error) {
	l := lw.layer
	var t *tensor.Tensor
	var err error
	switch {
	case q.ws.kind == kindCast:
		t, err = tensor.FromBytes(q.ws.target, l.Shape, tensor.Bytes(lw.cast))
	case q.ws.kind == kindFP8:
		t, err = tensor.FromBytes(q.ws.target, l.Shape, lw.fp8)
	case q.ws.scheme.QType.Bits == 4:
		rows := l.Shape[0]
		cols := len(lw.codes) / rows
		t = tensor.New(tensor.I32, rows, (cols+7)/8)
		err = quant.PackInt4WordsTo(t.I32(), lw.codes, cols)
		return named{l.Weight + "_packed", t}, err
	default:
		t, err = tensor.FromBytes(tensor.I8, l.Shape, tensor.Bytes(lw.codes))
	}
	return named{l.Weight, t}, err
}

// paramOutputs are the tensors beside the codes in the compressed layout: weight_scale,
// weight_shape (int4), weight_zero_point (when stored) and the static input qparams. They
// need lw's parameters only, not its values or codes.
func (q *WeightPlan) paramOutputs(lw *layerWork) ([]named, error) {
	l := lw.layer
	sdt := scaleDType(l.DType)
	sshape := q.scaleShape(l)
	switch q.ws.kind {
	case kindCast:
		return nil, nil
	case kindFP8:
		return []named{{l.Weight + "_scale", tensor.FromF32To(sdt, sshape, lw.scales)}}, nil
	}
	var out []named
	p := lw.p
	zp := make([]int8, len(p.ZeroPoint))
	for i, z := range p.ZeroPoint {
		zp[i] = int8(z - q.ws.shift)
	}
	if q.ws.scheme.QType.Bits == 4 {
		shape := tensor.New(tensor.I64, len(l.Shape))
		for i, d := range l.Shape {
			shape.I64()[i] = int64(d)
		}
		out = append(out, named{l.Weight + "_scale", tensor.FromF32To(sdt, sshape, p.Scale)}, named{l.Weight + "_shape", shape})
		if q.ws.storesZeroPoint() {
			z, err := packZeroPoints4(zp, sshape)
			if err != nil {
				return nil, err
			}
			out = append(out, named{l.Weight + "_zero_point", z})
		}
	} else {
		out = append(out, named{l.Weight + "_scale", tensor.FromF32To(sdt, sshape, p.Scale)})
		if q.ws.storesZeroPoint() {
			z, _ := tensor.FromBytes(tensor.I8, sshape, tensor.Bytes(zp))
			out = append(out, named{l.Weight + "_zero_point", z})
		}
	}
	if ip := q.inputQ[l.Name]; ip != nil {
		out = append(out, named{inputBase(l) + "_scale", tensor.FromF32To(sdt, []int{1}, ip.Scale)})
		if inputStoresZeroPoint(ip) {
			shift := int32(0)
			if !ip.Scheme.QType.Signed {
				shift = (ip.Scheme.QType.Max + 1) / 2
			}
			z := tensor.New(tensor.I8, 1)
			z.I8()[0] = int8(ip.ZeroPoint[0] - shift)
			out = append(out, named{inputBase(l) + "_zero_point", z})
		}
	}
	return out, nil
}

// packZeroPoints4 packs int4 zero points [out, groups] along the output dimension into
// int32 words [ceil(out/8), groups]; a per-tensor zero point stays one int8.
func packZeroPoints4(zp []int8, scaleShape []int) (*tensor.Tensor, error) {
	if len(scaleShape) != 2 {
		z := tensor.New(tensor.I8, 1)
		z.I8()[0] = zp[0]
		return z, nil
	}
	rows, groups := scaleShape[0], scaleShape[1]
	transposed := make([]int8, len(zp))
	for r := 0; r < rows; r++ {
		for g := 0; g < groups; g++ {
			transposed[g*rows+r] = zp[r*groups+g]
		}
	}
	words := (rows + 7) / 8
	packedT := make([]int32, groups*words)
	if err := quant.PackInt4WordsTo(packedT, transposed, rows); err != nil {
		return nil, err
	}
	out := tensor.New(tensor.I32, words, groups)
	for g := 0; g < groups; g++ {
		for j := 0; j < words; j++ {
			out.I32()[j*groups+g] = packedT[g*words+j]
		}
	}
	return out, nil
}
