package graph

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/qscript-dev/qscript/tensor"
)

// Hooks lets a caller watch a run. Calibration attaches its observers here.
type Hooks struct {
	// AfterNode is called after each node has run, in topological order on the goroutine that
	// called Run, with the node's inputs (nil for omitted optional inputs) and outputs. The
	// tensors are shared with the run and must not be modified; a hook that keeps one after it
	// returns must either name it in Keep or copy it. An error stops the run. It is also
	// called for the nodes of If and Loop subgraphs (Node.Parent is the If or Loop), each
	// time the subgraph runs (every Loop iteration), before the If or Loop node itself.
	AfterNode func(n *Node, inputs, outputs []*tensor.Tensor) error
	// Keep names intermediate values that Run returns alongside the graph outputs instead of
	// dropping them after their last use.
	Keep []string
	// Watch, when set, tells which values AfterNode needs to see, so that the rest need not
	// exist, as in a Run without hooks: a Conv and the Add and Relu (or Clip) after it that
	// alone read its output run as one kernel, the values between them never computed, and
	// an element-wise node writes its output over an input it reads last. AfterNode is still
	// called for every node, with nil for those values. Without Watch, AfterNode sees every
	// value. Kept values and graph outputs are always computed.
	Watch func(name string) bool
}

// sees reports whether the hook (nil: none) looks at value name: AfterNode does, at every
// value Watch names (all of them without Watch). Fusion and in-place nodes leave those alone.
func (h *Hooks) sees(name string) bool {
	return h != nil && h.AfterNode != nil && (h.Watch == nil || h.Watch(name))
}

// Run executes the graph on inputs (by graph-input name) and returns the graph outputs, plus
// the values named in hooks.Keep. hooks may be nil. Each intermediate value is dropped as soon as
// its last consumer has run, and its memory serves later nodes and later Runs (so a hook must
// copy, not keep, the tensors it sees). ctx is checked between nodes. Run never modifies its inputs or the
// graph, so several Runs may share a *Graph concurrently. The values returned belong to the
// caller, but may share data with its inputs or the graph's initializers (an Identity
// output, say), so they are not to be modified in place; a caller that runs the graph many times and is done with each result before the next
// should use a Runner, which allocates next to nothing per run.
func (g *Graph) Run(ctx context.Context, inputs map[string]*tensor.Tensor, hooks *Hooks) (map[string]*tensor.Tensor, error) {
	r, ok := g.runners.Get().(*Runner)
	if !ok {
		r = g.NewRunner()
	}
	out, err := r.run(ctx, inputs, hooks, true)
	if err == nil {
		g.runners.Put(r)
	}
	return out, err
}

// Runner runs one Graph again and again, reusing everything a run needs between runs: the
// value slots, the buffers of intermediate values, the kernels' scratch space and the result
// map. Once its buffers have grown to the largest batch it has seen, a Runner allocates next
// to nothing per run, so a long loop of runs (calibration) creates no garbage for the
// collector to let pile up. A Runner is used by one goroutine at a time; give each worker
// its own.
type Runner struct {
	g      *Graph
	mem    *arena
	values []*tensor.Tensor // by slot
	keep   []bool           // by slot: named in the current Run's Hooks.Keep
	kept   []int            // the slots set in keep
	ins    []*tensor.Tensor // one node's inputs
	result map[string]*tensor.Tensor
	// held are the produced values the last Run returned: their buffers stay owned by the
	// arena, and are released at the end of the next Run (so they may be fed back to it).
	held []*tensor.Tensor
	next []*tensor.Tensor // held values of the Run in progress
	// workers is the kernels' goroutine count (SetWorkers), read by the arena's kernels.
	workers atomic.Int32
	// none is the outputs the hook sees of a fused chain's nodes before the last, whose
	// values a fused run does not compute.
	none [1]*tensor.Tensor
}

// NewRunner returns a Runner of g whose kernels split large ops over GOMAXPROCS goroutines.
func (g *Graph) NewRunner() *Runner { return g.NewRunnerWorkers(0) }

// NewRunnerWorkers returns a Runner of g whose kernels use at most workers goroutines each
// (0 or less: GOMAXPROCS). With workers = 1 every op runs on the goroutine that called Run
// and a warm Runner allocates nothing at all: the choice of a caller that already runs one
// Runner per core (calibration), where splitting each op again would only add goroutines
// and their garbage.
func (g *Graph) NewRunnerWorkers(workers int) *Runner {
	r := &Runner{g: g, values: make([]*tensor.Tensor, len(g.slots)), keep: make([]bool, len(g.slots)),
		result: make(map[string]*tensor.Tensor, len(g.outputs))}
	for i, s := range g.initSlots {
		r.values[s] = g.initializers[g.initOrder[i]]
	}
	r.mem = &arena{workers: &r.workers}
	r.SetWorkers(workers)
	return r
}

// SetWorkers changes the number of goroutines each kernel may use (0 or less: GOMAXPROCS).
// It may be called from any goroutine, also while a Run is in progress: the kernels that
// start afterwards use the new count. Results do not depend on it (kernels split their work
// into disjoint outputs, each computed the same way whatever the split), so a caller that
// runs several Runners at once can lend an idle Runner's cores to the others (calibration's
// last batches).
func (r *Runner) SetWorkers(workers int) {
	r.workers.Store(int32(max(0, min(workers, math.MaxInt32))))
}

// Run is Graph.Run, except that the map and the tensors it returns belong to the Runner:
// they stay valid until the next Run of this Runner returns, and that Run reuses them (it
// may take them as inputs).
func (r *Runner) Run(ctx context.Context, inputs map[string]*tensor.Tensor, hooks *Hooks) (map[string]*tensor.Tensor, error) {
	return r.run(ctx, inputs, hooks, false)
}

// run executes the graph. detach hands the returned values over to the caller (Graph.Run):
// the arena forgets their buffers and the result map is new.
func (r *Runner) run(ctx context.Context, inputs map[string]*tensor.Tensor, hooks *Hooks, detach bool) (map[string]*tensor.Tensor, error) {
	out, err := r.execute(ctx, inputs, hooks, detach)
	if err != nil {
		r.reset()
	}
	return out, err
}

func (r *Runner) execute(ctx context.Context, inputs map[string]*tensor.Tensor, hooks *Hooks, detach bool) (map[string]*tensor.Tensor, error) {
	if err := r.bindInputs(inputs); err != nil {
		return nil, err
	}
	if err := r.markKept(hooks.keepNames()); err != nil {
		return nil, err
	}
	if err := r.runNodes(ctx, hooks); err != nil {
		return nil, err
	}
	return r.collect(hooks.keepNames(), detach), nil
}

// bindInputs checks the fed tensors against the graph inputs and puts them in their slots.
func (r *Runner) bindInputs(inputs map[string]*tensor.Tensor) error {
	g := r.g
	for i, in := range g.inputs {
		t, ok := inputs[in.Name]
		if !ok || t == nil {
			return fmt.Errorf("graph: missing input %q (%v %s)", in.Name, in.DType, shapeString(in.Shape))
		}
		if err := checkInput(in, t); err != nil {
			return err
		}
		if isHalf(in.DType) {
			// A float16 input is computed in float32; float32 data fed to it is first rounded
			// to what the model can hold.
			var err error
			if t.DType == tensor.F32 {
				t, err = roundHalf(t, in.DType)
			} else {
				t = lowerHalf(t)
			}
			if err != nil {
				return err
			}
		}
		r.values[g.inputSlots[i]] = t.Contiguous()
	}
	if len(inputs) != len(g.inputs) {
		for name := range inputs {
			if !g.isInput(name) {
				return fmt.Errorf("graph: %q is not an input of the graph", name)
			}
		}
	}
	return nil
}

// markKept marks the slots of the values Hooks.Keep names, which runNodes must not free.
func (r *Runner) markKept(names []string) error {
	for _, k := range names {
		s, ok := r.g.slots[k]
		if !ok {
			return fmt.Errorf("graph: Keep names %q, which is no value of the graph", k)
		}
		if !r.keep[s] {
			r.keep[s] = true
			r.kept = append(r.kept, s)
		}
	}
	return nil
}

// runNodes runs every node, calls the hook after each, and releases each value after its
// last consumer unless it is kept. A chain of nodes planned for fusion (planFusions) runs
// as one kernel when the hooks allow it (fusable).
func (r *Runner) runNodes(ctx context.Context, hooks *Hooks) error {
	g, mem := r.g, r.mem
	mem.ctx, mem.hooks = ctx, hooks // for the subgraphs of If and Loop
	defer func() { mem.ctx, mem.hooks = nil, nil }()
	defer clear(r.ins)
	for i := 0; i < len(g.nodes); {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := g.nodes[i]
		ins, err := r.gatherInputs(n, false)
		if err != nil {
			return err
		}
		if f := g.fusions[i]; f != nil && r.fusable(f, hooks) {
			if ep, ok := r.epilogueOf(f); ok {
				ran, err := r.runFused(i, f, ins, ep, hooks)
				if err != nil {
					return err
				}
				i += ran
				continue
			}
		}
		mem.donor = r.donor(i, hooks)
		outs, err := safeRun(n, mem, ins)
		if mem.donated {
			ins[0] = nil // overwritten by the output: the hook is told it is gone
		}
		mem.donor, mem.donated = nil, false
		mem.endNode()
		if err != nil {
			return err
		}
		if err := r.finishNode(i, ins, outs, hooks); err != nil {
			return err
		}
		i++
	}
	return nil
}

// donor returns node i's first input when the node may write its output over it
// (elementwiseOut): the node is its last reader and reads it once, the value is the run's own
// (no graph input, initializer or kept value), contiguous, the only value using its
// buffer, and no hook will look at it (Hooks.Watch does not name it). An element-wise node
// then needs no new buffer, and its output is written where the input is still in cache.
func (r *Runner) donor(i int, hooks *Hooks) *tensor.Tensor {
	g, n := r.g, r.g.nodes[i]
	if len(n.inSlots) == 0 || n.inSlots[0] < 0 {
		return nil
	}
	s := n.inSlots[0]
	if !g.produced[s] || r.keep[s] || slices.Index(n.inSlots[1:], s) >= 0 || slices.Index(g.freeSlots[i], s) < 0 {
		return nil
	}
	if hooks.sees(n.Inputs[0]) {
		return nil
	}
	t := r.values[s]
	if t == nil || !t.IsContiguous() || !r.mem.sole(t) {
		return nil
	}
	return t
}

// gatherInputs collects node n's inputs from their slots into r.ins. A missing value is an
// error unless allowNil (the nodes of a fused chain, whose values between them were never
// computed).
func (r *Runner) gatherInputs(n *Node, allowNil bool) ([]*tensor.Tensor, error) {
	ins := r.ins[:0]
	for k, s := range n.inSlots {
		if s < 0 {
			ins = append(ins, nil)
			continue
		}
		t := r.values[s]
		if t == nil && !allowNil {
			return nil, fmt.Errorf("graph: node %q (%s): input %q has no value", n.Name, n.OpType, n.allInputs()[k])
		}
		ins = append(ins, t)
	}
	r.ins = ins
	return ins, nil
}

// finishNode stores the outputs of node i, calls the hook and releases the values whose last
// consumer it is.
func (r *Runner) finishNode(i int, ins, outs []*tensor.Tensor, hooks *Hooks) error {
	g, mem, n := r.g, r.mem, r.g.nodes[i]
	for j, s := range n.outSlots {
		if s >= 0 && outs[j] != nil {
			r.values[s] = outs[j]
			mem.retain(outs[j])
		}
	}
	if hooks != nil && hooks.AfterNode != nil {
		if err := hooks.AfterNode(n, ins[:len(n.Inputs)], outs[:len(n.Outputs)]); err != nil {
			return fmt.Errorf("graph: hook after node %q (%s): %w", n.Name, n.OpType, err)
		}
	}
	for _, s := range g.freeSlots[i] {
		if r.keep[s] {
			continue
		}
		if g.produced[s] && r.values[s] != nil {
			mem.release(r.values[s])
		}
		r.values[s] = nil
	}
	return nil
}

// collect builds the result map of a finished Run (the outputs, then the kept values) and
// ends the Run: the previous Run's results are released only now, so that they could be
// this Run's inputs. With detach the results leave the arena for good (Graph.Run);
// otherwise the Runner holds them until its next Run.
func (r *Runner) collect(keep []string, detach bool) map[string]*tensor.Tensor {
	g := r.g
	result := r.result
	if detach {
		result = make(map[string]*tensor.Tensor, len(g.outputs)+len(r.kept))
	} else {
		clear(result)
	}
	r.next = r.next[:0]
	hold := func(s int, name string) {
		t := r.values[s]
		if _, dup := result[name]; dup {
			return
		}
		if g.produced[s] && t != nil {
			r.next = append(r.next, t)
			if detach {
				// The arena recycles its tensor headers; the caller gets headers of its own.
				t = &tensor.Tensor{DType: t.DType, Shape: slices.Clone(t.Shape), Strides: slices.Clone(t.Strides), Offset: t.Offset, Data: t.Data}
			}
		}
		result[name] = t
	}
	for i, o := range g.outputs {
		hold(g.outputSlots[i], o.Name)
		if t := result[o.Name]; t != nil && isHalf(o.DType) && t.DType == tensor.F32 && g.parent == nil {
			if h, err := t.To(o.DType); err == nil { // float32 always converts
				result[o.Name] = h
			}
		}
	}
	for _, name := range keep {
		hold(g.slots[name], name)
	}
	for _, t := range r.held {
		r.mem.release(t)
	}
	clear(r.held)
	r.held, r.next = r.next, r.held[:0]
	r.clearValues()
	if detach {
		clear(r.held)
		r.held = r.held[:0]
	}
	r.mem.finish(detach)
	return result
}

// keepNames is hooks.Keep, for a possibly nil hooks.
func (h *Hooks) keepNames() []string {
	if h == nil {
		return nil
	}
	return h.Keep
}

// clearValues empties every slot but the initializers' and forgets the kept names.
func (r *Runner) clearValues() {
	for _, s := range r.g.inputSlots {
		r.values[s] = nil
	}
	for _, s := range r.g.outerSlots {
		r.values[s] = nil
	}
	for _, n := range r.g.nodes {
		for _, s := range n.outSlots {
			if s >= 0 {
				r.values[s] = nil
			}
		}
	}
	for _, s := range r.kept {
		r.keep[s] = false
	}
	r.kept = r.kept[:0]
}

// reset drops a failed Run's state; the Runner starts over with an empty arena.
func (r *Runner) reset() {
	r.clearValues()
	clear(r.ins)
	clear(r.held)
	r.held = r.held[:0]
	clear(r.next)
	r.next = r.next[:0]
	r.mem = &arena{workers: &r.workers}
}

// checkInput compares a fed tensor with the declared input type and static dimensions.
func checkInput(in ValueInfo, t *tensor.Tensor) error {
	if in.DType != tensor.Invalid && t.DType != in.DType && !(isHalf(in.DType) && t.DType == tensor.F32) {
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
