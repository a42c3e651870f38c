package calib

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/tensor"
)

// budgetBatch chooses the batch size from Options.MaxMemory: it runs one sample to
// measure the most bytes its intermediate values hold at once (each worker's Runner keeps
// that much per sample), the bytes of the copied activations (targets inside subgraphs;
// the others are observed during the run) and of the inputs (which every job in flight
// holds), and returns the largest batch, up to DefaultBatchSize, whose runs fit
// next to the weights. A budget the weights and one sample already exceed gives batch 1
// and a warning.
func budgetBatch(ctx context.Context, g *graph.Graph, src data.Source, bind *Binding, targets []string, o Options, workers int) (int, string, error) {
	m, err := measureSample(ctx, g, src, bind, targets)
	if err != nil || m.peak == 0 {
		return 1, "", err
	}
	jobs := int64(workers + 2)
	perSample := int64(workers)*m.peak + jobs*(m.targets+m.inputs)
	avail := o.MaxMemory - m.weights
	b := int64(DefaultBatchSize)
	if o.Samples > 0 {
		b = min(b, int64(o.Samples))
	}
	if avail < perSample {
		return 1, fmt.Sprintf("calibration memory: the weights (%s) and one sample's values (%s with %d runs in flight) exceed max_memory %s; calibrating one sample at a time",
			mib(m.weights), mib(perSample), workers, mib(o.MaxMemory)), nil
	}
	return int(max(1, min(b, avail/perSample))), "", nil
}

// copied lists the targets whose values are copied into jobs: those inside subgraphs.
func copied(targets []string, inSub []bool) []string {
	var out []string
	for i, t := range targets {
		if inSub[i] {
			out = append(out, t)
		}
	}
	return out
}

// sampleMemory is what one sample costs a calibration, in bytes.
type sampleMemory struct {
	peak    int64 // intermediate values alive at once, at most
	targets int64 // the copied target activations (in each job)
	inputs  int64 // the model inputs fed
	weights int64 // the initializers (not per sample)
}

func measureSample(ctx context.Context, g *graph.Graph, src data.Source, bind *Binding, targets []string) (sampleMemory, error) {
	var m sampleMemory
	for _, name := range g.Initializers() {
		if t, ok := g.Initializer(name); ok {
			m.weights += int64(t.Nbytes())
		}
	}
	rd, err := src.Open(ctx)
	if err != nil {
		return m, err
	}
	defer rd.Close()
	b, err := rd.Next(1)
	if err == io.EOF {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	feed, err := bind.Feed(b)
	if err != nil {
		return m, err
	}
	for _, t := range feed {
		m.inputs += int64(t.Nbytes())
	}
	isTarget := map[string]bool{}
	for _, t := range targets {
		isTarget[t] = true
	}
	live := int64(0)
	sizes := map[string]int64{}
	hooks := graph.Hooks{AfterNode: func(n *graph.Node, ins, outs []*tensor.Tensor) error {
		for k, o := range outs {
			if o == nil || k >= len(n.Outputs) {
				continue
			}
			sz := int64(o.Nbytes())
			sizes[n.Outputs[k]] = sz
			live += sz
			if isTarget[n.Outputs[k]] {
				m.targets += sz
			}
		}
		m.peak = max(m.peak, live)
		for _, in := range n.Inputs {
			if sz, ok := sizes[in]; ok && !g.IsOutput(in) {
				if cs := g.Consumers(in); len(cs) > 0 && cs[len(cs)-1] == n {
					live -= sz
					delete(sizes, in)
				}
			}
		}
		return nil
	}}
	if _, err := g.Run(ctx, feed, &hooks); err != nil {
		return m, fmt.Errorf("calib: %w", err)
	}
	return m, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// checkState requires a pair's output to be a model output and its input a model input.
func checkState(g *graph.Graph, s StatePair) error {
	if !g.IsOutput(s.Out) {
		return fmt.Errorf("calib: state out %q is no output of the model (outputs: %s)", s.Out, quotedNames(g.Outputs()))
	}
	if !slices.ContainsFunc(g.Inputs(), func(v graph.ValueInfo) bool { return v.Name == s.Into }) {
		return fmt.Errorf("calib: state into %q is no input of the model (inputs: %s)", s.Into, quotedNames(g.Inputs()))
	}
	return nil
}
