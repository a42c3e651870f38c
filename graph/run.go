package graph

import (
	"context"
	"fmt"

	"github.com/qscript-dev/qscript/tensor"
)

// Hooks lets a caller watch a run. Calibration attaches its observers here.
type Hooks struct {
	// AfterNode is called after each node has run, in topological order on the goroutine that
	// called Run, with the node's inputs (nil for omitted optional inputs) and outputs. The
	// tensors are shared with the run and must not be modified; a hook that keeps one after it
	// returns must either name it in Keep or copy it. An error stops the run.
	AfterNode func(n *Node, inputs, outputs []*tensor.Tensor) error
	// Keep names intermediate values that Run returns alongside the graph outputs instead of
	// dropping them after their last use.
	Keep []string
}

// Run executes the graph on inputs (by graph-input name) and returns the graph outputs, plus
// the values named in hooks.Keep. hooks may be nil. Each intermediate value is dropped as soon as
// its last consumer has run, and its memory serves later nodes and later Runs (so a hook must
// copy, not keep, the tensors it sees). ctx is checked between nodes. Run never modifies its inputs or the
// graph, so several Runs may share a *Graph concurrently.
func (g *Graph) Run(ctx context.Context, inputs map[string]*tensor.Tensor, hooks *Hooks) (map[string]*tensor.Tensor, error) {
	values := make(map[string]*tensor.Tensor, len(g.inputs)+len(g.initializers))
	for name, t := range g.initializers {
		values[name] = t
	}
	for _, in := range g.inputs {
		t, ok := inputs[in.Name]
		if !ok || t == nil {
			return nil, fmt.Errorf("graph: missing input %q (%v %s)", in.Name, in.DType, shapeString(in.Shape))
		}
		if err := checkInput(in, t); err != nil {
			return nil, err
		}
		values[in.Name] = t.Contiguous()
	}
	if len(inputs) != len(g.inputs) {
		for name := range inputs {
			if !g.isInput(name) {
				return nil, fmt.Errorf("graph: %q is not an input of the graph", name)
			}
		}
	}
	var keep map[string]bool
	if hooks != nil && len(hooks.Keep) > 0 {
		keep = make(map[string]bool, len(hooks.Keep))
		for _, k := range hooks.Keep {
			if _, ok := g.infos[k]; !ok {
				return nil, fmt.Errorf("graph: Keep names %q, which is no value of the graph", k)
			}
			keep[k] = true
		}
	}
	mem := g.arenas.get()
	ins := make([]*tensor.Tensor, 0, 8)
	for i, n := range g.nodes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ins = ins[:0]
		for _, name := range n.Inputs {
			if name == "" {
				ins = append(ins, nil)
				continue
			}
			t, ok := values[name]
			if !ok {
				return nil, fmt.Errorf("graph: node %q (%s): input %q has no value", n.Name, n.OpType, name)
			}
			ins = append(ins, t)
		}
		outs, err := safeRun(n, mem, ins)
		if err != nil {
			return nil, err
		}
		for j, name := range n.Outputs {
			if name != "" {
				values[name] = outs[j]
				mem.retain(outs[j])
			}
		}
		if hooks != nil && hooks.AfterNode != nil {
			if err := hooks.AfterNode(n, ins, outs[:len(n.Outputs)]); err != nil {
				return nil, fmt.Errorf("graph: hook after node %q (%s): %w", n.Name, n.OpType, err)
			}
		}
		for _, name := range g.freeAfter[i] {
			if !keep[name] {
				mem.release(values[name])
				delete(values, name)
			}
		}
	}
	g.arenas.put(mem)
	result := make(map[string]*tensor.Tensor, len(g.outputs)+len(keep))
	for _, o := range g.outputs {
		result[o.Name] = values[o.Name]
	}
	for k := range keep {
		result[k] = values[k]
	}
	return result, nil
}

// checkInput compares a fed tensor with the declared input type and static dimensions.
func checkInput(in ValueInfo, t *tensor.Tensor) error {
	if in.DType != tensor.Invalid && t.DType != in.DType {
		return fmt.Errorf("graph: input %q: got %v, the model wants %v", in.Name, t.DType, in.DType)
	}
	if in.Shape == nil {
		return nil
	}
	bad := len(t.Shape) != len(in.Shape)
	for i := 0; !bad && i < len(in.Shape); i++ {
		bad = in.Shape[i] >= 0 && in.Shape[i] != t.Shape[i]
	}
	if bad {
		return fmt.Errorf("graph: input %q: got shape %v, the model wants %s", in.Name, t.Shape, shapeString(in.Shape))
	}
	return nil
}

func shapeString(s []int) string {
	if s == nil {
		return "[?]"
	}
	out := "["
	for i, d := range s {
		if i > 0 {
			out += " "
		}
		if d < 0 {
			out += "?"
		} else {
			out += fmt.Sprint(d)
		}
	}
	return out + "]"
}

func (g *Graph) isInput(name string) bool {
	for _, in := range g.inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}
