package qdq

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/internal/suggest"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// MinOpset is the lowest default-domain opset Export accepts: per-channel
// DequantizeLinear (the axis attribute) arrived in opset 13.
const MinOpset = 13

// Export returns a QDQ copy of m; m itself is not modified, and unchanged tensors and
// nodes are shared with it.
//
// For each quantized node (NodePlan.Skip false):
//   - the weight W (input 1, a float initializer) becomes W_quantized, W_scale and
//     W_zero_point feeding DequantizeLinear node W_DequantizeLinear, whose output
//     W_DequantizeLinear_Output replaces W in the node (axis attribute when per channel);
//   - the bias B of Conv and Gemm (input 2, a float initializer) becomes int32 B_quantized
//     with scale input_scale × weight_scale × beta and zero point 0 (B_quantized_scale,
//     B_quantized_zero_point), dequantized by B_DequantizeLinear (axis 0 when per
//     channel) into B itself, or into B_DequantizeLinear_Output when B also feeds other
//     nodes. A per-channel weight's bias is quantized only when it is 1-D with one value per
//     channel (Gemm's C may be 2-D); otherwise it stays float. A bias shared by quantized
//     nodes with different scales gets one quantized copy per scale (B0, B1, ..., as ONNX
//     Runtime names duplicated initializers);
//   - every other input T (an activation) passes QuantizeLinear T_QuantizeLinear (output
//     T_QuantizeLinear_Output) and DequantizeLinear T_DequantizeLinear (output
//     T_DequantizeLinear_Output) with initializers T_scale and T_zero_point. Each
//     activation is quantized once and the pair is shared by all quantized consumers.
//
// Each activation's pair is then repeated upstream, with the same scale and zero point
// initializers, across the ops that only move or select values (Flatten, Reshape,
// Transpose, Squeeze, Unsqueeze, MaxPool) while the op is the sole reader of its input:
// a Conv → Relu → Flatten → Gemm chain becomes Conv → Relu → Q → DQ → Flatten → Q → DQ →
// Gemm, so ONNX Runtime's graph optimizer fuses the Conv (and its Relu) into QLinearConv
// and drops the pair around Flatten, as it does for ONNX Runtime's own quantizer's output
// (QDQDirect8BitOp, QDQMaxPool). Quantization is monotone, so it commutes with these ops:
// the model computes exactly what it did with the one pair.
//
// A weight or bias a node reads through Identity nodes whose input is an initializer
// (InitializerAliases: torch.onnx.export stores identical constants once) is treated as
// that initializer: quantized once, keyed by the initializer's name. Such Identity nodes
// are dropped when no node reads their output any more and it is not a graph output.
//
// Only quantized nodes and the ops the pairs were repeated across are rewired: skipped
// nodes, other float consumers and graph outputs keep reading the float tensors, so graph
// inputs and outputs keep their names and meaning. Float initializers that no node reads
// any more are dropped.
// The default-domain opset must be at least 13.
func Export(m *onnxpb.ModelProto, plan *Plan) (*onnxpb.ModelProto, error) {
	out, err := export(m, plan)
	if err != nil {
		return nil, fmt.Errorf("qdq: %w", err)
	}
	return out, nil
}

func export(m *onnxpb.ModelProto, plan *Plan) (*onnxpb.ModelProto, error) {
	if m.GetGraph() == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	if v := onnx.OpsetVersion(m, ""); v < MinOpset {
		return nil, fmt.Errorf("the model imports opset %d; QDQ export needs opset %d or later (per-channel DequantizeLinear): re-export it with torch.onnx.export(..., opset_version=13) or later", v, MinOpset)
	}
	e := newExporter(m.Graph, plan)
	if err := e.checkPlan(); err != nil {
		return nil, err
	}
	if err := e.rewrite(); err != nil {
		return nil, err
	}
	g := m.Graph
	graph := &onnxpb.GraphProto{
		Node: e.nodes, Name: g.Name, Initializer: e.initializers(), SparseInitializer: g.SparseInitializer,
		DocString: g.DocString, Input: e.inputs(), Output: g.Output, ValueInfo: g.ValueInfo,
		QuantizationAnnotation: g.QuantizationAnnotation,
	}
	return &onnxpb.ModelProto{
		IrVersion: m.IrVersion, OpsetImport: m.OpsetImport, ProducerName: m.ProducerName,
		ProducerVersion: m.ProducerVersion, Domain: m.Domain, ModelVersion: m.ModelVersion,
		DocString: m.DocString, Graph: graph, MetadataProps: mergeMetadata(m.MetadataProps, plan),
		TrainingInfo: m.TrainingInfo, Functions: m.Functions,
	}, nil
}

// rewrite quantizes the nodes of e's graph, and those of its subgraphs, then repeats the
// activation pairs across value movers and drops dead Identity aliases.
func (e *exporter) rewrite() error {
	for _, n := range e.g.Node {
		if layer.Quantizable(n.GetDomain(), n.GetOpType()) && !e.plan.Nodes[n.GetName()].Skip {
			q, err := e.quantizeNode(n, e.plan.Nodes[n.GetName()])
			if err != nil {
				return fmt.Errorf("node %q (%s): %w", n.GetName(), n.GetOpType(), err)
			}
			e.nodes = append(e.nodes, q)
			continue
		}
		n, err := e.rewriteSubgraphs(n)
		if err != nil {
			return err
		}
		e.nodes = append(e.nodes, n)
	}
	if err := e.propagate(); err != nil {
		return err
	}
	e.dropDeadAliases()
	return nil
}

// rewriteSubgraphs returns n itself when it holds no subgraph, else a copy whose
// subgraphs (If branches, Loop and Scan bodies) are quantized as the main graph is. Their
// nodes may read the outer graphs' values and initializers by name: a weight of the outer
// graph is dequantized inside the subgraph, from quantized initializers stored there.
func (e *exporter) rewriteSubgraphs(n *onnxpb.NodeProto) (*onnxpb.NodeProto, error) {
	if !onnx.HasSubgraph(n) {
		return n, nil
	}
	attrs := make([]*onnxpb.AttributeProto, len(n.Attribute))
	for i, a := range n.Attribute {
		if a.G == nil && len(a.Graphs) == 0 {
			attrs[i] = a
			continue
		}
		c := &onnxpb.AttributeProto{Name: a.Name, RefAttrName: a.RefAttrName, DocString: a.DocString, Type: a.Type}
		scope := n.GetName() + "." + a.GetName()
		if a.G != nil {
			sg, err := e.subgraph(a.G, scope)
			if err != nil {
				return nil, err
			}
			c.G = sg
		}
		for k, g := range a.Graphs {
			sg, err := e.subgraph(g, fmt.Sprintf("%s.%d", scope, k))
			if err != nil {
				return nil, err
			}
			c.Graphs = append(c.Graphs, sg)
		}
		attrs[i] = c
	}
	return &onnxpb.NodeProto{Input: n.Input, Output: n.Output, Name: n.Name, OpType: n.OpType, Domain: n.Domain,
		Attribute: attrs, DocString: n.DocString}, nil
}

// subgraph returns the quantized copy of g, a subgraph of e's graph. The tensors and nodes
// it adds are named as in the main graph with "@" and the scope (the holding node's name
// and attribute) appended, so that the branches of an If, which may quantize the same
// outer value or weight, never collide.
func (e *exporter) subgraph(g *onnxpb.GraphProto, scope string) (*onnxpb.GraphProto, error) {
	s := &exporter{
		g: g, plan: e.plan, scope: scope, inits: maps.Clone(e.inits), aliases: maps.Clone(e.aliases),
		elemType: maps.Clone(e.elemType), consumers: e.consumers, outputs: map[string]bool{}, names: e.names,
		nodeNames: e.nodeNames, quantized: e.quantized, removed: map[string]bool{}, weights: map[string]*weightDone{},
		biases: map[string][]*biasDone{}, acts: map[string]*quant.QParams{},
	}
	for _, t := range g.Initializer {
		s.inits[t.GetName()] = t
	}
	for _, lists := range [][]*onnxpb.ValueInfoProto{g.Input, g.Output, g.ValueInfo} {
		for _, vi := range lists {
			if tt := vi.GetType().GetTensorType(); tt != nil && tt.ElemType != nil {
				s.elemType[vi.GetName()] = tt.GetElemType()
			}
		}
	}
	for _, o := range g.Output {
		s.outputs[o.GetName()] = true
	}
	maps.Copy(s.aliases, onnx.InitializerAliases(g))
	if err := s.rewrite(); err != nil {
		return nil, fmt.Errorf("subgraph %s: %w", scope, err)
	}
	return &onnxpb.GraphProto{
		Node: s.nodes, Name: g.Name, Initializer: s.initializers(), SparseInitializer: g.SparseInitializer,
		DocString: g.DocString, Input: g.Input, Output: g.Output, ValueInfo: g.ValueInfo,
		QuantizationAnnotation: g.QuantizationAnnotation,
	}, nil
}

// key is the name new tensors and nodes for t are derived from: t in the main graph, t
// and the scope in a subgraph.
func (e *exporter) key(t string) string {
	if e.scope == "" {
		return t
	}
	return t + "@" + e.scope
}

// exporter holds the state of one Export call, or of one subgraph of it.
type exporter struct {
	g         *onnxpb.GraphProto
	scope     string          // "" for the main graph; the holding node and attribute for a subgraph
	quantized map[string]bool // weight and bias initializers quantized in any scope (shared)
	plan      *Plan
	inits     map[string]*onnxpb.TensorProto
	aliases   map[string]string // Identity outputs that stand for an initializer (InitializerAliases)
	elemType  map[string]int32  // declared element types of graph inputs, outputs and value_info
	consumers map[string]int    // how many node inputs (subgraphs included) read each name
	outputs   map[string]bool   // graph outputs
	names     map[string]bool   // every tensor name in use, to refuse collisions
	nodeNames map[string]bool

	nodes   []*onnxpb.NodeProto
	added   []*onnxpb.TensorProto
	removed map[string]bool // float initializers replaced by a DequantizeLinear output of the same name
	weights map[string]*weightDone
	biases  map[string][]*biasDone // per bias initializer: one quantized copy per distinct scale
	acts    map[string]*quant.QParams
}

type weightDone struct {
	params *quant.QParams
	codes  []byte
	output string
}

type biasDone struct {
	scale  []float32
	output string
}

// init returns the initializer a node input reads, directly or through Identity nodes.
func (e *exporter) init(name string) (*onnxpb.TensorProto, bool) {
	t, ok := e.inits[onnx.Resolve(e.aliases, name)]
	return t, ok
}

func newExporter(g *onnxpb.GraphProto, plan *Plan) *exporter {
	e := &exporter{
		g: g, plan: plan, inits: map[string]*onnxpb.TensorProto{}, elemType: map[string]int32{},
		consumers: map[string]int{}, outputs: map[string]bool{}, names: map[string]bool{},
		nodeNames: map[string]bool{}, quantized: map[string]bool{}, removed: map[string]bool{}, weights: map[string]*weightDone{},
		biases: map[string][]*biasDone{}, acts: map[string]*quant.QParams{},
	}
	for _, t := range g.Initializer {
		e.inits[t.GetName()] = t
		e.names[t.GetName()] = true
	}
	for _, lists := range [][]*onnxpb.ValueInfoProto{g.Input, g.Output, g.ValueInfo} {
		for _, vi := range lists {
			e.names[vi.GetName()] = true
			if tt := vi.GetType().GetTensorType(); tt != nil && tt.ElemType != nil {
				e.elemType[vi.GetName()] = tt.GetElemType()
			}
		}
	}
	for _, o := range g.Output {
		e.outputs[o.GetName()] = true
	}
	countReads(g, e.consumers, e.names, e.nodeNames)
	e.aliases = onnx.InitializerAliases(g)
	return e
}

// countReads counts every name read by a node of g or of its subgraphs, whose nodes may
// read outer tensors by name.
func countReads(g *onnxpb.GraphProto, reads map[string]int, names, nodeNames map[string]bool) {
	for _, n := range g.Node {
		for _, in := range n.Input {
			reads[in]++
		}
		for _, o := range n.Output {
			names[o] = true
		}
		nodeNames[n.GetName()] = true
		for _, a := range n.Attribute {
			if a.G != nil {
				countReads(a.G, reads, names, nodeNames)
			}
			for _, sg := range a.Graphs {
				countReads(sg, reads, names, nodeNames)
			}
		}
	}
}

// checkPlan requires a plan entry for every quantizable node and a quantizable node for
// every plan entry.
func (e *exporter) checkPlan() error {
	if e.plan == nil {
		return fmt.Errorf("no plan")
	}
	byName := map[string]*onnxpb.NodeProto{}
	var quantizable, missing []string
	for i, n := range onnx.Nodes(e.g) {
		byName[n.GetName()] = n
		if !layer.Quantizable(n.GetDomain(), n.GetOpType()) {
			continue
		}
		if n.GetName() == "" {
			return fmt.Errorf("%s node %d has no name; name it so the plan can refer to it", n.GetOpType(), i)
		}
		quantizable = append(quantizable, n.GetName())
		if _, ok := e.plan.Nodes[n.GetName()]; !ok {
			missing = append(missing, fmt.Sprintf("%q (%s)", n.GetName(), n.GetOpType()))
		}
	}
	var names []string
	for name := range e.plan.Nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n, ok := byName[name]
		if !ok {
			return fmt.Errorf("the plan names node %q, which is not in the graph (closest: %s)", name, strings.Join(suggest.Closest(name, slices.Sorted(slices.Values(quantizable)), 3), ", "))
		}
		if !layer.Quantizable(n.GetDomain(), n.GetOpType()) {
			return fmt.Errorf("the plan names node %q, a %s; only Conv, Gemm and MatMul are quantized", name, n.GetOpType())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the plan has no entry (quantize or skip) for %s", strings.Join(missing, ", "))
	}
	return nil
}

// quantizeNode returns a copy of n that reads dequantized inputs, after emitting the
// DequantizeLinear and QuantizeLinear nodes those come from.
func (e *exporter) quantizeNode(n *onnxpb.NodeProto, np NodePlan) (*onnxpb.NodeProto, error) {
	if len(n.Input) < 2 {
		return nil, fmt.Errorf("has %d inputs, want at least 2", len(n.Input))
	}
	inputs := append([]string(nil), n.Input...)
	for i, in := range n.Input[:2] {
		if in == "" {
			return nil, fmt.Errorf("input %d is empty", i)
		}
	}
	if _, isInit := e.init(n.Input[0]); isInit {
		return nil, fmt.Errorf("input 0 %q is an initializer; only activations are supported there", n.Input[0])
	}
	act, err := e.activation(n.Input[0])
	if err != nil {
		return nil, err
	}
	inputs[0] = act

	var wdone *weightDone
	if w, isInit := e.init(n.Input[1]); isInit {
		if wdone, err = e.weight(n, np, w); err != nil {
			return nil, err
		}
		inputs[1] = wdone.output
	} else {
		if np.Weight != nil || np.Codes != nil {
			return nil, fmt.Errorf("input 1 %q is an activation, not an initializer, but the plan gives weight qparams", n.Input[1])
		}
		if inputs[1], err = e.activation(n.Input[1]); err != nil {
			return nil, err
		}
	}

	if len(n.Input) > 2 && n.Input[2] != "" && n.GetOpType() != "MatMul" && wdone != nil {
		if b, isInit := e.init(n.Input[2]); isInit {
			out, err := e.bias(n, b, e.acts[n.Input[0]].Scale[0], wdone.params)
			if err != nil {
				return nil, err
			}
			inputs[2] = out
		}
	}
	return &onnxpb.NodeProto{
		Input: inputs, Output: n.Output, Name: n.Name, OpType: n.OpType, Domain: n.Domain,
		Attribute: n.Attribute, DocString: n.DocString,
	}, nil
}

// activation emits T's QuantizeLinear/DequantizeLinear pair once and returns the
// dequantized name.
func (e *exporter) activation(t string) (string, error) {
	k := e.key(t)
	if _, done := e.acts[t]; done {
		return dequantOutput(k), nil
	}
	p := e.plan.Activations[t]
	if p == nil {
		return "", fmt.Errorf("no activation qparams for input %q", t)
	}
	if et, ok := e.elemType[t]; ok && et != int32(onnxpb.TensorProto_FLOAT) {
		return "", fmt.Errorf("activation %q is %s; only float activations are quantized", t, onnxpb.TensorProto_DataType(et))
	}
	if p.Axis >= 0 {
		return "", fmt.Errorf("activation %q: per-channel activation qparams are not supported", t)
	}
	if err := checkParams(p, 1); err != nil {
		return "", fmt.Errorf("activation %q: %w", t, err)
	}
	zpType, _, err := codeType(p.Scheme.QType)
	if err != nil {
		return "", fmt.Errorf("activation %q: %w", t, err)
	}
	scale, zp := scaleName(k), zeroPointName(k)
	if err := e.claim([]string{scale, zp, quantOutput(k), dequantOutput(k)}, []string{quantNodeName(k), dequantNodeName(k)}); err != nil {
		return "", err
	}
	e.added = append(e.added,
		floatTensor(scale, nil, p.Scale),
		codesTensor(zp, nil, zpType, []int32{zeroPoint(p, 0)}))
	e.nodes = append(e.nodes,
		qdqNode("QuantizeLinear", quantNodeName(k), []string{t, scale, zp}, quantOutput(k), -1),
		qdqNode("DequantizeLinear", dequantNodeName(k), []string{quantOutput(k), scale, zp}, dequantOutput(k), -1))
	e.acts[t] = p
	return dequantOutput(k), nil
}

// valueMovers are the default-domain ops whose output holds only values of their input 0:
// a QuantizeLinear after them gives the same codes before them.
var valueMovers = map[string]bool{
	"Flatten": true, "Reshape": true, "Transpose": true, "Squeeze": true, "Unsqueeze": true, "MaxPool": true,
}

// propagate repeats each activation's QuantizeLinear/DequantizeLinear pair upstream across
// value movers (see Export), inserting each new pair just before the op it feeds.
func (e *exporter) propagate() error {
	producer := map[string]int{} // tensor → index in e.nodes of the node writing it
	for i, n := range e.nodes {
		for _, o := range n.Output {
			producer[o] = i
		}
	}
	// reads counts the readers of each tensor in the new graph. A pair is repeated before
	// the op that writes x only when x's own QuantizeLinear is its sole reader: a float
	// consumer or a graph output must keep seeing the values it saw.
	reads := map[string]int{}
	countReads(&onnxpb.GraphProto{Node: e.nodes}, reads, map[string]bool{}, map[string]bool{})
	for _, t := range e.activationOrder() {
		for x := t; reads[x] == 1 && !e.outputs[x]; {
			i, ok := producer[x]
			if !ok {
				break
			}
			mover := e.nodes[i]
			in, ok := e.movableInput(mover)
			if !ok {
				break
			}
			ik := e.key(in)
			if err := e.claim([]string{quantOutput(ik), dequantOutput(ik)}, []string{quantNodeName(ik), dequantNodeName(ik)}); err != nil {
				return err
			}
			scale, zp := scaleName(e.key(t)), zeroPointName(e.key(t))
			rewired := proto.Clone(mover).(*onnxpb.NodeProto)
			rewired.Input[0] = dequantOutput(ik)
			pair := []*onnxpb.NodeProto{
				qdqNode("QuantizeLinear", quantNodeName(ik), []string{in, scale, zp}, quantOutput(ik), -1),
				qdqNode("DequantizeLinear", dequantNodeName(ik), []string{quantOutput(ik), scale, zp}, dequantOutput(ik), -1),
			}
			e.nodes = slices.Insert(e.nodes, i, pair...)
			e.nodes[i+len(pair)] = rewired
			for name, j := range producer {
				if j >= i {
					producer[name] = j + len(pair)
				}
			}
			e.acts[in] = e.acts[t]
			x = in
		}
	}
	return nil
}

// activationOrder lists the activations that have a pair, in graph order.
func (e *exporter) activationOrder() []string {
	var out []string
	for _, n := range e.nodes {
		if n.GetOpType() == "QuantizeLinear" && len(n.Input) > 0 && e.acts[n.Input[0]] != nil {
			out = append(out, n.Input[0])
		}
	}
	return out
}

// movableInput returns the input 0 of n when a pair may be repeated before n: n is a
// value mover with one output, and its input 0 is a float activation read by n alone,
// not a graph output and not yet quantized.
func (e *exporter) movableInput(n *onnxpb.NodeProto) (string, bool) {
	if d := n.GetDomain(); (d != "" && d != "ai.onnx") || !valueMovers[n.GetOpType()] || len(n.Output) != 1 || len(n.Input) == 0 {
		return "", false
	}
	in := n.Input[0]
	if _, isInit := e.init(in); isInit || in == "" || e.consumers[in] != 1 || e.outputs[in] || e.acts[in] != nil {
		return "", false
	}
	if et, ok := e.elemType[in]; ok && et != int32(onnxpb.TensorProto_FLOAT) {
		return "", false
	}
	return in, true
}

// weight emits W's quantized initializers and DequantizeLinear node once per weight.
func (e *exporter) weight(n *onnxpb.NodeProto, np NodePlan, w *onnxpb.TensorProto) (*weightDone, error) {
	name := w.GetName()
	p := np.Weight
	if p == nil {
		return nil, fmt.Errorf("no qparams for weight %q", name)
	}
	if w.GetDataType() != int32(onnxpb.TensorProto_FLOAT) {
		return nil, fmt.Errorf("weight %q is %s; only float32 weights are quantized", name, onnxpb.TensorProto_DataType(w.GetDataType()))
	}
	shape := make([]int, len(w.Dims))
	for i, d := range w.Dims {
		if d < 0 || d > math.MaxInt32 {
			return nil, fmt.Errorf("weight %q has dims %v", name, w.Dims)
		}
		shape[i] = int(d)
	}
	channels := 1
	if p.Axis >= 0 {
		want, err := layer.WeightAxis(n, len(shape))
		if err != nil {
			return nil, err
		}
		if p.Axis != want {
			return nil, fmt.Errorf("weight %q: per-channel axis %d, but the output channels of a %s weight %v are on axis %d", name, p.Axis, n.GetOpType(), shape, want)
		}
		channels = shape[p.Axis]
	}
	if err := checkParams(p, channels); err != nil {
		return nil, fmt.Errorf("weight %q: %w", name, err)
	}
	codeDType, dt, err := codeType(p.Scheme.QType)
	if err != nil {
		return nil, fmt.Errorf("weight %q: %w", name, err)
	}
	codes, err := e.weightCodes(w, shape, np, dt)
	if err != nil {
		return nil, fmt.Errorf("weight %q: %w", name, err)
	}
	if done := e.weights[name]; done != nil {
		if !sameParams(done.params, p) || string(done.codes) != string(codes) {
			return nil, fmt.Errorf("weight %q is shared with another quantized node whose plan quantizes it differently", name)
		}
		return done, nil
	}
	k := e.key(name)
	q, scale, zp, out := quantizedName(k), scaleName(k), zeroPointName(k), dequantOutput(k)
	if err := e.claim([]string{q, scale, zp, out}, []string{dequantNodeName(k)}); err != nil {
		return nil, err
	}
	var paramDims []int64
	if p.Axis >= 0 {
		paramDims = []int64{int64(channels)}
	}
	zps := make([]int32, len(p.Scale))
	for i := range zps {
		zps[i] = zeroPoint(p, i)
	}
	e.added = append(e.added,
		&onnxpb.TensorProto{Name: proto.String(q), Dims: w.Dims, DataType: proto.Int32(codeDType), RawData: codes},
		floatTensor(scale, paramDims, p.Scale),
		codesTensor(zp, paramDims, codeDType, zps))
	e.nodes = append(e.nodes, qdqNode("DequantizeLinear", dequantNodeName(k), []string{q, scale, zp}, out, p.Axis))
	done := &weightDone{params: p, codes: codes, output: out}
	e.weights[name] = done
	e.quantized[name] = true
	return done, nil
}

// weightCodes returns the caller's codes, checked, or quantizes the float weight.
func (e *exporter) weightCodes(w *onnxpb.TensorProto, shape []int, np NodePlan, dt tensor.DType) ([]byte, error) {
	if np.Codes != nil {
		c := np.Codes.Contiguous()
		if c.DType != dt || !slices.Equal(c.Shape, shape) {
			return nil, fmt.Errorf("codes are %v %v, want %v %v", c.DType, c.Shape, dt, shape)
		}
		return c.Data, nil
	}
	t, err := onnx.TensorFromProto(w, e.plan.Dir)
	if err != nil {
		return nil, err
	}
	return quantizeWeight(t.Contiguous(), np.Weight, dt)
}

// quantizeWeight quantizes w channel by channel along p.Axis with QuantizeLinear's
// arithmetic (division, round half to even, saturation).
func quantizeWeight(w *tensor.Tensor, p *quant.QParams, dt tensor.DType) ([]byte, error) {
	x := w.F32()
	outer, channels, inner := 1, 1, len(x)
	if p.Axis >= 0 {
		channels = w.Shape[p.Axis]
		for _, d := range w.Shape[:p.Axis] {
			outer *= d
		}
		inner = 1
		for _, d := range w.Shape[p.Axis+1:] {
			inner *= d
		}
	}
	s := quant.Scheme{QType: p.Scheme.QType, Numerics: quant.ORT}
	i8 := make([]int8, len(x))
	u8 := make([]uint8, len(x))
	for o := 0; o < outer; o++ {
		for c := 0; c < channels; c++ {
			lo := (o*channels + c) * inner
			var err error
			if dt == tensor.I8 {
				err = quant.QuantizeTo(i8[lo:lo+inner], x[lo:lo+inner], p.Scale[c], zeroPoint(p, c), s)
			} else {
				err = quant.QuantizeTo(u8[lo:lo+inner], x[lo:lo+inner], p.Scale[c], zeroPoint(p, c), s)
			}
			if err != nil {
				return nil, fmt.Errorf("channel %d: %w", c, err)
			}
		}
	}
	if dt == tensor.I8 {
		return tensor.Bytes(i8), nil
	}
	return u8, nil
}

// bias emits B's int32 initializers and DequantizeLinear node, or returns B unchanged
// when it cannot be quantized with the weight's channels. B is the initializer the node
// reads, maybe through Identity nodes. A bias shared by quantized nodes whose
// input_scale × weight_scale differ gets one quantized copy per distinct scale: the first
// is B's own (B_quantized, dequantized into B or B_DequantizeLinear_Output), each further
// one is named as ONNX Runtime's quantizer names a duplicated initializer, B with the
// lowest unused number appended (B0, B1, ...: B0_quantized dequantized into B0).
func (e *exporter) bias(n *onnxpb.NodeProto, b *onnxpb.TensorProto, inScale float32, wp *quant.QParams) (string, error) {
	name := b.GetName()
	if b.GetDataType() != int32(onnxpb.TensorProto_FLOAT) {
		return n.Input[2], nil
	}
	beta := float32(1)
	if n.GetOpType() == "Gemm" {
		beta = onnx.AttrFloat(n, "beta", 1)
	}
	scale := make([]float32, len(wp.Scale))
	for i, ws := range wp.Scale {
		scale[i] = inScale * ws * beta // float32, as ORT's numpy arrays compute it
		if !(scale[i] > 0) || math.IsInf(float64(scale[i]), 0) {
			return "", fmt.Errorf("bias %q: scale input_scale×weight_scale×beta = %v is not positive and finite", name, scale[i])
		}
	}
	if wp.Axis >= 0 && !(len(b.Dims) == 1 && b.Dims[0] == int64(len(scale))) {
		return n.Input[2], nil // e.g. a [1, N] Gemm C: opset-13 DequantizeLinear cannot scale it per channel
	}
	for _, done := range e.biases[name] {
		if slices.Equal(done.scale, scale) {
			return done.output, nil
		}
	}
	t, err := onnx.TensorFromProto(b, e.plan.Dir)
	if err != nil {
		return "", err
	}
	vals := t.Contiguous().F32()
	codes := make([]int32, len(vals))
	for i, v := range vals {
		s := scale[0]
		if len(scale) > 1 {
			s = scale[i]
		}
		codes[i] = quantizeBias(v, s)
	}

	base, out := e.key(name), name
	if len(e.biases[name]) == 0 {
		// B is replaced by its DequantizeLinear output only when nothing but quantized
		// nodes reads the float B (directly or through Identity). In a subgraph, B may be
		// an outer initializer, which a subgraph value must not shadow.
		if e.scope != "" || e.floatReads(name) > e.countBiasUses(name) {
			out = dequantOutput(base)
		}
	} else {
		for k := 0; ; k++ {
			base = fmt.Sprintf("%s%d", e.key(name), k)
			if !e.names[base] && !e.names[quantizedName(base)] {
				break
			}
		}
		out = base
	}
	q := quantizedName(base)
	newNames := []string{q, scaleName(q), zeroPointName(q)}
	if out != name {
		newNames = append(newNames, out)
	}
	if err := e.claim(newNames, []string{dequantNodeName(base)}); err != nil {
		return "", err
	}
	var paramDims []int64
	axis := -1
	if wp.Axis >= 0 {
		paramDims, axis = []int64{int64(len(scale))}, 0
	}
	e.added = append(e.added,
		&onnxpb.TensorProto{Name: proto.String(q), Dims: b.Dims, DataType: proto.Int32(int32(onnxpb.TensorProto_INT32)), RawData: tensor.Bytes(codes)},
		floatTensor(scaleName(q), paramDims, scale),
		codesTensor(zeroPointName(q), paramDims, int32(onnxpb.TensorProto_INT32), make([]int32, len(scale))))
	e.nodes = append(e.nodes, qdqNode("DequantizeLinear", dequantNodeName(base), []string{q, scaleName(q), zeroPointName(q)}, out, axis))
	if out == name {
		e.removed[name] = true
	}
	e.quantized[name] = true
	e.biases[name] = append(e.biases[name], &biasDone{scale: scale, output: out})
	return out, nil
}

// floatReads counts the reads of initializer name in the source graph, the reads of its
// Identity aliases included (the alias nodes themselves are not readers), plus one for
// each graph output among them.
func (e *exporter) floatReads(name string) int {
	reads := e.consumers[name]
	if e.outputs[name] {
		reads++
	}
	for alias, root := range e.aliases {
		if root != name {
			continue
		}
		reads += e.consumers[alias]
		if e.outputs[alias] {
			reads++
		}
	}
	for _, n := range e.g.Node {
		if n.GetOpType() == "Identity" && len(n.Output) == 1 && onnx.Resolve(e.aliases, n.Output[0]) == name && e.aliases[n.Output[0]] != "" {
			reads-- // the alias node's own read of its input
		}
	}
	return reads
}

// countBiasUses counts the quantized nodes of the plan that read name (directly or
// through Identity) as their bias next to an initializer weight: those reads all move to
// a DequantizeLinear output.
func (e *exporter) countBiasUses(name string) int {
	uses := 0
	for _, n := range e.g.Node {
		if !layer.Quantizable(n.GetDomain(), n.GetOpType()) || n.GetOpType() == "MatMul" || e.plan.Nodes[n.GetName()].Skip || len(n.Input) < 3 || onnx.Resolve(e.aliases, n.Input[2]) != name {
			continue
		}
		if _, isInit := e.init(n.Input[1]); isInit {
			uses++
		}
	}
	return uses
}

// dropDeadAliases removes the Identity nodes of InitializerAliases whose output nothing
// reads any more (every reader was a quantized node now reading a DequantizeLinear
// output) and that are not graph outputs; later ones first, so a chain goes whole.
func (e *exporter) dropDeadAliases() {
	reads := map[string]int{}
	countReads(&onnxpb.GraphProto{Node: e.nodes}, reads, map[string]bool{}, map[string]bool{})
	dead := map[int]bool{}
	for i := len(e.nodes) - 1; i >= 0; i-- {
		n := e.nodes[i]
		if n.GetOpType() != "Identity" || len(n.Output) != 1 || e.aliases[n.Output[0]] == "" {
			continue
		}
		if reads[n.Output[0]] == 0 && !e.outputs[n.Output[0]] {
			dead[i] = true
			for _, in := range n.Input {
				reads[in]--
			}
		}
	}
	if len(dead) == 0 {
		return
	}
	kept := e.nodes[:0:0]
	for i, n := range e.nodes {
		if !dead[i] {
			kept = append(kept, n)
		}
	}
	e.nodes = kept
}

// quantizeBias is ORT's quantize_bias_static_impl: float64 division, round half to even,
// clipped to int32.
func quantizeBias(v, scale float32) int32 {
	q := math.RoundToEven(float64(v) / float64(scale))
	return int32(min(max(q, math.MinInt32), math.MaxInt32))
}

// claim reserves new tensor and node names, refusing any the graph already uses (a model
// that was quantized before, say).
func (e *exporter) claim(tensors, nodes []string) error {
	for _, t := range tensors {
		if e.names[t] {
			return fmt.Errorf("tensor name %q is already used in the graph (already quantized?)", t)
		}
	}
	for _, n := range nodes {
		if e.nodeNames[n] {
			return fmt.Errorf("node name %q is already used in the graph (already quantized?)", n)
		}
	}
	for _, t := range tensors {
		e.names[t] = true
	}
	for _, n := range nodes {
		e.nodeNames[n] = true
	}
	return nil
}

// initializers keeps the original initializers still read by some node or graph output,
// in their order, then the new ones.
func (e *exporter) initializers() []*onnxpb.TensorProto {
	reads := map[string]int{}
	countReads(&onnxpb.GraphProto{Node: e.nodes}, reads, map[string]bool{}, map[string]bool{})
	var out []*onnxpb.TensorProto
	for _, t := range e.g.Initializer {
		name := t.GetName()
		replaced := e.quantized[name]
		if e.removed[name] || (replaced && reads[name] == 0 && !e.outputs[name]) {
			e.removed[name] = true
			continue
		}
		out = append(out, t)
	}
	return append(out, e.added...)
}

// inputs drops dropped initializers from the graph inputs (IR < 4 models list them there).
func (e *exporter) inputs() []*onnxpb.ValueInfoProto {
	var out []*onnxpb.ValueInfoProto
	for _, in := range e.g.Input {
		if !e.removed[in.GetName()] {
			out = append(out, in)
		}
	}
	return out
}

func mergeMetadata(props []*onnxpb.StringStringEntryProto, plan *Plan) []*onnxpb.StringStringEntryProto {
	set := map[string]string{}
	for k, v := range plan.Metadata {
		set[k] = v
	}
	if plan.Record != "" {
		set["quantization"] = plan.Record
	}
	var out []*onnxpb.StringStringEntryProto
	for _, p := range props {
		if v, ok := set[p.GetKey()]; ok {
			out = append(out, &onnxpb.StringStringEntryProto{Key: p.Key, Value: proto.String(v)})
			delete(set, p.GetKey())
			continue
		}
		out = append(out, p)
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		out = append(out, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(set[k])})
	}
	return out
}

func qdqNode(op, name string, inputs []string, output string, axis int) *onnxpb.NodeProto {
	n := &onnxpb.NodeProto{Input: inputs, Output: []string{output}, Name: proto.String(name), OpType: proto.String(op)}
	if axis >= 0 {
		n.Attribute = []*onnxpb.AttributeProto{{
			Name: proto.String("axis"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(axis)),
		}}
	}
	return n
}

func floatTensor(name string, dims []int64, v []float32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{
		Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
		RawData: append([]byte(nil), tensor.Bytes(v)...),
	}
}

// codesTensor stores zero points (or other small integers) in the code type's raw layout.
func codesTensor(name string, dims []int64, dataType int32, v []int32) *onnxpb.TensorProto {
	var raw []byte
	switch dataType {
	case int32(onnxpb.TensorProto_INT8), int32(onnxpb.TensorProto_UINT8):
		raw = make([]byte, len(v))
		for i, z := range v {
			raw[i] = byte(z)
		}
	default:
		raw = append([]byte(nil), tensor.Bytes(v)...)
	}
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(dataType), RawData: raw}
}
