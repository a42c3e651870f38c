package onnxquant

import (
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/quantize"
	"github.com/qscript-dev/qscript/report"
	"github.com/qscript-dev/qscript/tensor"
)

// ONNX TensorProto data types used here.
const (
	typeFloat    = int32(onnxpb.TensorProto_FLOAT)
	typeFloat16  = int32(onnxpb.TensorProto_FLOAT16)
	typeBFloat16 = int32(onnxpb.TensorProto_BFLOAT16)
)

// DefaultOpBlockList is float16.py's DEFAULT_OP_BLOCK_LIST: ops ONNX Runtime has no float16
// kernel for, or whose accuracy float16 ruins. They stay float32 with Casts around them.
var DefaultOpBlockList = []string{
	"ArrayFeatureExtractor", "Binarizer", "CastMap", "CategoryMapper", "DictVectorizer",
	"FeatureVectorizer", "Imputer", "LabelEncoder", "LinearClassifier", "LinearRegressor",
	"Normalizer", "OneHotEncoder", "RandomUniformLike", "SVMClassifier", "SVMRegressor", "Scaler",
	"TreeEnsembleClassifier", "TreeEnsembleRegressor", "ZipMap", "NonMaxSuppression", "TopK",
	"RoiAlign", "Range", "CumSum", "Min", "Max", "Upsample",
}

// alwaysFloatInputs is float16.py's ALWAYS_FLOAT_INPUTS: inputs that must stay float32
// (Resize's scales, GroupNorm's gamma and beta) while the op itself runs in float16.
var alwaysFloatInputs = map[string][]int{"Resize": {2}, "GroupNorm": {1, 2}, "SkipGroupNorm": {1, 2}}

// dtypeOps are float16.py's ops whose dtype attribute names the output type.
var dtypeOps = []string{"EyeLike", "Multinomial", "RandomNormal", "RandomNormalLike", "RandomUniform",
	"RandomUniformLike", "SequenceEmpty", "Bernoulli"}

// float16.py's clamps (convert_np_to_float16's defaults).
const (
	minPositiveF16 = float32(5.96e-08)
	maxFiniteF16   = float32(65504.0)
)

// float16 converts the model as convert_float_to_float16 (onnxruntime/python/tools/
// transformers/float16.py) does: every float32 value, initializer and attribute tensor
// becomes float16 (bfloat16 for bf16), Cast(to=FLOAT) becomes Cast(to=FLOAT16), the
// blocked ops and skipped layers keep float32 with Casts on their float inputs and
// outputs, and with KeepIOTypes the graph's float inputs and outputs stay float32 behind
// Casts named graph_input_cast<i> / graph_output_cast<i>.
func (r *rewriter) float16(o Options) error {
	target, qdtype := typeFloat16, "fp16"
	if r.qo.Weights.DType == quantize.DTypeBF16 {
		if !o.BF16Compute {
			return r.bf16Weights()
		}
		target, qdtype = typeBFloat16, "bf16"
	}
	r.scheme = fmt.Sprintf("%s: weights and computation (ONNX Runtime's float16 converter), keep_io_types=%v", qdtype, o.KeepIOTypes)
	g := r.m.GetGraph()
	for _, n := range g.GetNode() {
		if onnx.HasSubgraph(n) {
			return fmt.Errorf("node %q (%s): models with subgraphs (If, Loop, Scan) are not converted to %s", n.GetName(), n.GetOpType(), qdtype)
		}
	}
	types := r.elemTypes()
	blockOps := DefaultOpBlockList
	if o.OpBlockList != nil {
		blockOps = o.OpBlockList
	}
	blocked := func(i int, n *onnxpb.NodeProto) bool {
		if slices.Contains(blockOps, n.GetOpType()) {
			return true
		}
		d := r.decisions[i]
		return d != nil && !d.Selected
	}
	c := &f16conv{r: r, target: target, types: types, keptIO: map[string]bool{}, mapped: map[string]string{},
		convertInit: r.initializersToConvert(types, blocked)}
	c.castIO(o.KeepIOTypes)
	for i, n := range g.GetNode() {
		if err := c.convertNode(i, n, blocked(i, n)); err != nil {
			return err
		}
	}
	r.nodes = append(r.nodes, c.outputCasts...)
	if err := c.convertInitializers(); err != nil {
		return err
	}
	c.retypeValueInfo(o.KeepIOTypes)
	return r.castReport(qdtype, target, blocked)
}

// elemTypes returns the element type of every value, as the converter's
// onnx.shape_inference would: graph.Load's inference, or for a model graph/ cannot load,
// the declared types of inputs, outputs, value_info and initializers propagated through
// the nodes (propagateTypes).
func (r *rewriter) elemTypes() map[string]int32 {
	types := map[string]int32{}
	g := r.m.GetGraph()
	for _, v := range slices.Concat(g.GetInput(), g.GetOutput(), g.GetValueInfo()) {
		if tt := v.GetType().GetTensorType(); tt != nil {
			types[v.GetName()] = tt.GetElemType()
		}
	}
	for _, t := range g.GetInitializer() {
		types[t.GetName()] = t.GetDataType()
	}
	propagateTypes(g.GetNode(), types)
	gr, err := graph.Load(r.m, graph.Options{External: graph.ExternalIn(r.src.Dir())})
	if err != nil {
		return types // graph/ cannot load it: the propagated types are all there is
	}
	for _, n := range g.GetNode() {
		for _, s := range n.GetOutput() {
			if vi, ok := gr.ValueInfo(s); ok && vi.DType.Valid() {
				if dt, err := onnx.DataType(vi.DType); err == nil {
					types[s] = dt
				}
			}
		}
	}
	return types
}

// initializersToConvert: float initializers read by at least one float16 consumer
// (float16.py's InitializerTracker: fp16_nodes non-empty). One read only by blocked nodes
// or always-float inputs stays float32.
func (r *rewriter) initializersToConvert(types map[string]int32, blocked func(int, *onnxpb.NodeProto) bool) map[string]bool {
	out := map[string]bool{}
	for i, n := range r.m.GetGraph().GetNode() {
		for j, s := range n.GetInput() {
			t, ok := r.inits[s]
			if !ok || t.GetDataType() != typeFloat || blocked(i, n) || slices.Contains(alwaysFloatInputs[n.GetOpType()], j) {
				continue
			}
			out[s] = true
		}
	}
	return out
}

// f16conv is one float16 conversion.
type f16conv struct {
	r           *rewriter
	target      int32
	types       map[string]int32
	keptIO      map[string]bool   // graph inputs and outputs that stay float32
	mapped      map[string]string // graph io name -> the name nodes use instead
	convertInit map[string]bool
	outputCasts []*onnxpb.NodeProto
}

// isTarget reports whether value s holds float16 after the conversion.
func (c *f16conv) isTarget(s string) bool {
	if s == "" || c.types[s] != typeFloat || c.keptIO[s] {
		return false
	}
	if _, isInit := c.r.inits[s]; isInit {
		return c.convertInit[s]
	}
	return true
}

// castIO adds the Casts behind float graph inputs and before float graph outputs.
func (c *f16conv) castIO(keep bool) {
	if !keep {
		return
	}
	g := c.r.m.GetGraph()
	for i, in := range g.GetInput() {
		if _, isInit := c.r.inits[in.GetName()]; isInit || in.GetType().GetTensorType().GetElemType() != typeFloat {
			continue
		}
		name := c.r.unique(fmt.Sprintf("graph_input_cast_%d", i))
		c.mapped[in.GetName()], c.keptIO[in.GetName()] = name, true
		c.types[name] = typeFloat
		c.r.nodes = append(c.r.nodes, node("Cast", c.r.unique(fmt.Sprintf("graph_input_cast%d", i)),
			[]string{in.GetName()}, []string{name}, onnx.IntAttr("to", int64(c.target))))
	}
	for i, out := range g.GetOutput() {
		if out.GetType().GetTensorType().GetElemType() != typeFloat {
			continue
		}
		name := c.r.unique(fmt.Sprintf("graph_output_cast_%d", i))
		c.mapped[out.GetName()], c.keptIO[out.GetName()] = name, true
		c.types[name] = typeFloat
		c.outputCasts = append(c.outputCasts, node("Cast", c.r.unique(fmt.Sprintf("graph_output_cast%d", i)),
			[]string{name}, []string{out.GetName()}, onnx.IntAttr("to", int64(typeFloat))))
	}
}

// convertNode appends n, converted or kept float32 with Casts, to the output nodes.
func (c *f16conv) convertNode(i int, n *onnxpb.NodeProto, isBlocked bool) error {
	n = proto.Clone(n).(*onnxpb.NodeProto)
	for j, s := range n.Input {
		if m, ok := c.mapped[s]; ok {
			n.Input[j] = m
		}
	}
	for j, s := range n.Output {
		if m, ok := c.mapped[s]; ok {
			n.Output[j] = m
		}
	}
	name := n.GetName()
	if isBlocked {
		for j, s := range n.Input {
			if c.isTarget(s) {
				n.Input[j] = c.castBefore(name, j, s)
			}
		}
		var after []*onnxpb.NodeProto
		for j, s := range n.Output {
			if c.isTarget(s) {
				tmp := c.r.unique(fmt.Sprintf("%s_output_cast_%d", name, j))
				after = append(after, node("Cast", c.r.unique(fmt.Sprintf("%s_output_cast%d", name, j)),
					[]string{tmp}, []string{s}, onnx.IntAttr("to", int64(c.target))))
				n.Output[j] = tmp
			}
		}
		c.r.nodes = append(c.r.nodes, n)
		c.r.nodes = append(c.r.nodes, after...)
		return nil
	}
	if err := c.convertAttributes(n); err != nil {
		return err
	}
	for _, j := range alwaysFloatInputs[n.GetOpType()] {
		if j < len(n.Input) && c.isTarget(n.Input[j]) {
			n.Input[j] = c.castBefore(name, j, n.Input[j])
		}
	}
	c.r.nodes = append(c.r.nodes, n)
	return nil
}

// castBefore appends Cast(s, to=FLOAT) named as float16.py names it and returns its output.
func (c *f16conv) castBefore(nodeName string, j int, s string) string {
	out := c.r.unique(fmt.Sprintf("%s_input_cast_%d", nodeName, j))
	c.r.nodes = append(c.r.nodes, node("Cast", c.r.unique(fmt.Sprintf("%s_input_cast%d", nodeName, j)),
		[]string{s}, []string{out}, onnx.IntAttr("to", int64(typeFloat))))
	return out
}

// convertAttributes changes a converted node's float type attributes and float tensors.
func (c *f16conv) convertAttributes(n *onnxpb.NodeProto) error {
	op := n.GetOpType()
	hasDType := false
	for _, a := range n.Attribute {
		switch {
		case op == "Cast" && a.GetName() == "to" && a.GetI() == int64(typeFloat):
			a.I = proto.Int64(int64(c.target))
		case slices.Contains(dtypeOps, op) && a.GetName() == "dtype":
			hasDType = true
			if a.GetI() == int64(typeFloat) {
				a.I = proto.Int64(int64(c.target))
			}
		}
		if a.T != nil && a.T.GetDataType() == typeFloat {
			t, err := c.convertTensor(a.T)
			if err != nil {
				return fmt.Errorf("node %q attribute %s: %w", n.GetName(), a.GetName(), err)
			}
			a.T = t
		}
		for k, t := range a.Tensors {
			if t.GetDataType() == typeFloat {
				ct, err := c.convertTensor(t)
				if err != nil {
					return fmt.Errorf("node %q attribute %s: %w", n.GetName(), a.GetName(), err)
				}
				a.Tensors[k] = ct
			}
		}
	}
	// These ops default to float32 without a dtype attribute.
	if !hasDType && (op == "RandomNormal" || op == "RandomUniform" || op == "SequenceEmpty") {
		n.Attribute = append(n.Attribute, onnx.IntAttr("dtype", int64(c.target)))
	}
	return nil
}

// convertTensor returns tp in the target type.
func (c *f16conv) convertTensor(tp *onnxpb.TensorProto) (*onnxpb.TensorProto, error) {
	t, err := onnx.TensorFromProto(tp, c.r.src.Dir())
	if err != nil {
		return nil, err
	}
	out, err := castValues(t, c.target)
	if err != nil {
		return nil, err
	}
	return onnx.TensorToProto(tp.GetName(), out)
}

// castValues converts float32 values as convert_np_to_float16 does: nonzero magnitudes
// below 5.96e-08 become ±5.96e-08 and finite ones above 65504 become ±65504 before the
// round to nearest even. bfloat16 has float32's range: plain round to nearest even.
func castValues(t *tensor.Tensor, target int32) (*tensor.Tensor, error) {
	x := t.ToF32()
	if target == typeBFloat16 {
		out := tensor.New(tensor.BF16, t.Shape...)
		return out, quant.F32ToBF16To(out.U16(), x)
	}
	y := make([]float32, len(x))
	for i, v := range x {
		switch {
		case v > 0 && v < minPositiveF16:
			v = minPositiveF16
		case v < 0 && v > -minPositiveF16:
			v = -minPositiveF16
		case v > maxFiniteF16 && !math.IsInf(float64(v), 1):
			v = maxFiniteF16
		case v < -maxFiniteF16 && !math.IsInf(float64(v), -1):
			v = -maxFiniteF16
		}
		y[i] = v
	}
	out := tensor.New(tensor.F16, t.Shape...)
	return out, quant.F32ToF16To(out.U16(), y)
}

// convertInitializers replaces the initializers that float16 consumers read.
func (c *f16conv) convertInitializers() error {
	for _, t := range c.r.m.GetGraph().GetInitializer() {
		if !c.convertInit[t.GetName()] {
			continue
		}
		ct, err := c.convertTensor(t)
		if err != nil {
			return err
		}
		c.r.replaced[t.GetName()] = ct
	}
	return nil
}

// retypeValueInfo gives graph inputs, outputs and value_info their new element types.
func (c *f16conv) retypeValueInfo(keep bool) {
	retype := func(vs []*onnxpb.ValueInfoProto, io bool) []*onnxpb.ValueInfoProto {
		out := make([]*onnxpb.ValueInfoProto, len(vs))
		for i, v := range vs {
			out[i] = v
			if v.GetType().GetTensorType().GetElemType() != typeFloat || (io && keep) {
				continue
			}
			if _, isInit := c.r.inits[v.GetName()]; isInit && !c.convertInit[v.GetName()] {
				continue
			}
			if !io && !c.isTarget(v.GetName()) {
				continue
			}
			cv := proto.Clone(v).(*onnxpb.ValueInfoProto)
			cv.Type.GetTensorType().ElemType = proto.Int32(c.target)
			out[i] = cv
		}
		return out
	}
	c.r.inputs = retype(c.r.inputs, true)
	c.r.outputs = retype(c.r.outputs, true)
	c.r.vinfo = retype(c.r.vinfo, false)
}

// castReport lists every layer: converted ones with the error of the float16 weight.
func (r *rewriter) castReport(qdtype string, target int32, blocked func(int, *onnxpb.NodeProto) bool) error {
	for i, n := range r.m.GetGraph().GetNode() {
		d := r.decisions[i]
		if d == nil {
			continue
		}
		l := baseLayer(d)
		if !d.Selected || blocked(i, n) {
			if l.Reason == "" {
				l.Reason = "op " + n.GetOpType() + " is in the float16 op block list"
			}
			l.BytesAfter = l.BytesBefore
			r.layers = append(r.layers, l.Layer)
			continue
		}
		t, x, err := r.weight(d.Layer.Weight)
		if err != nil {
			return err
		}
		c, err := castValues(t, target)
		if err != nil {
			return fmt.Errorf("layer %s: %w", d.Layer.Name, err)
		}
		if err := l.measure(x, c.ToF32()); err != nil {
			return err
		}
		l.Quantized, l.QDType, l.Granularity = true, qdtype, "cast"
		l.BytesAfter = l.BytesBefore / 2
		r.layers = append(r.layers, l.Layer)
	}
	return nil
}

// layerReport is a report.Layer being filled in.
type layerReport struct{ report.Layer }

func baseLayer(d *layer.Decision) layerReport {
	l := d.Layer
	before := tensor.Info{Shape: l.Shape, DType: l.DType}.Bytes()
	return layerReport{report.Layer{Name: l.Name, Type: l.Type, Shape: slices.Clone(l.Shape), DType: l.DType.String(),
		Reason: d.Reason, BytesBefore: before}}
}

// measure records the error of the weight y standing for x.
func (l *layerReport) measure(x, y []float32) error {
	e, err := quant.Compare(x, y)
	if err != nil {
		return err
	}
	l.SQNR, l.MSE, l.MaxAbsErr, l.Cosine = e.SQNR, e.MSE, e.MaxAbs, e.Cosine
	l.Histogram = report.NewHistogram(x, quantize.HistogramBins)
	return nil
}
