package calib

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/tensor"
)

func vinfo(name string, dims ...int64) *onnxpb.ValueInfoProto {
	s := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
		if d < 0 {
			dim = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}
		}
		s.Dim = append(s.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: s}}}}
}

func buildGraph(t testing.TB, g *onnxpb.GraphProto, inits map[string]*tensor.Tensor) *graph.Graph {
	t.Helper()
	for name, x := range inits {
		tp, err := onnx.TensorToProto(name, x)
		if err != nil {
			t.Fatal(err)
		}
		g.Initializer = append(g.Initializer, tp)
	}
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(13)}}}
	gr, err := graph.Load(m, graph.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return gr
}

func op(typ string, in []string, out string) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(typ), Name: proto.String("/" + typ + "_" + out), Input: in, Output: []string{out}}
}

// TestStateCarried: with state = {out = "stateN", into = "state"} the samples run in
// order and each run's new state feeds the next: for x = 1 and stateN = 0.5·state + x
// from a zero state, the calibrated range of stateN reaches 2 - 0.5^(n-1), not 1.
func TestStateCarried(t *testing.T) {
	g := buildGraph(t, &onnxpb.GraphProto{
		Node:   []*onnxpb.NodeProto{op("Mul", []string{"state", "half"}, "h"), op("Add", []string{"h", "x"}, "stateN"), op("MatMul", []string{"stateN", "w"}, "y")},
		Input:  []*onnxpb.ValueInfoProto{vinfo("x", -1, 2), vinfo("state", -1, 2)},
		Output: []*onnxpb.ValueInfoProto{vinfo("y", -1, 1), vinfo("stateN", -1, 2)},
	}, map[string]*tensor.Tensor{"half": tensor.FromF32([]int{}, []float32{0.5}), "w": tensor.FromF32([]int{2, 1}, []float32{1, 1})})
	n := 6
	x := tensor.New(tensor.F32, n, 2)
	for i := range x.F32() {
		x.F32()[i] = 1
	}
	src, _ := data.Tensors(map[string]*tensor.Tensor{"x": x}, nil)
	if _, err := Calibrate(context.Background(), g, src, Options{Observer: "minmax"}); err == nil || !strings.Contains(err.Error(), `no array for model input "state"`) {
		t.Fatalf("without state: %v", err)
	}
	res, err := Calibrate(context.Background(), g, src, Options{Observer: "minmax", State: []StatePair{{Out: "stateN", Into: "state"}}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := res.Activation("stateN")
	if want := 2 - math.Pow(0.5, float64(n-1)); math.Abs(float64(a.Max)-want) > 1e-6 || res.Samples != n || res.BatchSize != 1 {
		t.Fatalf("stateN max %v, want %v (%d samples, batch %d)", a.Max, want, res.Samples, res.BatchSize)
	}
	_, err = Calibrate(context.Background(), g, src, Options{State: []StatePair{{Out: "y2", Into: "state"}}})
	if err == nil || !strings.Contains(err.Error(), `state out "y2" is no output of the model (outputs: "y", "stateN")`) {
		t.Fatalf("bad state: %v", err)
	}
}

// wideModel: x [N,16] → MatMul [16,65536] → Relu → MatMul [65536,4]: 256 KiB per sample
// per intermediate value, against 4.3 MiB of weights.
func wideModel(t testing.TB) *graph.Graph {
	w1 := tensor.New(tensor.F32, 16, 65536)
	for i := range w1.F32() {
		w1.F32()[i] = float32(i%7) - 3
	}
	w2 := tensor.New(tensor.F32, 65536, 4)
	for i := range w2.F32() {
		w2.F32()[i] = float32(i%5) - 2
	}
	return buildGraph(t, &onnxpb.GraphProto{
		Node:   []*onnxpb.NodeProto{op("MatMul", []string{"x", "w1"}, "h"), op("Relu", []string{"h"}, "r"), op("MatMul", []string{"r", "w2"}, "y")},
		Input:  []*onnxpb.ValueInfoProto{vinfo("x", -1, 16)},
		Output: []*onnxpb.ValueInfoProto{vinfo("y", -1, 4)},
	}, map[string]*tensor.Tensor{"w1": w1, "w2": w2})
}

// TestMemoryBudgetPeakRSS runs calibrations of a model with wide intermediate values in
// child processes and compares their peak resident memory (VmHWM): with max_memory 16 MiB
// the batch is chosen small and the peak stays within the budget (plus the process's
// baseline and the Go heap's slack); with batch_size 32 forced it is far larger.
func TestMemoryBudgetPeakRSS(t *testing.T) {
	if os.Getenv("QSCRIPT_BUDGET_CHILD") != "" {
		budgetChild(t)
		return
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc: peak RSS is read from /proc/self/status")
	}
	if raceEnabled {
		t.Skip("the race detector multiplies resident memory")
	}
	run := func(mode string) (batch int, grown int64) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryBudgetPeakRSS$", "-test.v")
		cmd.Env = append(os.Environ(), "QSCRIPT_BUDGET_CHILD="+mode, "GOMAXPROCS=2")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child %s: %v\n%s", mode, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if i := strings.Index(line, "BUDGET "); i >= 0 {
				fmt.Sscanf(line[i:], "BUDGET batch=%d grown=%d", &batch, &grown)
			}
		}
		return batch, grown
	}
	const budget = 16 << 20
	b1, rss1 := run("budget")
	b2, rss2 := run("batch32")
	t.Logf("max_memory 16 MiB: batch %d, peak RSS grew %.1f MiB; batch_size 32: peak RSS grew %.1f MiB", b1, float64(rss1)/(1<<20), float64(rss2)/(1<<20))
	if b1 < 1 || b1 >= 32 || b2 != 32 {
		t.Fatalf("batches %d and %d", b1, b2)
	}
	if rss1 > budget+8<<20 {
		t.Errorf("peak RSS grew %.1f MiB with a 16 MiB budget", float64(rss1)/(1<<20))
	}
	if rss2 < 2*rss1 {
		t.Errorf("batch 32 grew the peak RSS by %.1f MiB, the budget by %.1f MiB: the test does not tell them apart", float64(rss2)/(1<<20), float64(rss1)/(1<<20))
	}
}

func budgetChild(t *testing.T) {
	g := wideModel(t)
	x := tensor.New(tensor.F32, 128, 16)
	for i := range x.F32() {
		x.F32()[i] = float32(i%11) / 11
	}
	src, _ := data.Tensors(map[string]*tensor.Tensor{"": x}, nil)
	opts := Options{Samples: 128, Observer: "minmax", MaxMemory: 16 << 20}
	if os.Getenv("QSCRIPT_BUDGET_CHILD") == "batch32" {
		opts.BatchSize = 32
	}
	base := vmHWM(t)
	res, err := Calibrate(context.Background(), g, src, opts)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("BUDGET batch=%d grown=%d\n", res.BatchSize, vmHWM(t)-base)
}

// vmHWM is the process's peak resident set size in bytes.
func vmHWM(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
