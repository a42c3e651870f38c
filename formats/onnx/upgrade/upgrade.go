package upgrade

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

const (
	// Target is the opset Upgrade writes.
	Target = 13
	// MinOpset is the oldest opset Upgrade reads: opset 7 brought numpy broadcasting to
	// the arithmetic ops, and older forms are not adapted.
	MinOpset = 7
	// minIRVersion is the IR version opset 13 needs.
	minIRVersion = 7
)

// NodeError names a node that cannot be upgraded.
type NodeError struct {
	Node   string
	Op     string
	Domain string
	Opset  int64
	Reason string
}

func (e *NodeError) Error() string {
	return fmt.Sprintf("node %q (op %s, opset %d): %s", e.Node, e.Op, e.Opset, e.Reason)
}

// Options give Upgrade what it cannot read from the model alone.
type Options struct {
	// Rank returns the rank of a value, or -1 when it is unknown. Softmax on an axis that
	// is not the last needs it to keep its single-axis form; nil means unknown everywhere
	// (such nodes are then always rewritten through Flatten).
	Rank func(name string) int
}

// removed lists ops that older opsets had and opset 13 no longer defines (experimental
// ops dropped at opset 10): there is no op to upgrade them to.
var removed = map[string]bool{
	"ImageScaler": true, "Crop": true, "Affine": true, "ParametricSoftplus": true, "ScaledTanh": true,
	"GRUUnit": true, "GivenTensorFill": true, "Scale": true, "DynamicSlice": true,
}

// Opset is the model's default-domain opset (0 when it imports none).
func Opset(m *onnxpb.ModelProto) int64 { return onnx.OpsetVersion(m, "") }

// Check reports every node of m (subgraphs included) that Upgrade cannot bring to opset
// 13, joined in one error; nil when m is already at 13 or later or every node can be
// upgraded.
func Check(m *onnxpb.ModelProto) error {
	_, err := Upgrade(m, Options{})
	return err
}

// Upgrade returns m at opset 13: m itself when its opset is 13 or later, otherwise a copy
// that shares every node and tensor it does not change. Every node that cannot be upgraded
// is named in the error (a join of *NodeError).
func Upgrade(m *onnxpb.ModelProto, opts Options) (*onnxpb.ModelProto, error) {
	from := Opset(m)
	if from >= Target {
		return m, nil
	}
	if m.GetGraph() == nil {
		return nil, errors.New("upgrade: model has no graph")
	}
	if from < MinOpset {
		return nil, fmt.Errorf("upgrade: the model imports ai.onnx opset %d; models of opset %d or later can be upgraded to %d", from, MinOpset, Target)
	}
	u := &upgrader{from: from, opts: opts, names: map[string]bool{}}
	u.collectNames(m.GetGraph())
	nodes := u.graphNodes(m.GetGraph())
	if len(u.errs) > 0 {
		return nil, fmt.Errorf("upgrade to opset %d: %w", Target, errors.Join(u.errs...))
	}
	og := m.GetGraph()
	g := &onnxpb.GraphProto{Name: og.Name, Node: nodes, Initializer: append(slices.Clone(og.GetInitializer()), u.inits...),
		SparseInitializer: og.SparseInitializer, DocString: og.DocString, Input: og.Input, Output: og.Output,
		ValueInfo: og.ValueInfo, QuantizationAnnotation: og.QuantizationAnnotation}
	out := &onnxpb.ModelProto{
		IrVersion: m.IrVersion, ProducerName: m.ProducerName, ProducerVersion: m.ProducerVersion,
		Domain: m.Domain, ModelVersion: m.ModelVersion, DocString: m.DocString, Graph: g,
		MetadataProps: m.MetadataProps, TrainingInfo: m.TrainingInfo, Functions: m.Functions,
	}
	if out.GetIrVersion() < minIRVersion {
		out.IrVersion = proto.Int64(minIRVersion)
	}
	for _, op := range m.GetOpsetImport() {
		if d := op.GetDomain(); d == "" || d == "ai.onnx" {
			op = &onnxpb.OperatorSetIdProto{Domain: op.Domain, Version: proto.Int64(Target)}
		}
		out.OpsetImport = append(out.OpsetImport, op)
	}
	return out, nil
}

// upgrader is one Upgrade call.
type upgrader struct {
	from  int64
	opts  Options
	names map[string]bool // every value, initializer and node name, for fresh names
	inits []*onnxpb.TensorProto
	errs  []error
}

func (u *upgrader) collectNames(g *onnxpb.GraphProto) {
	for _, t := range g.GetInitializer() {
		u.names[t.GetName()] = true
	}
	for _, v := range g.GetInput() {
		u.names[v.GetName()] = true
	}
	for _, n := range g.GetNode() {
		u.names[n.GetName()] = true
		for _, o := range n.GetOutput() {
			u.names[o] = true
		}
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil {
				u.collectNames(a.GetG())
			}
			for _, sg := range a.GetGraphs() {
				u.collectNames(sg)
			}
		}
	}
}

// fresh returns an unused name built from base.
func (u *upgrader) fresh(base string) string {
	name := base
	for i := 1; u.names[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	u.names[name] = true
	return name
}

func (u *upgrader) fail(n *onnxpb.NodeProto, format string, args ...any) {
	u.errs = append(u.errs, &NodeError{Node: n.GetName(), Op: n.GetOpType(), Domain: n.GetDomain(), Opset: u.from, Reason: fmt.Sprintf(format, args...)})
}

// graphNodes returns g's nodes upgraded (new slice; changed nodes are clones).
func (u *upgrader) graphNodes(g *onnxpb.GraphProto) []*onnxpb.NodeProto {
	var out []*onnxpb.NodeProto
	for _, n := range g.GetNode() {
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			out = append(out, n)
			continue
		}
		if onnx.HasSubgraph(n) {
			n = proto.Clone(n).(*onnxpb.NodeProto)
			for _, a := range n.GetAttribute() {
				if a.GetG() != nil {
					a.G.Node = u.graphNodes(a.G)
				}
				for _, sg := range a.GetGraphs() {
					sg.Node = u.graphNodes(sg)
				}
			}
		}
		out = append(out, u.node(n)...)
	}
	return out
}

// node returns the nodes that replace n at opset 13 (n itself when nothing changed).
func (u *upgrader) node(n *onnxpb.NodeProto) []*onnxpb.NodeProto {
	op := n.GetOpType()
	if removed[op] {
		u.fail(n, "the op was removed from ONNX at opset 10 and has no opset-%d equivalent", Target)
		return []*onnxpb.NodeProto{n}
	}
	v := u.from
	switch {
	case op == "BatchNormalization" && v < 9:
		return u.batchNorm(n)
	case op == "Upsample":
		return u.upsample(n)
	case op == "Resize" && v < 11:
		return u.resize10(n)
	case op == "Slice" && v < 10:
		return u.attrsToInputs(n, []inputAttr{{"starts", true}, {"ends", true}, {"axes", false}})
	case op == "TopK" && v < 10:
		return u.topK(n)
	case op == "Clip" && v < 11:
		return u.clip(n)
	case op == "Pad" && v < 11:
		return u.pad(n)
	case op == "Scatter" && v < 11:
		c := proto.Clone(n).(*onnxpb.NodeProto)
		c.OpType = proto.String("ScatterElements")
		return []*onnxpb.NodeProto{c}
	case op == "Dropout" && v < 12:
		return u.dropout(n)
	case (op == "ReduceSum" || op == "Squeeze" || op == "Unsqueeze") && v < 13:
		return u.attrsToInputs(n, []inputAttr{{"axes", false}})
	case op == "Split" && v < 13:
		return u.attrsToInputs(n, []inputAttr{{"split", false}})
	case (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") && v < 13:
		return u.softmax(n)
	case op == "Scan" && v < 9:
		u.fail(n, "Scan-8 has a batch axis that Scan-9 and later do not; re-export the model at opset 9 or later")
	}
	return []*onnxpb.NodeProto{n}
}

// inputAttr is an attribute that became an input (in this order, after the existing ones).
type inputAttr struct {
	name     string
	required bool
}

// attrsToInputs moves int-list attributes to int64 initializer inputs, appended in order;
// an absent optional attribute becomes an omitted input ("") when a later one is present.
func (u *upgrader) attrsToInputs(n *onnxpb.NodeProto, attrs []inputAttr) []*onnxpb.NodeProto {
	c := proto.Clone(n).(*onnxpb.NodeProto)
	var ins []string
	last := -1
	for i, a := range attrs {
		at := takeAttr(c, a.name)
		if at == nil {
			if a.required {
				u.fail(n, "attribute %q is required", a.name)
				return []*onnxpb.NodeProto{n}
			}
			ins = append(ins, "")
			continue
		}
		ins = append(ins, u.ints(c, a.name, at.GetInts()))
		last = i
	}
	c.Input = append(c.Input, ins[:last+1]...)
	return []*onnxpb.NodeProto{c}
}

func (u *upgrader) batchNorm(n *onnxpb.NodeProto) []*onnxpb.NodeProto {
	c := proto.Clone(n).(*onnxpb.NodeProto)
	if a := takeAttr(c, "spatial"); a != nil && a.GetI() != 1 {
		u.fail(n, "spatial=%d (statistics per activation) has no opset-9 form", a.GetI())
		return []*onnxpb.NodeProto{n}
	}
	return []*onnxpb.NodeProto{c}
}

// upsample turns Upsample (7: scales attribute; 9: scales input) into Resize-11, whose
// asymmetric mapping and floor rounding are what Upsample computes.
func (u *upgrader) upsample(n *onnxpb.NodeProto) []*onnxpb.NodeProto {
	c := proto.Clone(n).(*onnxpb.NodeProto)
	scales := ""
	if a := takeAttr(c, "scales"); a != nil {
		scales = u.floats(c, "scales", a.GetFloats(), []int64{int64(len(a.GetFloats()))})
	} else if len(c.Input) > 1 {
		scales = c.Input[1]
	}
	if scales == "" || len(c.Input) == 0 {
		u.fail(n, "Upsample without scales")
		return []*onnxpb.NodeProto{n}
	}
	c.OpType = proto.String("Resize")
	c.Input = []string{c.Input[0], "", scales}
	return []*onnxpb.NodeProto{u.resizeMode(n, c)}
}

// resize10 gives Resize-10 the roi input of opset 11 and spells out its mapping.
func (u *upgrader) resize10(n *onnxpb.NodeProto) []*onnxpb.NodeProto {
	c := proto.Clone(n).(*onnxpb.NodeProto)
	if len(c.Input) != 2 {
		u.fail(n, "Resize-10 takes 2 inputs (X, scales), the node has %d", len(c.Input))
		return []*onnxpb.NodeProto{n}
	}
	c.Input = []string{c.Input[0], "", c.Input[1]}
	return []*onnxpb.NodeProto{u.resizeMode(n, c)}
}

// resizeMode sets the opset-10 semantics explicitly: coordinates x_original = x_resized /
// scale (asymmetric) and, for nearest, the floor of it (as ONNX Runtime computes Upsample
// and Resize-10). Opset 11 defaults to half_pixel and round_prefer_floor instead.
func (u *upgrader) resizeMode(orig, c *onnxpb.NodeProto) *onnxpb.NodeProto {
	mode := "nearest"
	if a := onnx.Attr(c, "mode"); a != nil {
		mode = string(a.GetS())
	}
	switch mode {
	case "nearest", "linear":
	case "bilinear":
		onnx.Attr(c, "mode").S = []byte("linear")
	default:
		u.fail(orig, "mode %q (nearest or linear expected)", mode)
		return orig
	}
	setString(c, "coordinate_transformation_mode", "asymmetric")
	if mode == "nearest" {
		setString(c, "nearest_mode", "floor")
	}
	return c
}

func (u *upgrader) topK(n *onnxpb.NodeProto) []*onnxpb.NodeProto {
	c := proto.Clone(n).(*onnxpb.NodeProto)
	a := takeAttr(c, "k")
	if a == nil {
		u.fail(n, "attribute \"k\" is required")
		return []*onnxpb.NodeProto{n}
	}
	c.Input = append(c.Input, u.ints(c, "k", []int64{a.GetI()}))
	return []*onnxpb.NodeProto{c}
}

func (u *upgrader) clip(n *onnxpb.NodeProto) []*onnxpb.NodeProto {
	c := proto.Clone(n).(*onnxpb.NodeProto)
	lo, hi := takeAttr(c, "min"), takeAttr(c, "max")
	ins := []string{"", ""}
	if lo != nil {
		ins[0] = u.floats(c, "min", []float32{lo.GetF()}, nil)
	}
	if hi != nil {
		ins[1] = u.floats(c, "max", []float32{hi.GetF()}, nil)
	}
	switch {
	case hi != nil:
		c.Input = append(c.Input, ins...)
	case lo != nil:
		c.Input = append(c.Input, ins[0])
	}
	return []*onnxpb.NodeProto{c}
}

func (u *upgrader) pad(n *onnxpb.NodeProto) []*onnxpb.NodeProto {
	c := proto.Clone(n).(*onnxpb.NodeProto)
	pads := takeAttr(c, "pads")
	if pads == nil {
		u.fail(n, "attribute \"pads\" is required")
		return []*onnxpb.NodeProto{n}
	}
	c.Input = append(c.Input, u.ints(c, "pads", pads.GetInts()))
	if v := takeAttr(c, "value"); v != nil && v.GetF() != 0 {
		c.Input = append(c.Input, u.floats(c, "value", []float32{v.GetF()}, nil))
	}
	return []*onnxpb.NodeProto{c}
}

func (u *upgrader) dropout(n *onnxpb.NodeProto) []*onnxpb.NodeProto {
	c := proto.Clone(n).(*onnxpb.NodeProto)
	if a := takeAttr(c, "ratio"); a != nil {
		c.Input = append(c.Input, u.floats(c, "ratio", []float32{a.GetF()}, nil))
	}
	return []*onnxpb.NodeProto{c}
}

// softmax: before opset 13 Softmax, LogSoftmax and Hardmax flatten the input to 2-D at
// axis and normalize each row; from 13 they normalize the single axis. The same
// computation at 13 is Flatten(axis) → op(axis=-1) → Reshape(Shape(x)), unless axis is
// the last one, where both forms agree.
func (u *upgrader) softmax(n *onnxpb.NodeProto) []*onnxpb.NodeProto {
	if len(n.GetInput()) != 1 || len(n.GetOutput()) != 1 {
		u.fail(n, "one input and one output expected")
		return []*onnxpb.NodeProto{n}
	}
	axis := int64(1)
	if a := onnx.Attr(n, "axis"); a != nil {
		axis = a.GetI()
	}
	rank := -1
	if u.opts.Rank != nil {
		rank = u.opts.Rank(n.GetInput()[0])
	}
	if axis == -1 || (rank > 0 && (axis == int64(rank)-1)) {
		c := proto.Clone(n).(*onnxpb.NodeProto)
		setInt(c, "axis", -1)
		return []*onnxpb.NodeProto{c}
	}
	if axis < 0 && rank < 0 {
		u.fail(n, "axis %d of an input of unknown rank", axis)
		return []*onnxpb.NodeProto{n}
	}
	if axis < 0 {
		axis += int64(rank)
	}
	x, y := n.GetInput()[0], n.GetOutput()[0]
	base := n.GetName()
	if base == "" {
		base = y
	}
	shape, flat, mid := u.fresh(y+"_shape"), u.fresh(y+"_flat"), u.fresh(y+"_2d")
	c := proto.Clone(n).(*onnxpb.NodeProto)
	c.Input, c.Output = []string{flat}, []string{mid}
	setInt(c, "axis", -1)
	return []*onnxpb.NodeProto{
		{Name: proto.String(u.fresh(base + "_Shape")), OpType: proto.String("Shape"), Input: []string{x}, Output: []string{shape}},
		{Name: proto.String(u.fresh(base + "_Flatten")), OpType: proto.String("Flatten"), Input: []string{x}, Output: []string{flat},
			Attribute: []*onnxpb.AttributeProto{onnx.IntAttr("axis", axis)}},
		c,
		{Name: proto.String(u.fresh(base + "_Reshape")), OpType: proto.String("Reshape"), Input: []string{mid, shape}, Output: []string{y}},
	}
}

// ints adds an int64 initializer named after the node and returns its name.
func (u *upgrader) ints(n *onnxpb.NodeProto, what string, v []int64) string {
	name := u.fresh(nodeBase(n) + "_" + what)
	t := tensor.New(tensor.I64, len(v))
	copy(t.I64(), v)
	u.add(name, t)
	return name
}

// floats adds a float32 initializer (a scalar when dims is nil).
func (u *upgrader) floats(n *onnxpb.NodeProto, what string, v []float32, dims []int64) string {
	name := u.fresh(nodeBase(n) + "_" + what)
	shape := make([]int, len(dims))
	for i, d := range dims {
		shape[i] = int(d)
	}
	t := tensor.New(tensor.F32, shape...)
	copy(t.F32(), v)
	u.add(name, t)
	return name
}

func (u *upgrader) add(name string, t *tensor.Tensor) {
	tp, err := onnx.TensorToProto(name, t)
	if err != nil {
		panic(err) // int64 and float32 always encode
	}
	u.inits = append(u.inits, tp)
}

func nodeBase(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	if len(n.GetOutput()) > 0 {
		return n.GetOutput()[0]
	}
	return n.GetOpType()
}

// takeAttr removes an attribute from n and returns it (nil when absent).
func takeAttr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for i, a := range n.Attribute {
		if a.GetName() == name {
			n.Attribute = append(n.Attribute[:i:i], n.Attribute[i+1:]...)
			return a
		}
	}
	return nil
}

func setInt(n *onnxpb.NodeProto, name string, v int64) {
	takeAttr(n, name)
	n.Attribute = append(n.Attribute, onnx.IntAttr(name, v))
}

func setString(n *onnxpb.NodeProto, name, v string) {
	takeAttr(n, name)
	n.Attribute = append(n.Attribute, &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)})
}
