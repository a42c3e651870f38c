package graph

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

// modelTolerance is the largest absolute difference allowed against torch's outputs.
const modelTolerance = 1e-4

func loadModelFile(t testing.TB, path string) *onnxpb.ModelProto {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func maxAbsDiff(t testing.TB, got, want *tensor.Tensor) float64 {
	t.Helper()
	if got == nil || !slices.Equal(got.Shape, want.Shape) {
		t.Fatalf("output %v, want shape %v", got, want.Shape)
	}
	worst := 0.0
	g, w := got.ToF64(), want.ToF64()
	for i := range w {
		d := math.Abs(g[i] - w[i])
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		worst = max(worst, d)
	}
	return worst
}

type modelCase struct {
	name  string
	g     *Graph
	input *tensor.Tensor
	want  *tensor.Tensor
}

func loadModelCases(t testing.TB) []modelCase {
	dirs, err := filepath.Glob(filepath.Join("testdata", "models", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no models in testdata/models: %v", err)
	}
	var cases []modelCase
	for _, dir := range dirs {
		g, err := Load(loadModelFile(t, filepath.Join(dir, "model.onnx")), Options{})
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		in, err := readTensorFile(filepath.Join(dir, "test_data_set_0", "input_0.pb"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := readTensorFile(filepath.Join(dir, "test_data_set_0", "output_0.pb"))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, modelCase{filepath.Base(dir), g, in, want})
	}
	return cases
}

// TestTorchModels runs the CNN and encoder blocks exported by scripts/fixtures/graph_models.py
// and compares with torch's outputs.
func TestTorchModels(t *testing.T) {
	for _, c := range loadModelCases(t) {
		out, err := c.g.Run(context.Background(), map[string]*tensor.Tensor{c.g.Inputs()[0].Name: c.input}, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		d := maxAbsDiff(t, out[c.g.Outputs()[0].Name], c.want)
		t.Logf("%s: %d nodes, max |graph - torch| = %.3g", c.name, len(c.g.Nodes()), d)
		if d > modelTolerance {
			t.Errorf("%s: max abs difference %g > %g", c.name, d, modelTolerance)
		}
	}
}

// TestRunConcurrent runs each model from several goroutines at once on one *Graph and expects
// identical results.
func TestRunConcurrent(t *testing.T) {
	for _, c := range loadModelCases(t) {
		inputs := map[string]*tensor.Tensor{c.g.Inputs()[0].Name: c.input}
		ref, err := c.g.Run(context.Background(), inputs, nil)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := c.g.Run(context.Background(), inputs, nil)
				if err != nil {
					errs <- err
					return
				}
				name := c.g.Outputs()[0].Name
				if maxAbsDiff(t, out[name], ref[name]) != 0 {
					errs <- errors.New("concurrent run differs")
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
}

// TestHooksSeeEveryNode checks that the hook sees each node once in order with the right
// arity, that Keep returns an intermediate value, and that a hook error stops the run.
func TestHooksSeeEveryNode(t *testing.T) {
	c := loadModelCases(t)[0]
	inputs := map[string]*tensor.Tensor{c.g.Inputs()[0].Name: c.input}
	var seen []int
	firstOut := c.g.Nodes()[0].Outputs[0]
	out, err := c.g.Run(context.Background(), inputs, &Hooks{
		Keep: []string{firstOut},
		AfterNode: func(n *Node, ins, outs []*tensor.Tensor) error {
			seen = append(seen, n.Index)
			if len(ins) != len(n.Inputs) || len(outs) != len(n.Outputs) {
				t.Errorf("node %s: %d/%d tensors for %d/%d names", n.Name, len(ins), len(outs), len(n.Inputs), len(n.Outputs))
			}
			for i, o := range outs {
				if o == nil && n.Outputs[i] != "" {
					t.Errorf("node %s: output %d is nil", n.Name, i)
				}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(c.g.Nodes()) {
		t.Fatalf("hook saw %d nodes, graph has %d", len(seen), len(c.g.Nodes()))
	}
	for i, idx := range seen {
		if idx != i {
			t.Fatalf("hook order %v", seen)
		}
	}
	if out[firstOut] == nil {
		t.Fatalf("kept value %q missing from the result", firstOut)
	}
	stop := errors.New("stop here")
	_, err = c.g.Run(context.Background(), inputs, &Hooks{AfterNode: func(*Node, []*tensor.Tensor, []*tensor.Tensor) error { return stop }})
	if !errors.Is(err, stop) {
		t.Fatalf("hook error not returned: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.g.Run(ctx, inputs, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run returned %v", err)
	}
}

// TestFreesDeadValues checks that intermediate values are planned to be dropped right after
// their last consumer and never graph outputs.
func TestFreesDeadValues(t *testing.T) {
	for _, c := range loadModelCases(t) {
		lastUse := map[string]int{}
		for i, n := range c.g.Nodes() {
			for _, in := range n.Inputs {
				lastUse[in] = i
			}
		}
		freed := map[string]bool{}
		for i, names := range c.g.freeAfter {
			for _, name := range names {
				if freed[name] {
					t.Fatalf("%s: %q freed twice", c.name, name)
				}
				freed[name] = true
				if last, ok := lastUse[name]; ok && last != i {
					t.Errorf("%s: %q freed after node %d, last used by node %d", c.name, name, i, last)
				}
			}
		}
		for _, n := range c.g.Nodes() {
			for _, o := range n.Outputs {
				if o != "" && !freed[o] && !c.g.isOutput[o] {
					t.Errorf("%s: intermediate %q is never freed", c.name, o)
				}
			}
		}
		for _, o := range c.g.Outputs() {
			if freed[o.Name] {
				t.Errorf("%s: graph output %q is freed", c.name, o.Name)
			}
		}
	}
}

func TestInputChecks(t *testing.T) {
	c := loadModelCases(t)[0]
	name := c.g.Inputs()[0].Name
	bad := tensor.New(tensor.F32, 1, 2, 3)
	_, err := c.g.Run(context.Background(), map[string]*tensor.Tensor{name: bad}, nil)
	if err == nil || !strings.Contains(err.Error(), "[1 2 3]") {
		t.Fatalf("wrong-shape input: %v", err)
	}
	if _, err := c.g.Run(context.Background(), map[string]*tensor.Tensor{}, nil); err == nil {
		t.Fatal("missing input accepted")
	}
	if _, err := c.g.Run(context.Background(), map[string]*tensor.Tensor{name: c.input, "nope": c.input}, nil); err == nil {
		t.Fatal("unknown input accepted")
	}
}
