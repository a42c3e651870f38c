package onnxquant

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/npy"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quantize"
	"github.com/qscript-dev/qscript/tensor"
)

const encoderPath = "../examples/models/encoder_block_op17.onnx"

func openModel(t *testing.T, path string) *onnx.File {
	t.Helper()
	f, err := onnx.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func weightOptions(dtype string, group int, symmetric bool) quantize.Options {
	qo := quantize.DefaultOptions()
	qo.Weights = quantize.WeightOptions{DType: dtype, GroupSize: group, Symmetric: symmetric, PerChannel: true}
	return qo
}

func rewrite(t *testing.T, f *onnx.File, qo quantize.Options, o Options) *Result {
	t.Helper()
	res, err := Rewrite(context.Background(), f, qo, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func nodeNamed(m *onnxpb.ModelProto, name string) *onnxpb.NodeProto {
	for _, n := range m.GetGraph().GetNode() {
		if n.GetName() == name {
			return n
		}
	}
	return nil
}

// encoderSamples returns the first n calibration samples of the encoder as one batch.
func encoderSamples(t *testing.T, n int) *tensor.Tensor {
	t.Helper()
	f, err := npy.OpenFile("../examples/models/encoder_calib.npy")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := f.Load(f.Tensors()[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	per := x.Numel() / x.Shape[0]
	return tensor.FromF32(append([]int{n}, x.Shape[1:]...), slices.Clone(x.ToF32()[:n*per]))
}

func runGraph(t *testing.T, m *onnxpb.ModelProto, x *tensor.Tensor) []float32 {
	t.Helper()
	g, err := graph.Load(m, graph.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Run(context.Background(), map[string]*tensor.Tensor{"input": x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out["output"].ToF32()
}

func relErr(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(a[i]) * float64(a[i])
	}
	return math.Sqrt(num / den)
}

// TestFloat16Encoder: the fp16 encoder keeps float32 io behind graph_input_cast0 /
// graph_output_cast0, stores every initializer in float16 and type-checks in graph/ (which
// computes float16 in float32; interop/85-onnx-out.sh runs it in ONNX Runtime).
func TestFloat16Encoder(t *testing.T) {
	f := openModel(t, encoderPath)
	res := rewrite(t, f, weightOptions(quantize.DTypeFP16, 0, true), DefaultOptions())
	m := res.Model
	nodes := m.GetGraph().GetNode()
	if first, last := nodes[0], nodes[len(nodes)-1]; first.GetName() != "graph_input_cast0" || last.GetName() != "graph_output_cast0" ||
		first.GetOutput()[0] != "graph_input_cast_0" || last.GetInput()[0] != "graph_output_cast_0" {
		t.Fatalf("io casts: first %v, last %v", first, last)
	}
	for _, init := range m.GetGraph().GetInitializer() {
		if init.GetDataType() == typeFloat {
			t.Errorf("initializer %s still float32", init.GetName())
		}
	}
	if got := m.GetGraph().GetInput()[0].GetType().GetTensorType().GetElemType(); got != typeFloat {
		t.Errorf("input type %d, want float32 (keep_io_types)", got)
	}
	if n := nodeNamed(m, "/self_attn/Cast"); onnx.AttrInt(n, "to", 0) != 7 {
		t.Errorf("an integer Cast changed: %v", n)
	}
	if res.Report.Totals.Quantized != 4 {
		t.Errorf("report: %+v", res.Report.Totals)
	}
	// graph/ runs float16 models in float32: the converted graph must type-check there, and
	// give the float model's outputs but for the weights' rounding.
	x := encoderSamples(t, 4)
	if e := relErr(runGraph(t, f.Proto(), x), runGraph(t, m, x)); e > 1e-2 {
		t.Errorf("fp16 model in graph/: relative error %.3g > 1e-2", e)
	}

	o := DefaultOptions()
	o.KeepIOTypes = false
	m = rewrite(t, f, weightOptions(quantize.DTypeFP16, 0, true), o).Model
	if got := m.GetGraph().GetInput()[0].GetType().GetTensorType().GetElemType(); got != typeFloat16 {
		t.Errorf("keep_io_types=false: input type %d, want float16", got)
	}
	if m.GetGraph().GetNode()[0].GetOpType() == "Cast" && m.GetGraph().GetNode()[0].GetName() == "graph_input_cast0" {
		t.Error("keep_io_types=false still casts the input")
	}
}

// TestFloat16BlockedOps builds X -> Resize(scales) -> TopK -> Relu: TopK (in the block
// list) keeps float32 with Casts named as float16.py names them, Resize's scales stay a
// float32 initializer, TopK's int64 indices get no Cast, and a skipped layer's weight
// stays float32.
func TestFloat16BlockedOps(t *testing.T) {
	vi := func(name string, et int32) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(et)}}}}
	}
	scales, _ := onnx.TensorToProto("scales", tensor.FromF32([]int{4}, []float32{1, 1, 2, 2}))
	kt := tensor.New(tensor.I64, 1)
	kt.I64()[0] = 2
	k, _ := onnx.TensorToProto("k", kt)
	w, _ := onnx.TensorToProto("w", tensor.FromF32([]int{2, 1, 1, 1}, []float32{0.5, 1e-9}))
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(8), OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{Name: proto.String("g"),
			Node: []*onnxpb.NodeProto{
				node("Conv", "conv", []string{"x", "w"}, []string{"c"}),
				node("Resize", "resize", []string{"c", "", "scales"}, []string{"r"}),
				node("TopK", "topk", []string{"r", "k"}, []string{"v", "i"}),
				node("Relu", "relu", []string{"v"}, []string{"y"}),
			},
			Initializer: []*onnxpb.TensorProto{scales, k, w},
			Input:       []*onnxpb.ValueInfoProto{vi("x", typeFloat)},
			Output:      []*onnxpb.ValueInfoProto{vi("y", typeFloat), vi("i", 7)},
		}}
	f, err := onnx.Decode(mustMarshal(t, m), "")
	if err != nil {
		t.Fatal(err)
	}
	res := rewrite(t, f, weightOptions(quantize.DTypeFP16, 0, true), DefaultOptions())
	out := res.Model
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
	var ops []string
	for _, n := range out.GetGraph().GetNode() {
		ops = append(ops, n.GetName())
	}
	want := []string{"graph_input_cast0", "conv", "resize", "topk_input_cast0", "topk", "topk_output_cast0", "relu", "graph_output_cast0"}
	if !slices.Equal(ops, want) {
		t.Fatalf("nodes %v, want %v", ops, want)
	}
	topk := nodeNamed(out, "topk")
	if topk.GetInput()[0] != "topk_input_cast_0" || topk.GetOutput()[0] != "topk_output_cast_0" || topk.GetOutput()[1] != "i" {
		t.Errorf("topk %v", topk)
	}
	types := map[string]int32{}
	for _, init := range out.GetGraph().GetInitializer() {
		types[init.GetName()] = init.GetDataType()
	}
	if types["scales"] != typeFloat || types["w"] != typeFloat16 || types["k"] != 7 {
		t.Errorf("initializer types %v", types)
	}
	// float16.py's clamp: 1e-9 becomes the smallest float16 subnormal, not 0.
	for _, init := range out.GetGraph().GetInitializer() {
		if init.GetName() == "w" {
			if got := init.GetRawData(); got[2] != 1 || got[3] != 0 {
				t.Errorf("w raw %x: 1e-9 should clamp to 5.96e-08 (0x0001)", got)
			}
		}
	}
	// Skipping the conv layer keeps it (and its weight) in float32 with Casts.
	qo := weightOptions(quantize.DTypeFP16, 0, true)
	qo.Skip = layer.Names("conv")
	out = rewrite(t, f, qo, DefaultOptions()).Model
	if n := nodeNamed(out, "conv_output_cast0"); n == nil {
		t.Error("skipped conv has no output Cast")
	}
	for _, init := range out.GetGraph().GetInitializer() {
		if init.GetName() == "w" && init.GetDataType() != typeFloat {
			t.Error("skipped conv's weight converted")
		}
	}
}

func mustMarshal(t *testing.T, m *onnxpb.ModelProto) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInt4Encoder: every MatMul becomes MatMulNBits named as matmul_nbits_quantizer names it;
// Gemm stays float with its reason.
func TestInt4Encoder(t *testing.T) {
	f := openModel(t, encoderPath)
	o := DefaultOptions()
	o.AccuracyLevel = 4
	res := rewrite(t, f, weightOptions(quantize.DTypeUInt4, 32, false), o)
	m := res.Model
	n := nodeNamed(m, "/linear1/MatMul_Q4")
	if n == nil || n.GetDomain() != msDomain || n.GetOpType() != "MatMulNBits" {
		t.Fatalf("no MatMulNBits for /linear1/MatMul: %v", n)
	}
	if onnx.AttrInt(n, "K", 0) != 64 || onnx.AttrInt(n, "N", 0) != 128 || onnx.AttrInt(n, "bits", 0) != 4 || onnx.AttrInt(n, "block_size", 0) != 32 || onnx.AttrInt(n, "accuracy_level", -1) != 4 {
		t.Errorf("attributes %v", n.GetAttribute())
	}
	if !slices.Equal(n.GetInput(), []string{"/norm1/LayerNormalization_output_0", "onnx::MatMul_127_Q4", "onnx::MatMul_127_scales", "onnx::MatMul_127_zero_points"}) {
		t.Errorf("inputs %v", n.GetInput())
	}
	// The producer is qscript; the exporter's version (pytorch 1.13.0) must not follow it.
	if m.GetProducerName() != "qscript" || m.GetProducerVersion() != "" {
		t.Errorf("producer %q version %q", m.GetProducerName(), m.GetProducerVersion())
	}
	if nodeNamed(m, "/self_attn/Gemm") == nil || onnx.OpsetVersion(m, msDomain) != 1 {
		t.Error("Gemm replaced, or no com.microsoft opset")
	}
	for _, l := range res.Report.Layers {
		if l.Type == "Gemm" && (l.Quantized || l.Reason == "") {
			t.Errorf("Gemm layer %+v", l)
		}
	}
}

// TestDynamicEncoder: the first MatMul becomes quantize_dynamic's node chain with its names.
func TestDynamicEncoder(t *testing.T) {
	f := openModel(t, encoderPath)
	m := rewrite(t, f, weightOptions(quantize.DTypeInt8, 0, true), DefaultOptions()).Model
	x := "/self_attn/Transpose_output_0"
	want := []struct{ op, name string }{
		{"DynamicQuantizeLinear", x + "_QuantizeLinear"},
		{"MatMulInteger", "/self_attn/MatMul_quant"},
		{"Cast", "/self_attn/MatMul_output_0_output_quantized_cast"},
		{"Mul", "/self_attn/MatMul_quant_scales_mul"},
		{"Mul", "/self_attn/MatMul_quant_output_scale_mul"},
	}
	for _, w := range want {
		if n := nodeNamed(m, w.name); n == nil || n.GetOpType() != w.op {
			t.Errorf("no %s %q", w.op, w.name)
		}
	}
	mi := nodeNamed(m, "/self_attn/MatMul_quant")
	if !slices.Equal(mi.GetInput(), []string{x + "_quantized", "onnx::MatMul_126_quantized", x + "_zero_point", "onnx::MatMul_126_zero_point"}) {
		t.Errorf("MatMulInteger inputs %v", mi.GetInput())
	}
	if out := nodeNamed(m, "/self_attn/MatMul_quant_output_scale_mul").GetOutput()[0]; out != "/self_attn/MatMul_output_0" {
		t.Errorf("the chain ends in %s", out)
	}
}

func TestRewriteErrors(t *testing.T) {
	f := openModel(t, encoderPath)
	for _, c := range []struct {
		qo   quantize.Options
		o    func(*Options)
		want string
	}{
		{weightOptions(quantize.DTypeFP8E4M3, 0, true), nil, "no ONNX form"},
		{weightOptions(quantize.DTypeInt4, 48, true), nil, "power of two"},
		{weightOptions(quantize.DTypeInt4, 0, true), func(o *Options) { o.Method = MethodGPTQ }, "needs calibration data"},
		{weightOptions(quantize.DTypeInt4, 0, true), func(o *Options) { o.AccuracyLevel = 9 }, "accuracy_level"},
	} {
		o := DefaultOptions()
		if c.o != nil {
			c.o(&o)
		}
		_, err := Rewrite(context.Background(), f, c.qo, o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

// TestFloat16ModelStaysForIntegerForms: an fp16 model's weights are not quantized to the
// integer forms (their activations are float16, which DynamicQuantizeLinear and
// MatMulNBits' float32 path do not take); each layer says why.
func TestFloat16ModelStaysForIntegerForms(t *testing.T) {
	f := openModel(t, encoderPath)
	fp16 := rewrite(t, f, weightOptions(quantize.DTypeFP16, 0, true), DefaultOptions()).Model
	path := filepath.Join(t.TempDir(), "fp16.onnx")
	if err := onnx.Write(path, fp16, nil); err != nil {
		t.Fatal(err)
	}
	g := openModel(t, path)
	for _, dt := range []string{quantize.DTypeInt8, quantize.DTypeInt4} {
		res := rewrite(t, g, weightOptions(dt, 32, true), DefaultOptions())
		for _, l := range res.Report.Layers {
			if l.Quantized || l.Reason == "" {
				t.Errorf("%s: layer %s of an fp16 model: quantized %v, reason %q", dt, l.Name, l.Quantized, l.Reason)
			}
		}
	}
}

// TestBF16EncoderRuns: the bf16 form (bfloat16 initializers behind Casts, float32
// computation) runs in graph/ within bfloat16's rounding of the float model.
func TestBF16EncoderRuns(t *testing.T) {
	f := openModel(t, encoderPath)
	res := rewrite(t, f, weightOptions(quantize.DTypeBF16, 0, true), DefaultOptions())
	for _, init := range res.Model.GetGraph().GetInitializer() {
		if init.GetDataType() == typeFloat {
			t.Errorf("initializer %s still float32", init.GetName())
		}
	}
	x := encoderSamples(t, 4)
	if e := relErr(runGraph(t, f.Proto(), x), runGraph(t, res.Model, x)); e > 1e-2 {
		t.Errorf("bf16 relative error %.3g > 1e-2", e)
	}
}

// TestBF16Compute: bf16_compute converts like fp16, with bfloat16 types.
func TestBF16Compute(t *testing.T) {
	f := openModel(t, encoderPath)
	o := DefaultOptions()
	o.BF16Compute = true
	m := rewrite(t, f, weightOptions(quantize.DTypeBF16, 0, true), o).Model
	if n := m.GetGraph().GetNode()[0]; n.GetName() != "graph_input_cast0" || onnx.AttrInt(n, "to", 0) != int64(typeBFloat16) {
		t.Errorf("first node %v", n)
	}
	for _, init := range m.GetGraph().GetInitializer() {
		if init.GetDataType() == typeFloat || init.GetDataType() == typeFloat16 {
			t.Errorf("initializer %s is %d, want bfloat16", init.GetName(), init.GetDataType())
		}
	}
}

// TestNothingQuantizedWarns: int4 on a model without MatMul weights (the digits CNN: Conv
// and Gemm) quantizes no layer, and says so.
func TestNothingQuantizedWarns(t *testing.T) {
	f := openModel(t, "../examples/models/digits_cnn.onnx")
	res := rewrite(t, f, weightOptions(quantize.DTypeInt4, 32, true), DefaultOptions())
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.HasPrefix(w, "no layer was quantized") }) {
		t.Errorf("warnings %q", res.Warnings)
	}
	res = rewrite(t, openModel(t, encoderPath), weightOptions(quantize.DTypeInt4, 32, true), DefaultOptions())
	if slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.HasPrefix(w, "no layer was quantized") }) {
		t.Errorf("encoder: warnings %q", res.Warnings)
	}
}

// TestUnnamedNodeAfterSubgraphs: an unnamed node after an If and a Loop keeps its layer in
// the ONNX output's report. Its layer is named by its position among all nodes, subgraph
// nodes included (layer.List); the rewriter once counted main-graph nodes only, so the
// layer matched no node and was left out without a word.
func TestUnnamedNodeAfterSubgraphs(t *testing.T) {
	src := openModel(t, "../static/testdata/subgraph/model.onnx")
	m := proto.Clone(src.Proto()).(*onnxpb.ModelProto)
	for _, n := range m.GetGraph().GetNode() {
		n.Name = nil
	}
	f, err := onnx.Decode(mustMarshal(t, m), "")
	if err != nil {
		t.Fatal(err)
	}
	res := rewrite(t, f, weightOptions(quantize.DTypeInt8, 0, true), DefaultOptions())
	for _, l := range res.Report.Layers {
		if l.Name == "Gemm_23" {
			return
		}
	}
	t.Errorf("no layer Gemm_23 in the report: %+v", res.Report.Layers)
}
