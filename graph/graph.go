package graph

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

// Supported range of the default-domain (ai.onnx) opset. Kernels implement the semantics of
// every version in this range for the ops they claim; where an op changed (Softmax at 13, Split
// at 18, ...) both forms are handled, and ops whose oldest forms differ (broadcast attributes
// before opset 7, say) name the first opset they support in opSince.
const (
	MinOpset = 1
	MaxOpset = 21
)

// ErrUnsupported is wrapped by every error about an op, attribute or dtype the executor does not
// implement. Test with errors.Is; errors.As with *UnsupportedError gives the node.
var ErrUnsupported = errors.New("graph: unsupported")

// UnsupportedError names the node Load refused, with the op type, the node name, the op's
// domain ("" for ai.onnx) and the opset the model imports for that domain.
type UnsupportedError struct {
	OpType string
	Node   string
	Domain string
	Opset  int
	Reason string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("graph: unsupported: node %q (%s): %s", e.Node, e.opDesc(), e.Reason)
}

// opDesc is "op Resize, opset 9", with the domain when it is not ai.onnx.
func (e *UnsupportedError) opDesc() string {
	if e.Domain != "" && e.Domain != "ai.onnx" {
		return fmt.Sprintf("op %s, domain %s, opset %d", e.OpType, e.Domain, e.Opset)
	}
	return fmt.Sprintf("op %s, opset %d", e.OpType, e.Opset)
}

// Unwrap makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// ValueInfo describes a value of the graph: a graph input or output, an initializer or an
// intermediate result, as far as Load could infer it.
type ValueInfo struct {
	Name  string
	DType tensor.DType // Invalid when unknown
	// Shape holds the dimensions, -1 for a dimension unknown at load time (a dynamic batch, say).
	// A nil Shape means even the rank is unknown; a scalar has an empty, non-nil Shape.
	Shape []int
	// DimParams holds the symbolic names of dynamic dimensions ("batch"), "" elsewhere; nil
	// when the model declares none.
	DimParams []string
	// ModelDType is the type the model gives a float16 or bfloat16 value, which the executor
	// computes in float32 (DType then says F32); Invalid for every other value. Graph inputs
	// and outputs keep the model's type in DType: that is what Run takes and returns.
	ModelDType tensor.DType
}

// Attr is one decoded node attribute. Only the field that matches Type is set.
type Attr struct {
	Name    string
	Type    onnxpb.AttributeProto_AttributeType
	Float   float32
	Int     int64
	String  string
	Tensor  *tensor.Tensor
	Floats  []float32
	Ints    []int64
	Strings []string
	// Graph is the compiled subgraph of a GRAPH attribute (If's branches, Loop's body).
	Graph *Graph
	proto *onnxpb.GraphProto
}

// Node is one operator of the graph in topological order. Its fields are read-only.
type Node struct {
	Index   int // position in Graph.Nodes()
	Name    string
	OpType  string
	Domain  string
	Inputs  []string // "" marks an omitted optional input
	Outputs []string // "" marks an unused optional output
	Attrs   map[string]Attr
	// Parent is the If or Loop node whose subgraph holds this node (nil in the main graph).
	Parent *Node
	run    kernel
	fused  fusedKernel // the kernel with an epilogue (fuse.go), for the nodes that have one
	// implicit are the outer-scope values the node's subgraphs read: inputs of the node in
	// all but name (they order it, keep the values alive and reach its kernel after Inputs).
	implicit []string
	// inSlots and outSlots are the Run slots of Inputs (then implicit) and Outputs (-1 for "").
	inSlots, outSlots []int
}

// allInputs returns Inputs then implicit, the names inSlots holds the slots of. The full
// slice expression makes append copy instead of writing into Inputs' spare capacity.
func (n *Node) allInputs() []string {
	return append(n.Inputs[:len(n.Inputs):len(n.Inputs)], n.implicit...)
}

// Options configures Load.
type Options struct {
	// External resolves initializers stored in external data files. Nil rejects such models.
	External ExternalDataResolver
}

// Graph is a loaded, validated and compiled ONNX graph. It is immutable: Run may be called
// concurrently from several goroutines.
type Graph struct {
	opset  int
	opsets map[string]int // every imported domain's opset, "" for ai.onnx
	opts   Options
	// parent is the graph whose scope a subgraph reads (nil for the main graph); parentNode
	// the If or Loop node that holds it; outer the parent-scope values the subgraph reads,
	// bound to outerSlots at each run.
	parent       *Graph
	parentNode   *Node
	outer        []string
	outerSlots   []int
	nodes        []*Node
	inputs       []ValueInfo
	outputs      []ValueInfo
	initializers map[string]*tensor.Tensor
	initOrder    []string
	infos        map[string]ValueInfo
	// freeAfter[i] lists the values whose last consumer is node i (or that node i produces and
	// nobody reads); Run drops them after node i unless they are outputs or kept by the hooks.
	freeAfter [][]string
	isOutput  map[string]bool
	producer  map[string]*Node
	consumers map[string][]*Node
	// slots numbers every value (input, initializer, node output): a Run keeps its values in a
	// slice indexed by slot rather than a map by name.
	slots map[string]int
	// produced marks the slots of node outputs, the values whose buffers a Run's arena owns.
	produced []bool
	// inputSlots, outputSlots and initSlots are the slots of g.inputs, g.outputs and
	// g.initOrder; freeSlots[i] are the slots of freeAfter[i].
	inputSlots, outputSlots, initSlots []int
	freeSlots                          [][]int
	// fusions holds, by node index, the chain starting there that may run fused (or nil).
	fusions []*fusion
	// prepackedBytes counts the weight panels packed at load (builder.prepackable).
	prepackedBytes int64
	// runners keeps the Runners of finished Runs (their buffers) for the next ones.
	runners sync.Pool
}

// Producer returns the node that computes a value (false for inputs and initializers).
func (g *Graph) Producer(name string) (*Node, bool) {
	n, ok := g.producer[name]
	return n, ok
}

// Consumers returns the nodes that read a value, in execution order.
func (g *Graph) Consumers(name string) []*Node { return g.consumers[name] }

// IsOutput reports whether name is a graph output.
func (g *Graph) IsOutput(name string) bool { return g.isOutput[name] }

// Opset returns the default-domain opset the model imports.
func (g *Graph) Opset() int { return g.opset }

// Nodes returns the nodes in the order Run executes them.
func (g *Graph) Nodes() []*Node { return g.nodes }

// Inputs returns the graph inputs a caller must feed (initializers excluded).
func (g *Graph) Inputs() []ValueInfo { return g.inputs }

// Outputs returns the graph outputs, with the types and shapes Load inferred or the model declared.
func (g *Graph) Outputs() []ValueInfo { return g.outputs }

// Initializer returns the constant tensor of an initializer. Callers must not modify it.
func (g *Graph) Initializer(name string) (*tensor.Tensor, bool) {
	t, ok := g.initializers[name]
	return t, ok
}

// Initializers lists the initializer names in model order.
func (g *Graph) Initializers() []string { return g.initOrder }

// ValueInfo returns what Load knows of any named value (input, initializer, node output),
// looked up in g, then in the subgraphs of its If and Loop nodes (whose values hooks also see).
func (g *Graph) ValueInfo(name string) (ValueInfo, bool) {
	if v, ok := g.infos[name]; ok {
		return v, true
	}
	for _, n := range g.nodes {
		for _, a := range n.Attrs {
			if a.Graph != nil {
				if v, ok := a.Graph.ValueInfo(name); ok {
					return v, true
				}
			}
		}
	}
	return ValueInfo{}, false
}

// Load validates and compiles the main graph of m, and the subgraphs of its If and Loop
// nodes. Every node must use an op, attributes and dtypes the executor supports; otherwise
// Load returns, before any computation, an *UnsupportedError for a single offending node or
// an *UnsupportedOpsError that names every one of them.
func Load(m *onnxpb.ModelProto, opts Options) (*Graph, error) {
	if m == nil || m.GetGraph() == nil {
		return nil, errors.New("graph: model has no graph")
	}
	opsets := map[string]int{}
	for _, imp := range m.GetOpsetImport() {
		d := imp.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		opsets[d] = int(imp.GetVersion())
	}
	opset, ok := opsets[""]
	if !ok {
		return nil, errors.New("graph: model imports no ai.onnx opset")
	}
	if opset < MinOpset || opset > MaxOpset {
		return nil, fmt.Errorf("%w: ai.onnx opset %d (supported: %d to %d)", ErrUnsupported, opset, MinOpset, MaxOpset)
	}
	return loadGraph(m.GetGraph(), scope{opsets: opsets, opts: opts}, map[string]*tensor.Tensor{})
}

// LoadFile reads the ONNX model at path (onnx.Open checks it, every allocation bounded) and
// loads it, reading external data from the model's folder.
func LoadFile(path string) (*Graph, error) {
	f, err := onnx.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LoadONNX(f)
}

// LoadONNX loads an opened ONNX model, reading external data from its folder.
func LoadONNX(f *onnx.File) (*Graph, error) {
	return Load(f.Proto(), Options{External: ExternalIn(f.Dir())})
}

// scope is what a graph being loaded inherits: the model's opsets and Load's options, and for
// a subgraph the graph and node that hold it.
type scope struct {
	opsets     map[string]int
	opts       Options
	parent     *Graph
	parentNode *Node
}

// loadGraph compiles gp; consts holds the constant values visible from the parent scope.
func loadGraph(gp *onnxpb.GraphProto, sc scope, consts map[string]*tensor.Tensor) (*Graph, error) {
	g := &Graph{
		opset:        sc.opsets[""],
		opsets:       sc.opsets,
		opts:         sc.opts,
		parent:       sc.parent,
		parentNode:   sc.parentNode,
		initializers: map[string]*tensor.Tensor{},
		infos:        map[string]ValueInfo{},
		isOutput:     map[string]bool{},
		producer:     map[string]*Node{},
		consumers:    map[string][]*Node{},
	}
	if err := g.readInitializers(gp); err != nil {
		return nil, err
	}
	for _, vi := range gp.GetInput() {
		if _, isInit := g.initializers[vi.GetName()]; isInit {
			continue
		}
		info, err := valueInfoFromProto(vi)
		if err != nil {
			return nil, err
		}
		g.inputs = append(g.inputs, info)
		g.infos[info.Name] = lowerInfo(info)
	}
	declared := map[string]ValueInfo{}
	for _, vi := range gp.GetValueInfo() {
		if info, err := valueInfoFromProto(vi); err == nil {
			declared[info.Name] = lowerInfo(info)
		}
	}
	var outDecl []ValueInfo
	for _, vi := range gp.GetOutput() {
		info, err := valueInfoFromProto(vi)
		if err != nil {
			return nil, err
		}
		outDecl = append(outDecl, info)
		g.isOutput[info.Name] = true
	}

	implicit := make(map[*onnxpb.NodeProto][]string)
	for _, np := range gp.GetNode() {
		if fv := nodeFreeVars(np); len(fv) > 0 {
			implicit[np] = fv
		}
	}
	order, err := topoSort(gp.GetNode(), implicit, g)
	if err != nil {
		return nil, err
	}
	for name, t := range g.initializers {
		consts[name] = t
	}
	if err := g.compileNodes(order, implicit, consts, declared); err != nil {
		return nil, err
	}
	if err := g.resolveOutputs(outDecl); err != nil {
		return nil, err
	}
	g.planFrees()
	g.planSlots()
	g.planFusions()
	return g, nil
}

// resolveOutputs sets g's outputs from their declarations and what the nodes compute: the
// computed type and shape where known, else the declared ones.
func (g *Graph) resolveOutputs(outDecl []ValueInfo) error {
	for _, d := range outDecl {
		info, ok := g.infos[d.Name]
		if !ok && g.bindOuter(d.Name) {
			info, ok = g.infos[d.Name], true
		}
		if !ok {
			return fmt.Errorf("graph: output %q is produced by no node, input or initializer", d.Name)
		}
		if isHalf(d.DType) && (info.DType == tensor.F32 || info.DType == tensor.Invalid) {
			info.ModelDType, info.DType = d.DType, d.DType // computed in float32, returned as declared
		} else if info.DType == tensor.Invalid {
			info.DType = d.DType
		} else if d.DType != tensor.Invalid && d.DType != info.DType {
			return fmt.Errorf("graph: output %q is declared %v but computes %v", d.Name, d.DType, info.DType)
		}
		if info.Shape == nil {
			info.Shape, info.DimParams = d.Shape, d.DimParams
		}
		g.outputs = append(g.outputs, info)
	}
	return nil
}

// readInitializers converts gp's initializers (16-bit floats to float32) in file order.
func (g *Graph) readInitializers(gp *onnxpb.GraphProto) error {
	for _, tp := range gp.GetInitializer() {
		name := tp.GetName()
		if name == "" {
			return errors.New("graph: initializer without a name")
		}
		if _, dup := g.initializers[name]; dup {
			return fmt.Errorf("graph: initializer %q appears twice", name)
		}
		t, err := tensorFromProto(tp, g.opts.External)
		if err != nil {
			return err
		}
		g.infos[name] = lowerInfo(ValueInfo{Name: name, DType: t.DType, Shape: append([]int{}, t.Shape...)})
		g.initializers[name] = lowerHalf(t)
		g.initOrder = append(g.initOrder, name)
	}
	if len(gp.GetSparseInitializer()) > 0 {
		return fmt.Errorf("%w: sparse initializers", ErrUnsupported)
	}
	return nil
}

// compileNodes compiles the nodes in topological order and adds them to g. It goes on past
// a node the executor cannot run, so that the error names every such node.
func (g *Graph) compileNodes(order []*onnxpb.NodeProto, implicit map[*onnxpb.NodeProto][]string, consts map[string]*tensor.Tensor, declared map[string]ValueInfo) error {
	var unsupported []*UnsupportedError
	for i, np := range order {
		n, err := newNode(np, i, g)
		if err == nil {
			n.Parent, n.implicit = g.parentNode, implicit[np]
			err = compileNode(g, n, consts, declared)
		}
		if us := unsupportedNodes(err); len(us) > 0 {
			unsupported = append(unsupported, us...)
			for _, o := range np.GetOutput() {
				if o != "" {
					g.infos[o] = ValueInfo{Name: o}
				}
			}
			continue
		}
		if err != nil {
			if len(unsupported) > 0 {
				continue // most likely a consequence of a node above that failed
			}
			return err
		}
		g.addNode(n)
	}
	return unsupportedErr(unsupported)
}

// addNode appends a compiled node and records who produces and who reads its values.
func (g *Graph) addNode(n *Node) {
	g.nodes = append(g.nodes, n)
	for _, in := range n.allInputs() {
		if in != "" && (len(g.consumers[in]) == 0 || g.consumers[in][len(g.consumers[in])-1] != n) {
			g.consumers[in] = append(g.consumers[in], n)
		}
	}
	for _, o := range n.Outputs {
		if o != "" {
			g.producer[o] = n
		}
	}
}

// valueInfoFromProto reads a tensor-typed ValueInfoProto.
func valueInfoFromProto(vi *onnxpb.ValueInfoProto) (ValueInfo, error) {
	info := ValueInfo{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		if vi.GetType() == nil {
			return info, nil
		}
		return info, fmt.Errorf("%w: value %q is not a tensor (sequence, map and optional values are not supported)", ErrUnsupported, vi.GetName())
	}
	if et := tt.GetElemType(); et != 0 {
		dt, ok := computeDType(et)
		if !ok {
			return info, fmt.Errorf("%w: value %q has element type %s", ErrUnsupported, vi.GetName(), onnx.DataTypeName(et))
		}
		info.DType = dt
	}
	if sp := tt.GetShape(); sp != nil {
		info.Shape = make([]int, len(sp.GetDim()))
		hasParam := false
		params := make([]string, len(sp.GetDim()))
		for i, d := range sp.GetDim() {
			info.Shape[i] = -1
			if v, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && v.DimValue >= 0 {
				info.Shape[i] = int(v.DimValue)
			}
			if p := d.GetDimParam(); p != "" {
				params[i] = p
				hasParam = true
			}
		}
		if hasParam {
			info.DimParams = params
		}
	}
	return info, nil
}

// topoSort orders nodes so that each runs after the producers of its inputs, keeping the model
// order among ready nodes, and reports inputs nobody produces and cycles. Nodes without
// inputs (Constant) go first: then a node and the one reading its output are neighbours
// although the model put the reader's constant operands between them (a Conv, then the
// Constants of a Clip's bounds, then the Clip), as fusion needs (planFusions).
func topoSort(nodes []*onnxpb.NodeProto, implicit map[*onnxpb.NodeProto][]string, g *Graph) ([]*onnxpb.NodeProto, error) {
	producer := map[string]int{}
	for i, n := range nodes {
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if _, dup := producer[o]; dup {
				return nil, fmt.Errorf("graph: value %q is produced by two nodes", o)
			}
			if _, isIn := g.infos[o]; isIn {
				return nil, fmt.Errorf("graph: node %q overwrites input or initializer %q", n.GetName(), o)
			}
			producer[o] = i
		}
	}
	pending := make([]int, len(nodes))
	users := make([][]int, len(nodes))
	for i, n := range nodes {
		for _, in := range append(n.GetInput()[:len(n.GetInput()):len(n.GetInput())], implicit[n]...) {
			if in == "" {
				continue
			}
			if p, ok := producer[in]; ok {
				pending[i]++
				users[p] = append(users[p], i)
				continue
			}
			if _, ok := g.infos[in]; !ok && !g.bindOuter(in) {
				return nil, fmt.Errorf("graph: input %q of node %q (%s) is produced by no node, graph input or initializer", in, n.GetName(), n.GetOpType())
			}
		}
	}
	// ready is kept sorted by model index, nodes without inputs first, so the order is
	// deterministic and close to the file's.
	first := func(i, j int) bool {
		if a, b := len(nodes[i].GetInput()) == 0, len(nodes[j].GetInput()) == 0; a != b {
			return a
		}
		return i < j
	}
	var ready []int
	for i := range nodes {
		if pending[i] == 0 {
			ready = append(ready, i)
		}
	}
	sort.Slice(ready, func(a, b int) bool { return first(ready[a], ready[b]) })
	order := make([]*onnxpb.NodeProto, 0, len(nodes))
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		order = append(order, nodes[i])
		added := false
		for _, u := range users[i] {
			pending[u]--
			if pending[u] == 0 {
				ready = append(ready, u)
				added = true
			}
		}
		if added {
			sort.Slice(ready, func(a, b int) bool { return first(ready[a], ready[b]) })
		}
	}
	if len(order) != len(nodes) {
		var stuck []string
		for i, n := range nodes {
			if pending[i] > 0 && len(stuck) < 5 {
				stuck = append(stuck, fmt.Sprintf("%q (%s)", n.GetName(), n.GetOpType()))
			}
		}
		return nil, fmt.Errorf("graph: the graph has a cycle through nodes %s", strings.Join(stuck, ", "))
	}
	return order, nil
}

func newNode(np *onnxpb.NodeProto, index int, g *Graph) (*Node, error) {
	n := &Node{
		Index:   index,
		Name:    np.GetName(),
		OpType:  np.GetOpType(),
		Domain:  np.GetDomain(),
		Inputs:  append([]string{}, np.GetInput()...),
		Outputs: append([]string{}, np.GetOutput()...),
		Attrs:   map[string]Attr{},
	}
	if n.Name == "" {
		n.Name = fmt.Sprintf("%s_%d", n.OpType, index)
	}
	for _, ap := range np.GetAttribute() {
		a := Attr{Name: ap.GetName(), Type: ap.GetType()}
		switch a.Type {
		case onnxpb.AttributeProto_FLOAT:
			a.Float = ap.GetF()
		case onnxpb.AttributeProto_INT:
			a.Int = ap.GetI()
		case onnxpb.AttributeProto_STRING:
			a.String = string(ap.GetS())
		case onnxpb.AttributeProto_FLOATS:
			a.Floats = ap.GetFloats()
		case onnxpb.AttributeProto_INTS:
			a.Ints = ap.GetInts()
		case onnxpb.AttributeProto_STRINGS:
			for _, s := range ap.GetStrings() {
				a.Strings = append(a.Strings, string(s))
			}
		case onnxpb.AttributeProto_TENSOR:
			t, err := tensorFromProto(ap.GetT(), g.opts.External)
			if err != nil {
				return nil, fmt.Errorf("node %q attribute %q: %w", n.Name, a.Name, err)
			}
			a.Tensor = lowerHalf(t)
		case onnxpb.AttributeProto_GRAPH:
			a.proto = ap.GetG()
		default:
			return nil, &UnsupportedError{OpType: n.OpType, Node: n.Name, Domain: n.Domain, Opset: g.domainOpset(n.Domain), Reason: fmt.Sprintf("attribute %q of type %v", a.Name, a.Type)}
		}
		n.Attrs[a.Name] = a
	}
	return n, nil
}

// planFrees computes, for each node, the values that are dead once it has run.
func (g *Graph) planFrees() {
	last := map[string]int{}
	for i, n := range g.nodes {
		for _, in := range n.allInputs() {
			if in != "" {
				last[in] = i
			}
		}
		for _, o := range n.Outputs {
			if o != "" {
				if _, seen := last[o]; !seen {
					last[o] = i
				}
			}
		}
	}
	g.freeAfter = make([][]string, len(g.nodes))
	for name, i := range last {
		if g.isOutput[name] {
			continue
		}
		if _, isInit := g.initializers[name]; isInit {
			continue
		}
		if slices.Contains(g.outer, name) {
			continue // the parent scope's value
		}
		g.freeAfter[i] = append(g.freeAfter[i], name)
	}
	for _, f := range g.freeAfter {
		sort.Strings(f)
	}
}

// planSlots numbers the values for Run: initializers, then inputs, then node outputs in order.
func (g *Graph) planSlots() {
	g.slots = make(map[string]int, len(g.initializers)+len(g.inputs)+len(g.nodes))
	slot := func(name string) int {
		if name == "" {
			return -1
		}
		s, ok := g.slots[name]
		if !ok {
			s = len(g.slots)
			g.slots[name] = s
		}
		return s
	}
	for _, name := range g.initOrder {
		g.initSlots = append(g.initSlots, slot(name))
	}
	for _, in := range g.inputs {
		g.inputSlots = append(g.inputSlots, slot(in.Name))
	}
	for _, name := range g.outer {
		g.outerSlots = append(g.outerSlots, slot(name))
	}
	for _, n := range g.nodes {
		n.inSlots = make([]int, 0, len(n.Inputs)+len(n.implicit))
		for _, name := range n.allInputs() {
			n.inSlots = append(n.inSlots, slot(name))
		}
		n.outSlots = make([]int, len(n.Outputs))
		for i, name := range n.Outputs {
			n.outSlots[i] = slot(name)
		}
	}
	g.produced = make([]bool, len(g.slots))
	for _, n := range g.nodes {
		for _, s := range n.outSlots {
			if s >= 0 {
				g.produced[s] = true
			}
		}
	}
	for _, o := range g.outputs {
		g.outputSlots = append(g.outputSlots, slot(o.Name))
	}
	g.freeSlots = make([][]int, len(g.freeAfter))
	for i, names := range g.freeAfter {
		for _, name := range names {
			g.freeSlots[i] = append(g.freeSlots[i], slot(name))
		}
	}
}
