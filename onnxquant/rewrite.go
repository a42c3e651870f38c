package onnxquant

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quantize"
	"github.com/qscript-dev/qscript/report"
	"github.com/qscript-dev/qscript/tensor"
)

// Result is what Rewrite produced.
type Result struct {
	Model    *onnxpb.ModelProto
	Report   *report.Report
	Warnings []string
	// GPTQ compares GPTQ with round to nearest per layer on held-out samples (method gptq
	// with GPTQOptions.Heldout > 0).
	GPTQ []LayerGPTQ
}

// Rewrite returns the ONNX model that the weight-only scheme qo asks for, in ONNX
// Runtime's forms (see the package comment), and its report. src is not modified; the
// result shares unchanged nodes and initializers with it (write it with onnx.Write and
// WriteOptions.SourceDir = src.Dir()). Layers are chosen as quantize.PlanWeights chooses
// them (qo's layers, include and skip); a selected layer that the ONNX form cannot hold
// stays in float with the reason in the report.
func Rewrite(ctx context.Context, src *onnx.File, qo quantize.Options, o Options) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	m := src.Proto()
	if m.GetGraph() == nil {
		return nil, fmt.Errorf("the model has no graph")
	}
	r, err := newRewriter(src, qo)
	if err != nil {
		return nil, err
	}
	if o.Method == MethodGPTQ && qo.Weights.DType != quantize.DTypeInt8 && qo.Weights.DType != quantize.DTypeInt4 && qo.Weights.DType != quantize.DTypeUInt4 {
		return nil, fmt.Errorf("method gptq applies to int8 and int4 weights, not %s", qo.Weights.DType)
	}
	switch qo.Weights.DType {
	case quantize.DTypeFP16, quantize.DTypeBF16:
		err = r.float16(o)
	case quantize.DTypeInt8:
		err = r.dynamicInt8(ctx, o)
	case quantize.DTypeInt4, quantize.DTypeUInt4:
		err = r.int4(ctx, o)
	default:
		return nil, fmt.Errorf("weights of dtype %s have no ONNX form here (ONNX outputs: fp16, bf16, int8 with dynamic activations, int4/uint4 MatMul weights); save as .safetensors", qo.Weights.DType)
	}
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return r.result(), nil
}

// rewriter holds the state of one Rewrite: the source graph, the plan's decisions and the
// nodes and initializers of the output.
type rewriter struct {
	src   *onnx.File
	m     *onnxpb.ModelProto
	qo    quantize.Options
	inits map[string]*onnxpb.TensorProto
	// decisions by node index; nodes that are no layer have none.
	decisions map[int]*layer.Decision
	names     map[string]bool // every value and node name in use

	nodes    []*onnxpb.NodeProto
	newInits []*onnxpb.TensorProto
	dropped  map[string]bool // initializers replaced (kept when still read)
	replaced map[string]*onnxpb.TensorProto
	inputs   []*onnxpb.ValueInfoProto
	outputs  []*onnxpb.ValueInfoProto
	vinfo    []*onnxpb.ValueInfoProto
	opsets   []*onnxpb.OperatorSetIdProto
	layers   []report.Layer
	warnings []string
	scheme   string
	minIR    int64 // the IR version the output needs at least
	// gptqLayers compares GPTQ with RTN per layer (Method gptq with held-out samples).
	gptqLayers []LayerGPTQ
}

func newRewriter(src *onnx.File, qo quantize.Options) (*rewriter, error) {
	m := src.Proto()
	g := m.GetGraph()
	r := &rewriter{src: src, m: m, qo: qo, inits: map[string]*onnxpb.TensorProto{},
		decisions: map[int]*layer.Decision{}, names: map[string]bool{}, dropped: map[string]bool{},
		replaced: map[string]*onnxpb.TensorProto{},
		inputs:   g.GetInput(), outputs: g.GetOutput(), vinfo: g.GetValueInfo(), opsets: m.GetOpsetImport()}
	for _, t := range g.GetInitializer() {
		r.inits[t.GetName()] = t
		r.names[t.GetName()] = true
	}
	for _, v := range slices.Concat(g.GetInput(), g.GetOutput(), g.GetValueInfo()) {
		r.names[v.GetName()] = true
	}
	for _, n := range g.GetNode() {
		r.names[n.GetName()] = true
		for _, s := range slices.Concat(n.GetInput(), n.GetOutput()) {
			r.names[s] = true
		}
	}
	layers, err := layer.List(src, qo.LayerTypes)
	if err != nil {
		return nil, err
	}
	sel := qo.Selection
	if qo.Weights.DType == quantize.DTypeFP16 || qo.Weights.DType == quantize.DTypeBF16 {
		sel.Types = layer.Types // a cast applies to every layer; only skip keeps one
	}
	ds, err := layer.Select(layers, sel)
	if err != nil {
		return nil, err
	}
	byName := map[string]*layer.Decision{}
	for i := range ds {
		byName[ds[i].Layer.Name] = &ds[i]
	}
	// An unnamed node's layer is named by its position among all nodes, subgraphs
	// included, as layer.List counts them.
	position := map[*onnxpb.NodeProto]int{}
	for i, n := range onnx.Nodes(g) {
		position[n] = i
	}
	for i, n := range g.GetNode() {
		if len(n.GetOutput()) == 0 || n.GetOutput()[0] == "" {
			return nil, fmt.Errorf("node %d %q (%s) has no output", i, n.GetName(), n.GetOpType())
		}
		name := n.GetName()
		if name == "" {
			name = fmt.Sprintf("%s_%d", n.GetOpType(), position[n])
		}
		if d, ok := byName[name]; ok && len(n.GetInput()) > 1 && n.GetInput()[1] == d.Layer.Weight {
			r.decisions[i] = d
		}
	}
	return r, nil
}

// unique returns name, or name with a numeric suffix when it is already in use, and
// reserves it.
func (r *rewriter) unique(name string) string {
	out := name
	for i := 1; r.names[out]; i++ {
		out = fmt.Sprintf("%s_%d", name, i)
	}
	r.names[out] = true
	return out
}

func (r *rewriter) warn(format string, args ...any) {
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
}

// weight reads an initializer as float32 values.
func (r *rewriter) weight(name string) (*tensor.Tensor, []float32, error) {
	t, err := r.src.Load(name)
	if err != nil {
		return nil, nil, err
	}
	return t, t.ToF32(), nil
}

// addInit adds a new initializer built from t.
func (r *rewriter) addInit(name string, t *tensor.Tensor) error {
	tp, err := onnx.TensorToProto(name, t)
	if err != nil {
		return err
	}
	r.newInits = append(r.newInits, tp)
	return nil
}

// opsetVersion is the model's version of domain ("" for the default domain).
func (r *rewriter) opsetVersion(domain string) int64 { return onnx.OpsetVersion(r.m, domain) }

// setOpset imports domain at version v, raising an older import.
func (r *rewriter) setOpset(domain string, v int64) {
	out := make([]*onnxpb.OperatorSetIdProto, 0, len(r.opsets)+1)
	found := false
	for _, o := range r.opsets {
		d := o.GetDomain()
		if d == domain || (domain == "" && d == "ai.onnx") {
			found = true
			if o.GetVersion() < v {
				o = &onnxpb.OperatorSetIdProto{Domain: o.Domain, Version: proto.Int64(v)}
			}
		}
		out = append(out, o)
	}
	if !found {
		out = append(out, &onnxpb.OperatorSetIdProto{Domain: proto.String(domain), Version: proto.Int64(v)})
	}
	r.opsets = out
}

// result assembles the output model: the rewritten nodes, the source initializers that a
// node or graph output still reads (replaced ones in their new form) and the new ones.
func (r *rewriter) result() *Result {
	read := map[string]bool{}
	for _, n := range r.nodes {
		onnx.MarkReads(n, read)
	}
	for _, o := range r.outputs {
		read[o.GetName()] = true
	}
	var inits []*onnxpb.TensorProto
	for _, t := range r.m.GetGraph().GetInitializer() {
		if !read[t.GetName()] {
			continue
		}
		if c, ok := r.replaced[t.GetName()]; ok {
			t = c
		}
		inits = append(inits, t)
	}
	inits = append(inits, r.newInits...)
	// Graph inputs that name a dropped initializer (old exporters list them) go too.
	var inputs []*onnxpb.ValueInfoProto
	for _, in := range r.inputs {
		if _, isInit := r.inits[in.GetName()]; isInit && !read[in.GetName()] {
			continue
		}
		inputs = append(inputs, in)
	}
	g := r.m.GetGraph()
	graph := &onnxpb.GraphProto{Node: r.nodes, Name: g.Name, Initializer: inits,
		SparseInitializer: g.SparseInitializer, DocString: g.DocString, Input: inputs,
		Output: r.outputs, ValueInfo: r.vinfo}
	m := r.m
	out := &onnxpb.ModelProto{IrVersion: proto.Int64(max(m.GetIrVersion(), r.minIR)), OpsetImport: r.opsets, ProducerName: proto.String("qscript"),
		Domain: m.Domain, ModelVersion: m.ModelVersion,
		DocString: m.DocString, Graph: graph, MetadataProps: m.MetadataProps, Functions: m.Functions}
	if len(r.layers) > 0 && !slices.ContainsFunc(r.layers, func(l report.Layer) bool { return l.Quantized }) {
		r.warn("no layer was quantized: the output holds the same weights as the input (each layer's reason is in the table)")
	}
	rep := &report.Report{Scheme: r.scheme, Layers: r.layers, Warnings: r.warnings}
	for _, g := range r.gptqLayers {
		rep.GPTQ = append(rep.GPTQ, report.GPTQLayer{Layer: g.Name, Samples: g.Samples, RTNMSE: g.RTNMSE,
			GPTQMSE: g.GPTQMSE, RTNSQNR: g.RTNSQNR, GPTQSQNR: g.GPTQSQNR})
	}
	var layerBytes int64
	inLayer := map[string]bool{}
	for _, d := range r.decisions {
		inLayer[d.Layer.Weight] = true
		if d.Layer.Bias != "" {
			inLayer[d.Layer.Bias] = true
		}
	}
	for _, info := range r.src.Tensors() {
		if !inLayer[info.Name] {
			layerBytes += info.Bytes()
		}
	}
	rep.OtherBytes = layerBytes
	rep.Finish()
	record, _ := json.Marshal(struct {
		Scheme    string `json:"scheme"`
		Producer  string `json:"producer"`
		Quantized int    `json:"layers_quantized"`
		Skipped   int    `json:"layers_skipped"`
	}{r.scheme, "qscript onnxquant", rep.Totals.Quantized, rep.Totals.Skipped})
	SetMetadata(out, map[string]string{"quantization": string(record)})
	return &Result{Model: out, Report: rep, Warnings: r.warnings, GPTQ: r.gptqLayers}
}

// node makes a NodeProto.
func node(op, name string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: inputs,
		Output: outputs, Attribute: attrs}
}

// infoBytes is the stored size of a tensor.
// SetMetadata sets m's metadata_props keys to kv's values (replacing equal keys, adding
// the others in sorted order).
func SetMetadata(m *onnxpb.ModelProto, kv map[string]string) {
	if len(kv) == 0 {
		return
	}
	var out []*onnxpb.StringStringEntryProto
	for _, p := range m.GetMetadataProps() {
		if _, ok := kv[p.GetKey()]; !ok {
			out = append(out, p)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		out = append(out, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(kv[k])})
	}
	m.MetadataProps = out
}

// cloneWithInputs returns a copy of n reading inputs.
func cloneWithInputs(n *onnxpb.NodeProto, inputs []string) *onnxpb.NodeProto {
	c := proto.Clone(n).(*onnxpb.NodeProto)
	c.Input = inputs
	return c
}

// keepFloat passes node n through unchanged and reports its layer, if it is one, as left
// in float.
func (r *rewriter) keepFloat(n *onnxpb.NodeProto, dec *layer.Decision) {
	r.nodes = append(r.nodes, n)
	if dec != nil {
		l := baseLayer(dec)
		l.BytesAfter = l.BytesBefore
		r.layers = append(r.layers, l.Layer)
	}
}
