package graph

import (
	"fmt"
	"slices"
	"sort"

	"github.com/qscript-dev/qscript/tensor"
)

// kernel computes a node's outputs from its inputs (nil for omitted optional inputs). Inputs are
// contiguous and must never be modified; outputs must be contiguous and may share data with an
// input (Reshape, Identity). Outputs may be allocated from mem (nil at load time).
type kernel func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error)

// opDef builds the kernel of one op type: it validates attributes and input types, records the
// output types and shapes it can infer in b.out, and returns the kernel.
type opDef func(b *builder) (kernel, error)

// ops is the registry of supported ai.onnx ops; the op files fill it in their init functions.
var ops = map[string]opDef{}

// opSince gives, for ops whose early versions had other semantics (explicit broadcast
// attributes, string-typed Cast targets), the first opset whose form the kernel implements.
// (Max, Min, Sum and Mean before 8 take equal shapes, a case of the broadcasting form.)
var opSince = map[string]int{
	"Add": 7, "Sub": 7, "Mul": 7, "Div": 7, "Pow": 7, "Equal": 7, "Less": 7, "Greater": 7,
	"And": 7, "Or": 7, "Xor": 7, "PRelu": 7, "Gemm": 7, "BatchNormalization": 7, "Dropout": 7,
	"Max": 6, "Min": 6, "Sum": 6, "Mean": 6, "Cast": 6, "Split": 2, "Concat": 4, "Pad": 2,
}

// SupportedOps lists the op types the executor implements, sorted.
func SupportedOps() []string {
	names := make([]string, 0, len(ops))
	for name := range ops {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// shapeArithmetic lists the ops Load evaluates on constant inputs: those exporters use to
// compute shapes, whose outputs are never much larger than their inputs (unlike
// ConstantOfShape, Expand, Tile or Range, which a hostile model could make huge).
var shapeArithmetic = map[string]bool{
	"Shape": true, "Gather": true, "Unsqueeze": true, "Squeeze": true, "Concat": true, "Slice": true,
	"Cast": true, "Reshape": true, "Add": true, "Sub": true, "Mul": true, "Div": true, "Equal": true,
	"Where": true, "Constant": true, "Identity": true, "Neg": true, "ReduceProd": true, "Floor": true,
	"Ceil": true, "Sqrt": true, "Less": true, "Greater": true, "Not": true, "Max": true, "Min": true,
}

// constEvalLimit bounds the elements of a node's inputs for evaluating it at load time, which
// only serves shape inference (shape arithmetic of exported graphs), never the weights.
const constEvalLimit = 1 << 14

func compileNode(g *Graph, n *Node, consts map[string]*tensor.Tensor, declared map[string]ValueInfo) error {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return &UnsupportedError{OpType: n.OpType, Node: n.Name, Domain: n.Domain, Opset: g.domainOpset(n.Domain), Reason: "only the ai.onnx domain is supported"}
	}
	def, ok := ops[n.OpType]
	if !ok {
		return &UnsupportedError{OpType: n.OpType, Node: n.Name, Opset: g.opset, Reason: "op not implemented"}
	}
	if since := opSince[n.OpType]; g.opset < since {
		return &UnsupportedError{OpType: n.OpType, Node: n.Name, Opset: g.opset, Reason: fmt.Sprintf("the opset %d form of the op (supported from opset %d)", g.opset, since)}
	}
	b := &builder{g: g, n: n, opset: g.opset, used: map[string]bool{}, out: make([]ValueInfo, len(n.Outputs)), scope: consts}
	for _, name := range n.Inputs {
		var info ValueInfo
		var c *tensor.Tensor
		if name != "" {
			info = g.infos[name]
			c = consts[name]
		}
		b.ins = append(b.ins, info)
		b.consts = append(b.consts, c)
	}
	run, err := def(b)
	if err != nil {
		return err
	}
	for name := range n.Attrs {
		if !b.used[name] {
			return b.unsupported("attribute %q", name)
		}
	}
	n.run, n.fused = run, b.fused

	// Evaluate nodes whose inputs are all small constants, so that shape arithmetic (Shape,
	// Gather, Concat feeding Reshape) yields known shapes for the nodes downstream.
	allConst, size := true, 0
	for i, name := range n.Inputs {
		if name == "" {
			continue
		}
		if b.consts[i] == nil {
			allConst = false
			break
		}
		size += b.consts[i].Numel()
	}
	if allConst && size <= constEvalLimit && shapeArithmetic[n.OpType] {
		outs, err := safeRun(n, nil, b.consts)
		if err != nil {
			return err
		}
		for i, t := range outs {
			if i < len(b.out) && t != nil && t.Numel() <= constEvalLimit {
				b.outConst(i, t)
			}
		}
	}
	for i, name := range n.Outputs {
		if name == "" {
			continue
		}
		info := b.out[i]
		info.Name = name
		if d, ok := declared[name]; ok {
			if info.DType == tensor.Invalid {
				info.DType = d.DType
			}
			if info.Shape == nil {
				info.Shape, info.DimParams = d.Shape, d.DimParams
			}
		}
		g.infos[name] = info
		if b.constOuts != nil && b.constOuts[i] != nil {
			consts[name] = b.constOuts[i]
		}
	}
	return nil
}

// safeRun runs a node's kernel and turns a panic (a kernel bug on unexpected input) into an error.
func safeRun(n *Node, mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
	outs, _, err := safeRunFused(n, mem, ins, nil)
	return outs, err
}

// safeRunFused is safeRun, running the node's fusedKernel with epilogue ep when ep is set.
func safeRunFused(n *Node, mem *arena, ins []*tensor.Tensor, ep *epilogue) (outs []*tensor.Tensor, applied bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			if berr, ok := budgetError(r); ok {
				err = fmt.Errorf("graph: node %q (%s): %w", n.Name, n.OpType, berr)
				return
			}
			err = fmt.Errorf("graph: node %q (%s): internal error: %v", n.Name, n.OpType, r)
		}
	}()
	if ep != nil {
		outs, applied, err = n.fused(mem, ins, *ep)
	} else {
		outs, err = n.run(mem, ins)
	}
	if err != nil {
		return nil, false, fmt.Errorf("graph: node %q (%s): %w", n.Name, n.OpType, err)
	}
	if len(outs) < len(n.Outputs) {
		return nil, false, fmt.Errorf("graph: node %q (%s): produced %d outputs, the node names %d", n.Name, n.OpType, len(outs), len(n.Outputs))
	}
	return outs, applied, nil
}

// builder is what an opDef sees of the node being compiled.
type builder struct {
	g         *Graph
	n         *Node
	opset     int
	ins       []ValueInfo
	consts    []*tensor.Tensor // known values of inputs (initializers, constant-folded), else nil
	used      map[string]bool
	out       []ValueInfo
	constOuts []*tensor.Tensor
	// scope holds every constant value visible to the node (for the subgraphs it compiles).
	scope map[string]*tensor.Tensor
	// fused, when set, is the node's kernel able to apply the Add and Relu after it (fuse.go).
	fused fusedKernel
}

func (b *builder) unsupported(format string, args ...any) error {
	return &UnsupportedError{OpType: b.n.OpType, Node: b.n.Name, Opset: b.opset, Reason: fmt.Sprintf(format, args...)}
}

func (b *builder) errorf(format string, args ...any) error {
	return fmt.Errorf("graph: node %q (%s): %s", b.n.Name, b.n.OpType, fmt.Sprintf(format, args...))
}

// has reports whether optional input i is present.
func (b *builder) has(i int) bool { return i < len(b.n.Inputs) && b.n.Inputs[i] != "" }

func (b *builder) in(i int) ValueInfo {
	if !b.has(i) {
		return ValueInfo{}
	}
	return b.ins[i]
}

func (b *builder) constIn(i int) *tensor.Tensor {
	if !b.has(i) {
		return nil
	}
	return b.consts[i]
}

// arity checks the number of inputs and outputs. It, dtypes, dtypesOf and sameDTypes have no
// side effects and are safe whatever the node looks like, so a builder runs them together in
// cmp.Or, which returns the first failure.
func (b *builder) arity(minIn, maxIn, minOut, maxOut int) error {
	if len(b.n.Inputs) < minIn || len(b.n.Inputs) > maxIn {
		return b.errorf("has %d inputs, want %d to %d", len(b.n.Inputs), minIn, maxIn)
	}
	for i := 0; i < minIn; i++ {
		if b.n.Inputs[i] == "" {
			return b.errorf("required input %d is empty", i)
		}
	}
	if len(b.n.Outputs) < minOut || len(b.n.Outputs) > maxOut {
		return b.errorf("has %d outputs, want %d to %d", len(b.n.Outputs), minOut, maxOut)
	}
	return nil
}

// dtypes checks that input i (if its type is known) has one of the allowed dtypes.
func (b *builder) dtypes(i int, allowed ...tensor.DType) error {
	dt := b.in(i).DType
	if dt == tensor.Invalid {
		return nil
	}
	for _, a := range allowed {
		if dt == a {
			return nil
		}
	}
	return b.unsupported("input %d (%q) has dtype %v; supported: %v", i, b.n.Inputs[i], dt, allowed)
}

// dtypesOf is dtypes for each of inputs from..to-1.
func (b *builder) dtypesOf(from, to int, allowed ...tensor.DType) error {
	for i := from; i < to; i++ {
		if err := b.dtypes(i, allowed...); err != nil {
			return err
		}
	}
	return nil
}

// sameDTypes checks that the given inputs share a dtype, when known.
func (b *builder) sameDTypes(idx ...int) error {
	var want tensor.DType
	for _, i := range idx {
		dt := b.in(i).DType
		if dt == tensor.Invalid {
			continue
		}
		if want == tensor.Invalid {
			want = dt
		} else if dt != want {
			return b.errorf("input %d has dtype %v, expected %v like the other inputs", i, dt, want)
		}
	}
	return nil
}

func (b *builder) attr(name string, typ ...any) (Attr, bool) {
	b.used[name] = true
	a, ok := b.n.Attrs[name]
	return a, ok
}

func (b *builder) attrInt(name string, def int64) int64 {
	if a, ok := b.attr(name); ok {
		return a.Int
	}
	return def
}

func (b *builder) attrFloat(name string, def float32) float32 {
	if a, ok := b.attr(name); ok {
		return a.Float
	}
	return def
}

func (b *builder) attrString(name, def string) string {
	if a, ok := b.attr(name); ok {
		return a.String
	}
	return def
}

func (b *builder) attrInts(name string) ([]int64, bool) {
	a, ok := b.attr(name)
	return a.Ints, ok
}

// ignoreAttrs marks attributes whose value cannot change the result in inference.
func (b *builder) ignoreAttrs(names ...string) {
	for _, n := range names {
		b.used[n] = true
	}
}

func (b *builder) setOut(i int, dt tensor.DType, shape []int) {
	if i < len(b.out) {
		b.out[i].DType = dt
		b.out[i].Shape = slices.Clone(shape) // nil (unknown) stays nil, [] (a scalar) stays []
	}
}

func (b *builder) outConst(i int, t *tensor.Tensor) {
	if b.constOuts == nil {
		b.constOuts = make([]*tensor.Tensor, len(b.out))
	}
	b.constOuts[i] = t
	b.out[i].DType = t.DType
	b.out[i].Shape = append([]int{}, t.Shape...)
}

// prepackBudget bounds the bytes of weight panels Load packs in advance (prepackable), so
// that a large model does not hold its weights twice.
const prepackBudget = 512 << 20

// prepackable reports whether a constant of numel float32 elements may be packed in advance,
// and counts it against the graph's budget.
func (b *builder) prepackable(numel int) bool {
	if b.g == nil || b.g.prepackedBytes+4*int64(numel) > prepackBudget {
		return false
	}
	b.g.prepackedBytes += 4 * int64(numel)
	return true
}
