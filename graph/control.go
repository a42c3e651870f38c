package graph

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/qscript-dev/qscript/tensor"
)

// If and Loop run subgraphs that read values of the enclosing graphs by name. Load compiles
// each subgraph as a Graph of its own (Attr.Graph) whose outer values are bound at each run;
// the enclosing node lists them as implicit inputs, so they are computed before it and kept
// alive until it has run. Hooks.AfterNode sees the subgraph's nodes too (Node.Parent is the
// If or Loop node), once per run of the subgraph: every iteration of a Loop.

func init() {
	ops["If"] = buildIf
	ops["Loop"] = buildLoop
}

// subgraph compiles the node's graph attribute name in the node's scope.
func (b *builder) subgraph(name string) (*Graph, error) {
	a, ok := b.attr(name)
	if !ok || a.proto == nil {
		return nil, b.errorf("needs the graph attribute %q", name)
	}
	sub, err := loadGraph(a.proto, scope{opsets: b.g.opsets, opts: b.g.opts, parent: b.g, parentNode: b.n}, maps.Clone(b.scope))
	if err != nil {
		if unsupportedNodes(err) == nil && errors.Is(err, ErrUnsupported) {
			return nil, b.unsupported("subgraph %q: %v", name, err)
		}
		if unsupportedNodes(err) == nil {
			return nil, b.errorf("subgraph %q: %v", name, err)
		}
		return nil, err
	}
	a.Graph = sub
	b.n.Attrs[name] = a
	return sub, nil
}

// outerIndex maps each outer value of sub to its position among the node's implicit inputs.
func (b *builder) outerIndex(sub *Graph) ([]int, error) {
	idx := make([]int, len(sub.outer))
	for i, name := range sub.outer {
		idx[i] = -1
		for k, im := range b.n.implicit {
			if im == name {
				idx[i] = len(b.n.Inputs) + k
			}
		}
		if idx[i] < 0 {
			return nil, b.errorf("subgraph reads %q, which is not in the node's scope", name)
		}
	}
	return idx, nil
}

// runSub runs subgraph g on its formal inputs (in g.inputs order) and the outer values (the
// enclosing kernel's ins at outerIdx), with the enclosing Run's context and AfterNode hook,
// and returns g's outputs, which belong to the caller.
func (g *Graph) runSub(mem *arena, formal, ins []*tensor.Tensor, outerIdx []int) ([]*tensor.Tensor, error) {
	ctx, workers := context.Background(), 0
	var hooks *Hooks
	if mem != nil {
		workers = mem.workerSetting()
		if mem.ctx != nil {
			ctx = mem.ctx
		}
		if mem.hooks != nil && mem.hooks.AfterNode != nil {
			hooks = &Hooks{AfterNode: mem.hooks.AfterNode}
		}
	}
	if len(formal) != len(g.inputs) {
		return nil, fmt.Errorf("subgraph takes %d inputs, got %d", len(g.inputs), len(formal))
	}
	r, ok := g.runners.Get().(*Runner)
	if !ok {
		r = g.NewRunnerWorkers(workers)
	}
	for i, s := range g.inputSlots {
		r.values[s] = formal[i].Contiguous()
	}
	for i, s := range g.outerSlots {
		r.values[s] = ins[outerIdx[i]]
	}
	if err := r.runNodes(ctx, hooks); err != nil {
		r.reset() // reusable again: a Loop whose body fails need not make a Runner per try
		g.runners.Put(r)
		return nil, err
	}
	res := r.collect(nil, true)
	outs := make([]*tensor.Tensor, len(g.outputs))
	for i, o := range g.outputs {
		outs[i] = res[o.Name]
	}
	g.runners.Put(r)
	return outs, nil
}

func buildIf(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 1, 1, 1<<16), b.dtypes(0, tensor.Bool)); err != nil {
		return nil, err
	}
	then, err := b.subgraph("then_branch")
	if err != nil {
		return nil, err
	}
	els, err := b.subgraph("else_branch")
	if err != nil {
		return nil, err
	}
	n := len(b.n.Outputs)
	if len(then.outputs) != n || len(els.outputs) != n {
		return nil, b.errorf("the branches have %d and %d outputs, the node %d", len(then.outputs), len(els.outputs), n)
	}
	for i := range b.n.Outputs {
		t, e := then.outputs[i], els.outputs[i]
		dt := t.DType
		if dt == tensor.Invalid {
			dt = e.DType
		}
		var shape []int
		if slices.Equal(t.Shape, e.Shape) && t.Shape != nil {
			shape = t.Shape
		}
		b.setOut(i, dt, shape)
	}
	thenIdx, err := b.outerIndex(then)
	if err != nil {
		return nil, err
	}
	elseIdx, err := b.outerIndex(els)
	if err != nil {
		return nil, err
	}
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		c := ins[0]
		if c.Numel() != 1 {
			return nil, fmt.Errorf("cond has shape %v, want one bool", c.Shape)
		}
		if elems[uint8](c)[0] != 0 {
			return then.runSub(mem, nil, ins, thenIdx)
		}
		return els.runSub(mem, nil, ins, elseIdx)
	}, nil
}

// loopMaxIterations bounds a Loop with neither a trip count nor a condition that ever turns
// false: a hostile or broken model errors instead of spinning forever.
const loopMaxIterations = 1 << 24

func buildLoop(b *builder) (kernel, error) {
	if err := b.arity(2, 1<<16, 0, 1<<16); err != nil && len(b.n.Inputs) < 2 {
		return nil, err
	}
	if err := cmp.Or(b.dtypes(0, tensor.I64), b.dtypes(1, tensor.Bool)); err != nil {
		return nil, err
	}
	body, err := b.subgraph("body")
	if err != nil {
		return nil, err
	}
	nCarried := len(b.n.Inputs) - 2
	nScan := len(body.outputs) - 1 - nCarried
	if len(body.inputs) != 2+nCarried || nScan < 0 || len(b.n.Outputs) > nCarried+nScan {
		return nil, b.errorf("body takes %d inputs and gives %d outputs for %d loop-carried values and %d node outputs",
			len(body.inputs), len(body.outputs), nCarried, len(b.n.Outputs))
	}
	for i := range b.n.Outputs {
		o := body.outputs[1+i]
		if i < nCarried && o.DType == tensor.Invalid {
			o.DType = b.in(2 + i).DType
		}
		b.setOut(i, o.DType, nil)
		if i < nCarried && slices.Equal(o.Shape, b.in(2+i).Shape) && o.Shape != nil {
			b.setOut(i, o.DType, o.Shape)
		}
	}
	outerIdx, err := b.outerIndex(body)
	if err != nil {
		return nil, err
	}
	nOut := len(b.n.Outputs)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		trips, cond, err := loopBounds(ins[0], ins[1])
		if err != nil {
			return nil, err
		}
		carried := append([]*tensor.Tensor{}, ins[2:2+nCarried]...)
		scans := make([][]*tensor.Tensor, nScan)
		formal := make([]*tensor.Tensor, 2+nCarried)
		scanned := 0
		for it := int64(0); cond && (trips < 0 || it < trips); it++ {
			if trips < 0 && it >= loopMaxIterations {
				return nil, fmt.Errorf("more than %d iterations without a trip count", loopMaxIterations)
			}
			if mem != nil && mem.ctx != nil {
				if err := mem.ctx.Err(); err != nil {
					return nil, err
				}
			}
			iter, iv := newTensor[int64](tensor.I64, []int{})
			iv[0] = it
			cv, cd := newTensor[uint8](tensor.Bool, []int{})
			if cond {
				cd[0] = 1
			}
			formal[0], formal[1] = iter, cv
			copy(formal[2:], carried)
			outs, err := body.runSub(mem, formal, ins, outerIdx)
			if err != nil {
				return nil, fmt.Errorf("iteration %d: %w", it, err)
			}
			if outs[0] == nil || outs[0].Numel() != 1 || outs[0].DType != tensor.Bool {
				return nil, fmt.Errorf("iteration %d: the body's condition is not one bool", it)
			}
			cond = elems[uint8](outs[0])[0] != 0
			copy(carried, outs[1:1+nCarried])
			for k := range scans {
				scans[k] = append(scans[k], outs[1+nCarried+k])
				if scanned += outs[1+nCarried+k].Numel(); scanned > maxOutputElements {
					return nil, fmt.Errorf("iteration %d: the scan outputs exceed %d elements", it, maxOutputElements)
				}
			}
		}
		return loopOutputs(nOut, carried, scans, body.outputs[1+nCarried:])
	}, nil
}

// loopBounds reads Loop's optional trip count M (-1 when absent) and initial condition.
func loopBounds(m, c *tensor.Tensor) (trips int64, cond bool, err error) {
	trips, cond = -1, true
	if m != nil {
		if m.Numel() != 1 {
			return 0, false, fmt.Errorf("M has shape %v, want one int64", m.Shape)
		}
		trips = elems[int64](m)[0]
	}
	if c != nil {
		if c.Numel() != 1 {
			return 0, false, fmt.Errorf("cond has shape %v, want one bool", c.Shape)
		}
		cond = elems[uint8](c)[0] != 0
	}
	return trips, cond, nil
}

// loopOutputs is Loop's nOut outputs: the final loop-carried values, then each scan
// output's per-iteration values stacked (scanInfo gives their declared types).
func loopOutputs(nOut int, carried []*tensor.Tensor, scans [][]*tensor.Tensor, scanInfo []ValueInfo) ([]*tensor.Tensor, error) {
	res := make([]*tensor.Tensor, nOut)
	copy(res, carried)
	for k := 0; len(carried)+k < nOut; k++ {
		st, err := stack(scans[k], scanInfo[k])
		if err != nil {
			return nil, fmt.Errorf("scan output %d: %w", k, err)
		}
		res[len(carried)+k] = st
	}
	return res, nil
}

// stack joins a Loop's per-iteration scan values along a new first axis. With no iteration
// the result is empty, with the body output's known dims (0 where unknown).
func stack(parts []*tensor.Tensor, info ValueInfo) (*tensor.Tensor, error) {
	if len(parts) == 0 {
		shape := []int{0}
		for _, d := range info.Shape {
			shape = append(shape, max(d, 0))
		}
		dt := info.DType
		if dt == tensor.Invalid {
			dt = tensor.F32
		}
		return tensor.New(dt, shape...), nil
	}
	first := parts[0]
	shape := append([]int{len(parts)}, first.Shape...)
	if err := checkOutputSize(shape); err != nil {
		return nil, err
	}
	out := tensor.New(first.DType, shape...)
	size := len(first.Data)
	for i, p := range parts {
		if p.DType != first.DType || !slices.Equal(p.Shape, first.Shape) {
			return nil, fmt.Errorf("iteration %d gives %v %v, iteration 0 gave %v %v", i, p.DType, p.Shape, first.DType, first.Shape)
		}
		copy(out.Data[i*size:(i+1)*size], p.Contiguous().Data[:size])
	}
	return out, nil
}
