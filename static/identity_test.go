package static

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/tensor"
)

// identityModel builds the pattern torch.onnx.export writes for constants it stored once:
//
//	x → conv1(w1, b) → Relu → conv2(w2, Identity(b)) → conv3(Identity(Identity(w2)), Identity(Identity(b)))
//	  → Flatten → MatMul(Identity(m)) → y
//
// conv1 and conv2 share the bias b through an Identity (their input scales differ),
// conv3 shares conv2's weight through a chain of two Identity nodes, and the MatMul's
// weight m comes through an Identity.
func identityModel(t *testing.T) *onnx.File {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	init := func(name string, dims ...int64) *onnxpb.TensorProto {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.5)
		}
		return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims,
			DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: append([]byte(nil), tensor.Bytes(v)...)}
	}
	node := func(op, name string, in []string, out string) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: in, Output: []string{out}}
	}
	vi := func(name string, dims ...int64) *onnxpb.ValueInfoProto {
		shape := &onnxpb.TensorShapeProto{}
		for _, d := range dims {
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape}}}}
	}
	g := &onnxpb.GraphProto{
		Name: proto.String("identity_shared"),
		Initializer: []*onnxpb.TensorProto{
			init("conv1.weight", 3, 2, 1, 1), init("conv1.bias", 3), init("conv2.weight", 3, 3, 1, 1), init("m", 48, 5),
		},
		Node: []*onnxpb.NodeProto{
			node("Identity", "/Identity", []string{"conv1.bias"}, "onnx::b_1"),
			node("Identity", "/Identity_1", []string{"conv2.weight"}, "onnx::w_1"),
			node("Identity", "/Identity_2", []string{"onnx::w_1"}, "onnx::w_2"),
			node("Identity", "/Identity_3", []string{"onnx::b_1"}, "onnx::b_2"),
			node("Identity", "/Identity_4", []string{"m"}, "onnx::m_1"),
			node("Conv", "/conv1/Conv", []string{"x", "conv1.weight", "conv1.bias"}, "c1"),
			node("Relu", "/relu/Relu", []string{"c1"}, "r1"),
			node("Conv", "/conv2/Conv", []string{"r1", "conv2.weight", "onnx::b_1"}, "c2"),
			node("Conv", "/conv3/Conv", []string{"c2", "onnx::w_2", "onnx::b_2"}, "c3"),
			node("Flatten", "/Flatten", []string{"c3"}, "f"),
			node("MatMul", "/fc/MatMul", []string{"f", "onnx::m_1"}, "y"),
		},
		Input:  []*onnxpb.ValueInfoProto{vi("x", 1, 2, 4, 4)},
		Output: []*onnxpb.ValueInfoProto{vi("y", 1, 5)},
	}
	return decodeGraph(t, g)
}

func decodeGraph(t *testing.T, g *onnxpb.GraphProto) *onnx.File {
	t.Helper()
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}}}
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

// TestIdentityOfInitializer: a weight or bias reached through Identity nodes is planned,
// calibrated and exported as the initializer it is, not as an activation.
func TestIdentityOfInitializer(t *testing.T) {
	ctx := context.Background()
	f := identityModel(t)

	layers := layer.Nodes(f)
	want := []layer.Layer{
		{Name: "/conv1/Conv", Weight: "conv1.weight", Bias: "conv1.bias"},
		{Name: "/conv2/Conv", Weight: "conv2.weight", Bias: "conv1.bias"},
		{Name: "/conv3/Conv", Weight: "conv2.weight", Bias: "conv1.bias"},
		{Name: "/fc/MatMul", Weight: "m"},
	}
	if len(layers) != len(want) {
		t.Fatalf("%d layers, want %d", len(layers), len(want))
	}
	for i, l := range layers {
		if l.Name != want[i].Name || l.Weight != want[i].Weight || l.Bias != want[i].Bias || l.WeightIsActivation || l.InputIsConstant || len(l.Shape) < 2 {
			t.Errorf("layer %d = %+v, want weight %q bias %q from initializers", i, l, want[i].Weight, want[i].Bias)
		}
	}

	g, err := graph.LoadONNX(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := calib.DefaultTargets(g), []string{"x", "r1", "c2", "f"}; !slices.Equal(got, want) {
		t.Errorf("calibration targets %v, want %v (no Identity of an initializer)", got, want)
	}
	if _, err := calib.Calibrate(ctx, g, nil, calib.Options{Targets: []string{"onnx::m_1"}}); err == nil {
		t.Error("calibrating an Identity of an initializer: no error")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 16*2*4*4)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	src, err := data.Tensors(map[string]*tensor.Tensor{"x": tensor.FromF32([]int{16, 2, 4, 4}, x)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := calib.Calibrate(ctx, g, src, calib.Options{Samples: 16, Observer: "minmax"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := PlanQDQ(ctx, f, cal, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Skipped()) != 0 {
		t.Errorf("skipped %v", q.Skipped())
	}
	plan := q.QDQ()
	for _, l := range want {
		np := plan.Nodes[l.Name]
		if np.Weight == nil || np.Weight.Axis < 0 || np.Codes == nil || np.Codes.DType != tensor.I8 {
			t.Errorf("%s: plan %+v, want int8 per-channel weight codes", l.Name, np)
		}
	}
	if plan.Nodes["/conv2/Conv"].Weight != plan.Nodes["/conv3/Conv"].Weight {
		t.Error("the shared weight conv2.weight was quantized twice")
	}

	p, err := q.Proto()
	if err != nil {
		t.Fatal(err)
	}
	producer := map[string]*onnxpb.NodeProto{}
	ops := map[string]int{}
	for _, n := range p.Graph.Node {
		ops[n.GetOpType()]++
		for _, o := range n.Output {
			producer[o] = n
		}
	}
	if ops["Identity"] != 0 {
		t.Errorf("%d Identity nodes left; nothing reads them any more", ops["Identity"])
	}
	inits := map[string]*onnxpb.TensorProto{}
	for _, it := range p.Graph.Initializer {
		inits[it.GetName()] = it
	}
	for _, name := range []string{"conv1.weight", "conv1.bias", "conv2.weight", "m"} {
		if inits[name] != nil {
			t.Errorf("float initializer %q is still in the QDQ model", name)
		}
	}
	// conv2.weight is quantized once, per channel, and read by conv2 and conv3 alike.
	biasScale := map[string][]float32{}
	for _, n := range p.Graph.Node {
		if n.GetOpType() != "Conv" && n.GetOpType() != "MatMul" {
			continue
		}
		for i, in := range n.Input {
			dq := producer[in]
			if dq == nil || dq.GetOpType() != "DequantizeLinear" {
				t.Fatalf("%s input %d %q comes from %v, want DequantizeLinear", n.GetName(), i, in, dq)
			}
			codes := inits[dq.Input[0]]
			switch {
			case i == 1:
				if codes == nil || codes.GetDataType() != int32(onnxpb.TensorProto_INT8) || len(dq.Attribute) != 1 {
					t.Errorf("%s weight %q: want int8 per-channel codes", n.GetName(), dq.Input[0])
				}
			case i == 2:
				if codes == nil || codes.GetDataType() != int32(onnxpb.TensorProto_INT32) {
					t.Errorf("%s bias %q: want int32 codes", n.GetName(), dq.Input[0])
				}
				biasScale[dq.Input[0]] = f32(inits[dq.Input[1]].GetRawData())
			}
		}
	}
	if got := producer[nodeInput(p, "/conv3/Conv", 1)].Input[0]; got != "conv2.weight_quantized" {
		t.Errorf("conv3 reads %q, want conv2.weight_quantized", got)
	}
	// The shared bias: one int32 copy per consumer scale, input_scale × weight_scale each.
	for node, codes := range map[string]string{"/conv1/Conv": "conv1.bias_quantized", "/conv2/Conv": "conv1.bias0_quantized", "/conv3/Conv": "conv1.bias1_quantized"} {
		if got := producer[nodeInput(p, node, 2)].Input[0]; got != codes {
			t.Errorf("%s bias from %q, want %q", node, got, codes)
			continue
		}
		var l plannedLayer
		for _, pl := range q.layers {
			if pl.Name == node {
				l = pl
			}
		}
		ws := plan.Nodes[node].Weight.Scale
		for c, s := range biasScale[codes] {
			if want := l.input.Scale[0] * ws[c]; s != want {
				t.Errorf("%s bias scale[%d] = %v, want %v", node, c, s, want)
			}
		}
	}

	// The QDQ model computes what the float model does, within int8 error.
	qg, err := q.Graph()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Evaluate(ctx, g, qg, src, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev.OutputSQNR < 25 || math.IsNaN(ev.OutputSQNR) {
		t.Errorf("output SQNR %.2f dB, want > 25", ev.OutputSQNR)
	}
}

func nodeInput(p *onnxpb.ModelProto, name string, i int) string {
	for _, n := range p.Graph.Node {
		if n.GetName() == name {
			return n.Input[i]
		}
	}
	return ""
}

func f32(b []byte) []float32 {
	t, _ := tensor.FromBytes(tensor.F32, []int{len(b) / 4}, b)
	return t.F32()
}

// TestSharedWeightOtherAxis: a weight shared by a Gemm (transB=1, channels on axis 0) and a
// MatMul (channels on axis 1) holds one set of codes; the second reader stays float.
func TestSharedWeightOtherAxis(t *testing.T) {
	ctx := context.Background()
	v := make([]float32, 16)
	for i := range v {
		v[i] = float32(i%5) - 2.5
	}
	w := &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{4, 4},
		DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: append([]byte(nil), tensor.Bytes(v)...)}
	gemm := &onnxpb.NodeProto{OpType: proto.String("Gemm"), Name: proto.String("/gemm"), Input: []string{"x", "w"}, Output: []string{"h"},
		Attribute: []*onnxpb.AttributeProto{{Name: proto.String("transB"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)}}}
	f := decodeGraph(t, &onnxpb.GraphProto{
		Name:        proto.String("shared_axis"),
		Initializer: []*onnxpb.TensorProto{w},
		Node: []*onnxpb.NodeProto{
			gemm,
			{OpType: proto.String("Identity"), Name: proto.String("/Identity"), Input: []string{"w"}, Output: []string{"w_alias"}},
			{OpType: proto.String("MatMul"), Name: proto.String("/matmul"), Input: []string{"h", "w_alias"}, Output: []string{"y"}},
		},
		Input:  []*onnxpb.ValueInfoProto{{Name: proto.String("x")}},
		Output: []*onnxpb.ValueInfoProto{{Name: proto.String("y")}},
	})
	g, err := graph.LoadONNX(f)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 8*4)
	for i := range x {
		x[i] = float32(i%7)/3 - 1
	}
	src, err := data.Tensors(map[string]*tensor.Tensor{"x": tensor.FromF32([]int{8, 4}, x)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := calib.Calibrate(ctx, g, src, calib.Options{Samples: 8, Observer: "minmax"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := PlanQDQ(ctx, f, cal, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if s := q.Skipped(); len(s) != 1 || s[0].Name != "/matmul" {
		t.Fatalf("skipped %v, want /matmul", s)
	}
	rep := q.Report()
	if r := rep.Layers[1].Reason; r != `weight "w" is shared with "/gemm", quantized along another axis` {
		t.Errorf("reason %q", r)
	}
	if _, err := q.Proto(); err != nil {
		t.Fatal(err)
	}
}
