package static

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quantize"
	"github.com/qscript-dev/qscript/tensor"
)

// constantModel builds, at the given opset, what Paddle-style exporters write: weights as
// Constant nodes, and constant subgraphs computing weights:
//
//	x → Conv(W1 = Constant, B1 = Cast(Constant f64)) → Relu → Conv(W2 = Reshape(Constant, shape))
//	  → Flatten → MatMul(Transpose(Constant)) → Softmax(axis=1) → y
//
// then Reshape(z, Constant shape) → Softmax(axis=1) → Squeeze, the Squeeze with an axes
// attribute below opset 13, and the Softmax on the last axis of a [N,1,5] tensor. The
// activation's shape constant is no weight and stays a Constant node.
func constantModel(t *testing.T, opset int64) *onnx.File {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	randT := func(dt tensor.DType, shape ...int) *tensor.Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.5)
		}
		x := tensor.FromF32(shape, v)
		if dt != tensor.F32 {
			x, _ = x.To(dt)
		}
		return x
	}
	constant := func(name, out string, x *tensor.Tensor) *onnxpb.NodeProto {
		tp, err := onnx.TensorToProto("", x)
		if err != nil {
			t.Fatal(err)
		}
		tp.Name = nil
		return &onnxpb.NodeProto{OpType: proto.String("Constant"), Name: proto.String(name), Output: []string{out},
			Attribute: []*onnxpb.AttributeProto{{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: tp}}}
	}
	node := func(op, name string, in []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: in, Output: []string{out}, Attribute: attrs}
	}
	intA := func(name string, v int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
	}
	shape := tensor.New(tensor.I64, 4)
	copy(shape.I64(), []int64{4, 4, 3, 3})
	vi := func(name string, dims ...int64) *onnxpb.ValueInfoProto {
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
	squeeze := node("Squeeze", "/sq", []string{"y4"}, "y", &onnxpb.AttributeProto{Name: proto.String("axes"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: []int64{1}})
	var inits []*onnxpb.TensorProto
	if opset >= 13 {
		ax, _ := onnx.TensorToProto("ax1", func() *tensor.Tensor { a := tensor.New(tensor.I64, 1); a.I64()[0] = 1; return a }())
		inits = append(inits, ax)
		squeeze = node("Squeeze", "/sq", []string{"y4", "ax1"}, "y")
	}
	g := &onnxpb.GraphProto{
		Name:        proto.String("constants"),
		Initializer: inits,
		Node: []*onnxpb.NodeProto{
			constant("/c/w1", "w1", randT(tensor.F32, 4, 3, 3, 3)),
			constant("/c/b1", "b1_64", randT(tensor.F64, 4)),
			node("Cast", "/c/cast", []string{"b1_64"}, "b1", intA("to", int64(onnxpb.TensorProto_FLOAT))),
			node("Conv", "/conv1/Conv", []string{"x", "w1", "b1"}, "c1", &onnxpb.AttributeProto{Name: proto.String("pads"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: []int64{1, 1, 1, 1}}),
			node("Relu", "/relu", []string{"c1"}, "r1"),
			constant("/c/w2flat", "w2flat", randT(tensor.F32, 4*4*3*3)),
			constant("/c/shape", "w2shape", shape),
			node("Reshape", "/c/reshape", []string{"w2flat", "w2shape"}, "w2raw"),
			node("Conv", "/conv2/Conv", []string{"r1", "w2raw"}, "c2"),
			node("Flatten", "/flatten", []string{"c2"}, "f"),
			constant("/c/m", "mT", randT(tensor.F32, 5, 4*2*2)),
			node("Transpose", "/c/transpose", []string{"mT"}, "m"),
			node("MatMul", "/fc/MatMul", []string{"f", "m"}, "z"),
			node("Reshape", "/reshape_act", []string{"z", "zshape"}, "z4"),
			node("Softmax", "/softmax", []string{"z4"}, "y4", intA("axis", 1)),
			squeeze,
		},
		Input:  []*onnxpb.ValueInfoProto{vi("x", -1, 3, 4, 4)},
		Output: []*onnxpb.ValueInfoProto{vi("y", -1, 5)},
	}
	zshape := tensor.New(tensor.I64, 3)
	copy(zshape.I64(), []int64{-1, 1, 5})
	g.Node = slices.Insert(g.Node, 0, constant("/c/zshape", "zshape", zshape))
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(6), Graph: g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}}}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	f, err := onnx.Decode(b, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestFoldWeights: weights computed by Constant subgraphs become initializers of the same
// names; the folded model computes what the original does; shape constants stay nodes.
func TestFoldWeights(t *testing.T) {
	ctx := context.Background()
	f := constantModel(t, 13)
	if n := len(layer.Nodes(f)); n != 3 {
		t.Fatalf("%d layers before folding", n)
	}
	ff, folded, err := FoldWeights(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"w1", "b1", "w2raw", "m"}; !slices.Equal(folded, want) {
		t.Fatalf("folded %v, want %v", folded, want)
	}
	var ops []string
	for _, n := range ff.Proto().GetGraph().GetNode() {
		ops = append(ops, n.GetOpType())
	}
	if want := []string{"Constant", "Conv", "Relu", "Conv", "Flatten", "MatMul", "Reshape", "Softmax", "Squeeze"}; !slices.Equal(ops, want) {
		t.Fatalf("ops after folding %v, want %v", ops, want)
	}
	for _, l := range layer.Nodes(ff) {
		if l.WeightIsActivation || l.Shape == nil {
			t.Errorf("layer %s: weight %q is not an initializer", l.Name, l.Weight)
		}
	}
	ql, err := layer.List(ff, nil)
	if err != nil || len(layer.OfType(ql, "Conv")) != 2 {
		t.Fatalf("layer.List sees %d Convs (%v)", len(layer.OfType(ql, "Conv")), err)
	}
	x := randInput(8)
	a, b := runModel(t, f, x), runModel(t, ff, x)
	if !slices.Equal(a, b) {
		t.Fatalf("folded model computes another output")
	}
	again, more, err := FoldWeights(ctx, ff)
	if err != nil || again != ff || len(more) != 0 {
		t.Fatalf("folding twice: %v, %v", more, err)
	}
}

func randInput(n int) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(5, 6))
	x := tensor.New(tensor.F32, n, 3, 4, 4)
	for i := range x.F32() {
		x.F32()[i] = float32(rng.NormFloat64())
	}
	return x
}

func runModel(t *testing.T, f *onnx.File, x *tensor.Tensor) []float32 {
	t.Helper()
	g, err := graph.LoadONNX(f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Run(context.Background(), map[string]*tensor.Tensor{"x": x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out["y"].ToF32()
}

// TestConstantWeightsOldOpset: an opset-9 model with Constant weights is quantized like a
// torch export: its weights are int8 per channel in the file, the activations calibrated
// are the layers' inputs only, the file is opset 13, and the QDQ model's output is close to
// the float model's.
func TestConstantWeightsOldOpset(t *testing.T) {
	ctx := context.Background()
	for _, opset := range []int64{9, 11} {
		f := constantModel(t, opset)
		p, err := Prepare(ctx, f, quantize.Options{Weights: quantize.WeightOptions{DType: quantize.DTypeInt8, PerChannel: true, Symmetric: true}})
		if err != nil {
			t.Fatal(err)
		}
		g, err := graph.LoadONNX(p.File())
		if err != nil {
			t.Fatal(err)
		}
		x := randInput(64)
		src, err := data.Tensors(map[string]*tensor.Tensor{"": x}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cal, err := calib.Calibrate(ctx, g, src, calib.Options{Samples: 64})
		if err != nil {
			t.Fatal(err)
		}
		var acts []string
		for _, a := range cal.Activations {
			acts = append(acts, a.Name)
		}
		if want := []string{"x", "r1", "f"}; !slices.Equal(acts, want) {
			t.Fatalf("opset %d: calibrated %v, want %v", opset, acts, want)
		}
		q, err := p.Plan(ctx, cal)
		if err != nil {
			t.Fatal(err)
		}
		if len(q.Quantized()) != 3 {
			t.Fatalf("opset %d: %d layers quantized", opset, len(q.Quantized()))
		}
		pm, err := q.Proto()
		if err != nil {
			t.Fatal(err)
		}
		if v := onnx.OpsetVersion(pm, ""); v != 13 {
			t.Fatalf("opset %d: exported at opset %d", opset, v)
		}
		int8s := 0
		for _, tp := range pm.GetGraph().GetInitializer() {
			if tp.GetDataType() == int32(onnxpb.TensorProto_INT8) && strings.HasSuffix(tp.GetName(), "_quantized") {
				int8s++
			}
		}
		if int8s != 3 {
			t.Fatalf("opset %d: %d int8 weights in the file, want 3", opset, int8s)
		}
		if !strings.Contains(q.plan.Record, `"upgraded_from_opset":`+map[int64]string{9: "9", 11: "11"}[opset]) {
			t.Errorf("record %s does not say the model was upgraded", q.plan.Record)
		}
		qg, err := q.Graph()
		if err != nil {
			t.Fatal(err)
		}
		ev, err := Evaluate(ctx, g, qg, src, EvalOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ev.OutputSQNR < 20 || math.IsNaN(ev.OutputSQNR) {
			t.Fatalf("opset %d: output SQNR %.1f dB", opset, ev.OutputSQNR)
		}
		t.Logf("opset %d: output SQNR %.1f dB", opset, ev.OutputSQNR)
	}
}
