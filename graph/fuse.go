package graph

import (
	"math"
	"slices"

	"github.com/qscript-dev/qscript/graph/internal/sgemm"
	"github.com/qscript-dev/qscript/tensor"
)

// A Conv followed by the Add of a residual and a Relu or Clip (ResNet's blocks,
// MobileNet's ReLU6), or by either, runs as one kernel when nothing needs the values
// between them: the Add and the activation are applied to each tile of the Conv's output
// while it is still in cache (sgemm's Operands.Residual and Act), where three nodes would
// take three passes over memory and two more buffers.
// Each element gets the same float32 operations in the same order as the nodes would
// give it, so the result is the same bit for bit.

// epilogue is what a fused kernel applies to its output: the Add of residual (nil: none),
// then an activation (Relu or Clip).
type epilogue struct {
	residual *tensor.Tensor
	act      sgemm.Activation
}

// fusedKernel is a kernel that can apply an epilogue. applied reports whether it did;
// when it did not (a shape it does not fuse), its outputs are the node's own.
type fusedKernel func(mem *arena, ins []*tensor.Tensor, ep epilogue) (outs []*tensor.Tensor, applied bool, err error)

// fusion is a chain the Runner may run as one kernel: the node that starts it (whose
// builder set a fusedKernel), then add and act, a Relu or Clip (either may be nil), each
// the only reader of the value before it and the very next node.
type fusion struct {
	add, act *Node
	// residual is add's input index of the value added to the node's output.
	residual int
	// mid are the values between the nodes, which a fused run does not compute (by slot,
	// and by name for Hooks.Watch).
	midSlots []int
	midNames []string
}

// planFusions finds the chains that may run fused (fusion), by the index of their first node.
func (g *Graph) planFusions() {
	g.fusions = make([]*fusion, len(g.nodes))
	for i, n := range g.nodes {
		if n.fused == nil || len(n.outSlots) != 1 || n.outSlots[0] < 0 {
			continue
		}
		f := &fusion{}
		v, j := n.Outputs[0], i+1
		if a := g.onlyReader(v, j); isOp(a, "Add") && len(a.Inputs) == 2 && a.Inputs[0] != a.Inputs[1] && len(a.outSlots) == 1 && a.outSlots[0] >= 0 {
			f.add, f.residual = a, 0
			if a.Inputs[0] == v {
				f.residual = 1
			}
			f.midSlots, f.midNames = append(f.midSlots, n.outSlots[0]), append(f.midNames, v)
			v, j = a.Outputs[0], j+1
		}
		if r := g.onlyReader(v, j); isActivation(r, v) {
			f.act = r
			f.midSlots, f.midNames = append(f.midSlots, g.slots[v]), append(f.midNames, v)
		}
		if len(f.midSlots) > 0 {
			g.fusions[i] = f
		}
	}
}

// onlyReader returns node j when it is the one node that reads value v, which is no graph
// output; else nil.
func (g *Graph) onlyReader(v string, j int) *Node {
	if j >= len(g.nodes) || g.isOutput[v] {
		return nil
	}
	if cs := g.consumers[v]; len(cs) == 1 && cs[0] == g.nodes[j] {
		return cs[0]
	}
	return nil
}

// isActivation reports whether n is a Relu or Clip of v (and only of v) with one output.
func isActivation(n *Node, v string) bool {
	if !(isOp(n, "Relu") || isOp(n, "Clip")) || n.Inputs[0] != v || len(n.outSlots) != 1 || n.outSlots[0] < 0 {
		return false
	}
	return !slices.Contains(n.Inputs[1:], v)
}

// isOp reports whether n is an ai.onnx node of type op.
func isOp(n *Node, op string) bool {
	return n != nil && (n.Domain == "" || n.Domain == "ai.onnx") && n.OpType == op
}

// fusable reports whether this Run may run chain f fused: no value between its nodes is kept
// or seen by the hook (Hooks.sees).
func (r *Runner) fusable(f *fusion, hooks *Hooks) bool {
	for k, s := range f.midSlots {
		if r.keep[s] || hooks.sees(f.midNames[k]) {
			return false
		}
	}
	return true
}

// epilogueOf is chain f's epilogue from this Run's values; false when it has none that
// fuses (a Clip whose bounds are not float32 numbers in order, which clipF32 leaves to
// clipT).
func (r *Runner) epilogueOf(f *fusion) (epilogue, bool) {
	var ep epilogue
	if f.add != nil {
		if ep.residual = r.values[f.add.inSlots[f.residual]]; ep.residual == nil {
			return ep, false
		}
	}
	switch {
	case f.act == nil:
	case f.act.OpType == "Relu":
		ep.act.Kind = sgemm.ActRelu
	default:
		lo, hi, ok := r.clipBounds(f.act)
		if !ok {
			return ep, false
		}
		ep.act = sgemm.Activation{Kind: sgemm.ActClamp, Lo: lo, Hi: hi}
	}
	return ep, true
}

// clipBounds is Clip node n's bounds as buildClip reads them (attributes before opset 11,
// else the optional inputs), when both are float32 numbers with lo <= hi.
func (r *Runner) clipBounds(n *Node) (float32, float32, bool) {
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	if a, ok := n.Attrs["min"]; ok {
		lo = a.Float
	}
	if a, ok := n.Attrs["max"]; ok {
		hi = a.Float
	}
	for k, bound := range []*float32{&lo, &hi} {
		if k+1 >= len(n.Inputs) || n.inSlots[k+1] < 0 {
			continue // omitted
		}
		t := r.values[n.inSlots[k+1]]
		if t == nil || t.DType != tensor.F32 || t.Numel() != 1 {
			return 0, 0, false
		}
		*bound = elems[float32](t)[0]
	}
	return lo, hi, lo <= hi
}

// runFused runs chain f, which starts at node i whose inputs are ins, as one kernel with
// epilogue ep. It returns the number of nodes it ran: all of the chain's, or only node i
// when its kernel did not apply the epilogue (then the caller runs the rest as usual).
func (r *Runner) runFused(i int, f *fusion, ins []*tensor.Tensor, ep epilogue, hooks *Hooks) (int, error) {
	g, mem := r.g, r.mem
	n := g.nodes[i]
	outs, applied, err := safeRunFused(n, mem, ins, &ep)
	mem.endNode()
	if err != nil {
		return 0, err
	}
	if !applied {
		return 1, r.finishNode(i, ins, outs, hooks)
	}
	chain := [3]*Node{n, f.add, f.act}
	last := f.act
	if last == nil {
		last = f.add
	}
	at := i
	for _, c := range chain {
		if c == nil {
			continue
		}
		if c != n {
			var err error
			if ins, err = r.gatherInputs(c, true); err != nil {
				return 0, err
			}
		}
		o := r.none[:]
		if c == last {
			o = outs
		}
		if err := r.finishNode(at, ins, o, hooks); err != nil {
			return 0, err
		}
		at++
	}
	return 1 + len(f.midSlots), nil
}
