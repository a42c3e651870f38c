package static

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/tensor"
)

// The fixture (scripts/fixtures/subgraph_model.py, torch.jit.script): an If whose branches
// hold Gemm /pos/Gemm and /neg/Gemm (weights in the main graph), a Loop whose body holds
// MatMul /MatMul reading the carried value h.25 and the outer weight w, and /head/Gemm.
const subgraphDir = "testdata/subgraph/"

func openSubgraph(t *testing.T, calibFile string) (*onnx.File, *graph.Graph, *calib.Result) {
	t.Helper()
	f, err := onnx.Open(subgraphDir + "model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	g, err := graph.LoadONNX(f)
	if err != nil {
		t.Fatal(err)
	}
	src, err := data.NPY(subgraphDir + calibFile)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := calib.Calibrate(context.Background(), g, src, calib.Options{Observer: "minmax", Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	return f, g, cal
}

// TestSubgraphCalibrateEveryIteration: the Loop body's MatMul input is observed at every
// iteration of every sample, not only the last one.
func TestSubgraphCalibrateEveryIteration(t *testing.T) {
	_, g, cal := openSubgraph(t, "calib.npy")
	if got := calib.DefaultTargets(g); !slices.Equal(got, []string{"x", "h.25", "/Loop_output_0"}) {
		t.Fatalf("DefaultTargets = %q, want x, h.25 and /Loop_output_0", got)
	}
	src, err := data.NPY(subgraphDir + "calib.npy")
	if err != nil {
		t.Fatal(err)
	}
	// The ranges of h.25 over all iterations and over the last iterations only, from the
	// MatMul's inputs as the executor hands them to a hook.
	all := [2]float32{float32(math.Inf(1)), float32(math.Inf(-1))}
	lastOnly := all
	rd, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	iterations := 0
	for {
		b, err := rd.Next(1)
		if err != nil {
			break
		}
		var last []float32
		hooks := graph.Hooks{AfterNode: func(n *graph.Node, ins, _ []*tensor.Tensor) error {
			if n.Name == "/MatMul" {
				last = ins[0].Contiguous().ToF32()
				iterations++
				for _, v := range last {
					all[0], all[1] = min(all[0], v), max(all[1], v)
				}
			}
			return nil
		}}
		var x *tensor.Tensor
		for _, v := range b.Inputs {
			x = v
		}
		if _, err := g.Run(context.Background(), map[string]*tensor.Tensor{"x": x}, &hooks); err != nil {
			t.Fatal(err)
		}
		for _, v := range last {
			lastOnly[0], lastOnly[1] = min(lastOnly[0], v), max(lastOnly[1], v)
		}
	}
	if iterations <= src.Len() {
		t.Fatalf("fixture: %d iterations for %d samples: the Loop must run more than once", iterations, src.Len())
	}
	a, ok := cal.Activation("h.25")
	if !ok {
		t.Fatal("h.25 (the Loop body's carried value) was not calibrated")
	}
	if a.Min != all[0] || a.Max != all[1] {
		t.Errorf("h.25 range [%v, %v], want [%v, %v] (every iteration; the last ones alone give %v)", a.Min, a.Max, all[0], all[1], lastOnly)
	}
	// The report histogram counts every value observed: 16 per iteration.
	var n int64
	for _, c := range a.Histogram.Counts {
		n += c
	}
	if want := int64(16 * iterations); n != want {
		t.Errorf("h.25 histogram holds %d values, want %d (16 per Loop iteration, %d iterations)", n, want, iterations)
	}
	if len(cal.NeverRan) != 0 || len(cal.NotRun) != 0 {
		t.Errorf("NeverRan %q, NotRun %q: both branches ran", cal.NeverRan, cal.NotRun)
	}
}

// TestSubgraphExport: the nodes of both branches and of the Loop body are quantized with
// their DequantizeLinear inside the subgraph, and the QDQ model stays close to the float.
func TestSubgraphExport(t *testing.T) {
	f, g, cal := openSubgraph(t, "calib.npy")
	q, err := PlanQDQ(context.Background(), f, cal, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	rep := q.Report()
	for _, l := range rep.Layers {
		if !l.Quantized {
			t.Errorf("layer %s not quantized: %s", l.Name, l.Reason)
		}
	}
	p, err := q.Proto()
	if err != nil {
		t.Fatal(err)
	}
	sub := map[string]*onnxpb.GraphProto{}
	for _, n := range p.Graph.Node {
		for _, a := range n.Attribute {
			if a.G != nil {
				sub[n.GetName()+"."+a.GetName()] = a.G
			}
		}
	}
	for scope, node := range map[string]string{"/If.then_branch": "/pos/Gemm", "/If.else_branch": "/neg/Gemm", "/Loop.body": "/MatMul"} {
		sg := sub[scope]
		if sg == nil {
			t.Fatalf("no subgraph %s in the QDQ model", scope)
		}
		producers := map[string]string{}
		for _, n := range sg.Node {
			for _, o := range n.Output {
				producers[o] = n.GetOpType()
			}
		}
		var found bool
		for _, n := range sg.Node {
			if n.GetName() != node {
				continue
			}
			found = true
			for i, in := range n.Input[:2] {
				if producers[in] != "DequantizeLinear" {
					t.Errorf("%s input %d %q is not a DequantizeLinear output of %s", node, i, in, scope)
				}
			}
		}
		if !found {
			t.Errorf("%s is not in %s", node, scope)
		}
	}
	for _, init := range p.Graph.Initializer {
		if slices.Contains([]string{"pos.weight", "neg.weight", "w"}, init.GetName()) {
			t.Errorf("float weight %q is still stored; only the subgraphs read it, quantized", init.GetName())
		}
	}
	src, err := data.NPY(subgraphDir + "calib.npy")
	if err != nil {
		t.Fatal(err)
	}
	ev := evaluate(t, fixture{f: f, g: g, cal: cal}, q, src, 1)
	if ev.SQNR < 25 {
		t.Errorf("output SQNR of the QDQ model %.1f dB, want >= 25", ev.SQNR)
	}
	t.Logf("output SQNR %.1f dB on %d samples", ev.SQNR, ev.N)
}

// TestSubgraphBranchNotTaken: calibration data that never takes the else branch leaves
// its Gemm float, saying why.
func TestSubgraphBranchNotTaken(t *testing.T) {
	f, _, cal := openSubgraph(t, "calib_pos.npy")
	if !slices.Equal(cal.NeverRan, []string{"/neg/Gemm"}) {
		t.Fatalf("NeverRan = %q, want /neg/Gemm", cal.NeverRan)
	}
	q, err := PlanQDQ(context.Background(), f, cal, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	rep := q.Report()
	for _, l := range rep.Layers {
		if want := l.Name != "/neg/Gemm"; l.Quantized != want {
			t.Errorf("layer %s quantized %v, want %v (reason %q)", l.Name, l.Quantized, want, l.Reason)
		}
		if l.Name == "/neg/Gemm" && l.Reason != "never ran during calibration (an If branch no sample took)" {
			t.Errorf("/neg/Gemm reason %q", l.Reason)
		}
	}
	if _, err := q.Graph(); err != nil {
		t.Fatal(err)
	}
}
