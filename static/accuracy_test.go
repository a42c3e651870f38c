package static

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/tensor"
)

// logMelModel is the log-mel front end of the issue in small: x (energies spread over
// four decades, as a power spectrum) → MatMul(filterbank) → Log → MatMul(w) → y. Uint8
// activations with x's range round the small energies to 0, so Log gives -inf.
func logMelModel(t *testing.T) (*onnx.File, data.Source) {
	rng := rand.New(rand.NewPCG(11, 12))
	fb := tensor.New(tensor.F32, 8, 8)
	for i := range 8 {
		fb.F32()[i*8+i] = 1
	}
	w := tensor.New(tensor.F32, 8, 3)
	for i := range w.F32() {
		w.F32()[i] = float32(rng.NormFloat64())
	}
	x := tensor.New(tensor.F32, 32, 8)
	for i := range x.F32() {
		x.F32()[i] = float32(math.Exp(-rng.Float64() * 10))
	}
	init := func(name string, v *tensor.Tensor) *onnxpb.TensorProto {
		tp, err := onnx.TensorToProto(name, v)
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
				{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}, {Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 8}}}}}}}}
	}
	node := func(op, name string, in []string, out string) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: in, Output: []string{out}}
	}
	g := &onnxpb.GraphProto{Name: proto.String("logmel"),
		Initializer: []*onnxpb.TensorProto{init("fb", fb), init("w", w)},
		Node: []*onnxpb.NodeProto{node("MatMul", "/mel/MatMul", []string{"x", "fb"}, "mel"), node("Log", "/log", []string{"mel"}, "logmel"),
			node("MatMul", "/head/MatMul", []string{"logmel", "w"}, "y")},
		Input: []*onnxpb.ValueInfoProto{vi("x")}, Output: []*onnxpb.ValueInfoProto{{Name: proto.String("y")}}}
	src, err := data.Tensors(map[string]*tensor.Tensor{"": x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return decodeGraph(t, g), src
}

// TestCheckLogMel: the check reports the destroyed output (output SQNR -inf, the zeros
// reaching Log, naming node, input and range), and min_sqnr keeps the node that causes it
// in float, after which the output is close to the float model's.
func TestCheckLogMel(t *testing.T) {
	ctx := context.Background()
	f, src := logMelModel(t)
	g, err := graph.LoadONNX(f)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := calib.Calibrate(ctx, g, src, calib.Options{Observer: "minmax"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := PlanQDQ(ctx, f, cal, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	checked, err := q.Check(ctx, g, src, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := checked.Report()
	// The head's input range clamps Log's -inf, so the output is finite but damaged;
	// the mel MatMul alone sends -inf to the output.
	if r.Accuracy == nil || r.Accuracy.OutputSQNR > 15 || len(r.Accuracy.Nodes) != 2 || r.Accuracy.Nodes[0].Name != "/mel/MatMul" ||
		!math.IsInf(r.Accuracy.Nodes[0].SQNR, -1) {
		t.Fatalf("accuracy %+v", r.Accuracy)
	}
	joined := strings.Join(r.Warnings, "\n")
	for _, want := range []string{"calibration samples is below 15 dB", `worst nodes: "/mel/MatMul" (-inf dB alone, input "x" range [`,
		`node "/mel/MatMul" alone costs about 30.0 dB`,
		`feed Log node "/log" (input "mel", float range [`, "log(0) is -inf"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings lack %q:\n%s", want, joined)
		}
	}
	if !strings.Contains(r.String(), "accuracy check on 16 calibration samples: output SQNR ") {
		t.Errorf("text report:\n%s", r)
	}
	// The warnings change nothing: the checked model exports what the unchecked one does.
	a, _ := q.Proto()
	b, _ := checked.Proto()
	if !proto.Equal(a, b) {
		t.Fatal("the check changed the exported model")
	}

	fixed, err := q.Check(ctx, g, src, CheckOptions{MinSQNR: 20})
	if err != nil {
		t.Fatal(err)
	}
	r = fixed.Report()
	if len(r.Accuracy.Kept) != 1 || r.Accuracy.Kept[0].Name != "/mel/MatMul" || r.Accuracy.OutputSQNR < 20 || r.Accuracy.Kept[0].GainDB <= 5 {
		t.Fatalf("min_sqnr: %+v", r.Accuracy)
	}
	if len(fixed.Quantized()) != 1 || fixed.Skipped()[0].Name != "/mel/MatMul" {
		t.Fatalf("min_sqnr kept %v float", fixed.Skipped())
	}
	if strings.Contains(strings.Join(r.Warnings, "\n"), "below 15 dB") {
		t.Errorf("warnings after min_sqnr: %v", r.Warnings)
	}
	for _, l := range r.Layers {
		if l.Name == "/mel/MatMul" && l.Reason != "kept in float by min_sqnr" {
			t.Errorf("reason %q", l.Reason)
		}
	}
}

// TestCheckDigits: on the digits CNN the check finds a healthy output and names no node.
func TestCheckDigits(t *testing.T) {
	ctx := context.Background()
	fx := open(t, "digits_cnn.onnx", "calib.npy", calib.Options{})
	q, err := PlanQDQ(ctx, fx.f, fx.cal, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	src, err := data.NPY(models + "calib.npy")
	if err != nil {
		t.Fatal(err)
	}
	checked, err := q.Check(ctx, fx.g, src, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := checked.Report()
	acc := r.Accuracy
	if acc.OutputSQNR < 20 || len(acc.Nodes) != len(q.Quantized()) || len(r.Warnings) != 0 {
		t.Fatalf("output SQNR %.1f dB, %d nodes, warnings %v", acc.OutputSQNR, len(acc.Nodes), r.Warnings)
	}
	for i := 1; i < len(acc.Nodes); i++ {
		if acc.Nodes[i].SQNR < acc.Nodes[i-1].SQNR {
			t.Fatalf("nodes not worst first: %+v", acc.Nodes)
		}
		if acc.Nodes[i].SQNR <= acc.OutputSQNR {
			t.Errorf("node %s alone (%.1f dB) is worse than the whole model (%.1f dB)", acc.Nodes[i].Name, acc.Nodes[i].SQNR, acc.OutputSQNR)
		}
	}
	t.Logf("digits: output SQNR %.1f dB, worst node %s %.1f dB alone", acc.OutputSQNR, acc.Nodes[0].Name, acc.Nodes[0].SQNR)
}

// TestCheckMaxDrop: a classifier whose two classes are nearly tied (W's columns differ by
// little), labelled with the float model's own arg-max (float accuracy 100%): int8 flips some
// decisions, and max_drop keeps the node in float until the quantized accuracy is within the
// drop, listing it with the accuracy it reached.
func TestCheckMaxDrop(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(21, 22))
	w := tensor.New(tensor.F32, 8, 2)
	for i := range 8 {
		v := float32(rng.NormFloat64())
		w.F32()[i*2], w.F32()[i*2+1] = v, v+float32(rng.NormFloat64()*0.02)
	}
	x := tensor.New(tensor.F32, 64, 8)
	for i := range x.F32() {
		x.F32()[i] = float32(rng.NormFloat64())
	}
	tp, _ := onnx.TensorToProto("w", w)
	vi := func(name string, d int64) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
				{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}, {Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}}}}}}}}
	}
	f := decodeGraph(t, &onnxpb.GraphProto{Name: proto.String("tied"), Initializer: []*onnxpb.TensorProto{tp},
		Node:  []*onnxpb.NodeProto{{OpType: proto.String("MatMul"), Name: proto.String("/fc/MatMul"), Input: []string{"x", "w"}, Output: []string{"y"}}},
		Input: []*onnxpb.ValueInfoProto{vi("x", 8)}, Output: []*onnxpb.ValueInfoProto{vi("y", 2)}})
	g, err := graph.LoadONNX(f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Run(ctx, map[string]*tensor.Tensor{"x": x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	y := out["y"].F32()
	labels := tensor.New(tensor.I64, 64)
	for i := range 64 {
		labels.I64()[i] = int64(argmax(y[i*2 : i*2+2]))
	}
	src, _ := data.Tensors(map[string]*tensor.Tensor{"": x}, nil)
	eval, err := data.Tensors(map[string]*tensor.Tensor{"": x}, labels)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := calib.Calibrate(ctx, g, src, calib.Options{Observer: "minmax", Samples: 64})
	if err != nil {
		t.Fatal(err)
	}
	q, err := PlanQDQ(ctx, f, cal, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	before, err := q.Check(ctx, g, src, CheckOptions{Eval: eval, MaxDrop: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m := before.Report().Accuracy.Metric; m == nil || m.Float != 1 || m.Quant > 0.99 {
		t.Fatalf("the test needs int8 to flip decisions: %+v", m)
	}
	checked, err := q.Check(ctx, g, src, CheckOptions{Eval: eval, MaxDrop: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	acc := checked.Report().Accuracy
	if acc.Metric == nil || acc.Metric.Quant != 1 || len(acc.Kept) != 1 || acc.Kept[0].Name != "/fc/MatMul" ||
		acc.Kept[0].Loop != "max_drop" || acc.Kept[0].Metric == nil || *acc.Kept[0].Metric != 1 {
		t.Fatalf("max_drop: %+v, metric %+v", acc.Kept, acc.Metric)
	}
	t.Logf("quantized accuracy %.3f before max_drop, 1 after keeping /fc/MatMul float", before.Report().Accuracy.Metric.Quant)
	if _, err := q.Check(ctx, g, src, CheckOptions{Eval: src, MaxDrop: 0.01}); err == nil || !strings.Contains(err.Error(), "has no labels") {
		t.Fatalf("unlabelled eval data: %v", err)
	}
}
