package qdq

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
	"google.golang.org/protobuf/proto"
)

// readNPZ returns the raw element bytes of each array of a numpy .npz (test-only; it
// trusts numpy's output).
func readNPZ(t *testing.T, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	header := regexp.MustCompile(`'fortran_order': False`)
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.HasPrefix(b, []byte("\x93NUMPY\x01")) {
			t.Fatalf("%s: bad npy", f.Name)
		}
		hlen := int(binary.LittleEndian.Uint16(b[8:10]))
		if !header.Match(b[10 : 10+hlen]) {
			t.Fatalf("%s: fortran order", f.Name)
		}
		out[strings.TrimSuffix(f.Name, ".npy")] = b[10+hlen:]
	}
	return out
}

func f32s(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// tinyPlan builds the plan of the fixture: the activation qparams and per-channel weight
// scales that scripts/fixtures/onnx_fixtures.py chose.
func tinyPlan(t *testing.T, want map[string][]byte) *Plan {
	plan := &Plan{Nodes: map[string]NodePlan{}, Activations: map[string]*quant.QParams{}, Record: `{"scheme":"test"}`}
	for i := 0; i < 3; i++ {
		name := string(want[fmt.Sprintf("act%d_name", i)])
		plan.Activations[name] = &quant.QParams{
			Scheme:    quant.Scheme{QType: quant.QUInt8},
			Scale:     f32s(want[fmt.Sprintf("act%d_scale", i)]),
			ZeroPoint: []int32{int32(want[fmt.Sprintf("act%d_zp", i)][0])},
			Axis:      -1,
		}
	}
	for op, node := range map[string]string{"Conv": "/conv/Conv", "Gemm": "/fc/Gemm", "MatMul": "/MatMul"} {
		axis := map[string]int{"Conv": 0, "Gemm": 0, "MatMul": 1}[op]
		scale := f32s(want[op+"_scale"])
		plan.Nodes[node] = NodePlan{Weight: &quant.QParams{
			Scheme: quant.Scheme{QType: quant.QInt8, Symmetric: true}, Scale: scale,
			ZeroPoint: make([]int32, len(scale)), Axis: axis,
		}}
	}
	return plan
}

func openTiny(t *testing.T) (*onnx.File, map[string][]byte) {
	f, err := onnx.Open("testdata/tinynet.onnx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, readNPZ(t, "testdata/tinynet_qdq.npz")
}

// TestExportMatchesNumpy checks the int8 weight codes and int32 bias codes against the
// values numpy computed with ONNX Runtime's quantizer arithmetic, and the graph layout
// against ORT's naming.
func TestExportMatchesNumpy(t *testing.T) {
	f, want := openTiny(t)
	before := proto.Clone(f.Proto())
	q, err := Export(f.Proto(), tinyPlan(t, want))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(before, f.Proto()) {
		t.Fatal("Export modified its input")
	}
	inits := map[string]*onnxpb.TensorProto{}
	for _, tp := range q.Graph.Initializer {
		inits[tp.GetName()] = tp
	}
	for _, op := range []string{"Conv", "Gemm", "MatMul"} {
		w := string(want[op+"_weight"])
		tp := inits[w+"_quantized"]
		if tp == nil || tp.GetDataType() != int32(onnxpb.TensorProto_INT8) {
			t.Fatalf("%s: no int8 %s_quantized", op, w)
		}
		if !bytes.Equal(tp.RawData, want[op+"_codes"]) {
			t.Errorf("%s: weight codes differ from numpy's", op)
		}
		if !bytes.Equal(inits[w+"_scale"].RawData, want[op+"_scale"]) {
			t.Errorf("%s: weight scales differ", op)
		}
		if _, float := inits[w]; float {
			t.Errorf("%s: float weight %s still stored", op, w)
		}
		if b, ok := want[op+"_bias_codes"]; ok {
			bias := map[string]string{"Conv": "conv.bias", "Gemm": "fc.bias"}[op]
			if got := inits[bias+"_quantized"]; got == nil || !bytes.Equal(got.RawData, b) || got.GetDataType() != int32(onnxpb.TensorProto_INT32) {
				t.Errorf("%s: bias codes differ from numpy's", op)
			}
			if got := inits[bias+"_quantized_scale"]; got == nil || !bytes.Equal(got.RawData, want[op+"_bias_scale"]) {
				t.Errorf("%s: bias scale differs from numpy's", op)
			}
		}
	}
	var layout []string
	for _, n := range q.Graph.Node {
		line := fmt.Sprintf("%s %s %v -> %v", n.GetOpType(), n.GetName(), n.Input, n.Output)
		for _, a := range n.Attribute {
			if a.GetName() == "axis" && n.GetOpType() == "DequantizeLinear" {
				line += fmt.Sprintf(" axis=%d", a.GetI())
			}
		}
		layout = append(layout, line)
	}
	wantLayout := []string{
		"QuantizeLinear input_QuantizeLinear [input input_scale input_zero_point] -> [input_QuantizeLinear_Output]",
		"DequantizeLinear input_DequantizeLinear [input_QuantizeLinear_Output input_scale input_zero_point] -> [input_DequantizeLinear_Output]",
		"DequantizeLinear conv.weight_DequantizeLinear [conv.weight_quantized conv.weight_scale conv.weight_zero_point] -> [conv.weight_DequantizeLinear_Output] axis=0",
		"DequantizeLinear conv.bias_DequantizeLinear [conv.bias_quantized conv.bias_quantized_scale conv.bias_quantized_zero_point] -> [conv.bias] axis=0",
		"Conv /conv/Conv [input_DequantizeLinear_Output conv.weight_DequantizeLinear_Output conv.bias] -> [/conv/Conv_output_0]",
		"Relu /Relu [/conv/Conv_output_0] -> [/Relu_output_0]",
		// Flatten's pair, repeated before it so that ORT fuses the Conv and drops this pair.
		"QuantizeLinear /Relu_output_0_QuantizeLinear [/Relu_output_0 /Flatten_output_0_scale /Flatten_output_0_zero_point] -> [/Relu_output_0_QuantizeLinear_Output]",
		"DequantizeLinear /Relu_output_0_DequantizeLinear [/Relu_output_0_QuantizeLinear_Output /Flatten_output_0_scale /Flatten_output_0_zero_point] -> [/Relu_output_0_DequantizeLinear_Output]",
		"Flatten /Flatten [/Relu_output_0_DequantizeLinear_Output] -> [/Flatten_output_0]",
		"QuantizeLinear /Flatten_output_0_QuantizeLinear [/Flatten_output_0 /Flatten_output_0_scale /Flatten_output_0_zero_point] -> [/Flatten_output_0_QuantizeLinear_Output]",
		"DequantizeLinear /Flatten_output_0_DequantizeLinear [/Flatten_output_0_QuantizeLinear_Output /Flatten_output_0_scale /Flatten_output_0_zero_point] -> [/Flatten_output_0_DequantizeLinear_Output]",
		"DequantizeLinear fc.weight_DequantizeLinear [fc.weight_quantized fc.weight_scale fc.weight_zero_point] -> [fc.weight_DequantizeLinear_Output] axis=0",
		"DequantizeLinear fc.bias_DequantizeLinear [fc.bias_quantized fc.bias_quantized_scale fc.bias_quantized_zero_point] -> [fc.bias] axis=0",
		"Gemm /fc/Gemm [/Flatten_output_0_DequantizeLinear_Output fc.weight_DequantizeLinear_Output fc.bias] -> [/fc/Gemm_output_0]",
		"Relu /Relu_1 [/fc/Gemm_output_0] -> [/Relu_1_output_0]",
		"QuantizeLinear /Relu_1_output_0_QuantizeLinear [/Relu_1_output_0 /Relu_1_output_0_scale /Relu_1_output_0_zero_point] -> [/Relu_1_output_0_QuantizeLinear_Output]",
		"DequantizeLinear /Relu_1_output_0_DequantizeLinear [/Relu_1_output_0_QuantizeLinear_Output /Relu_1_output_0_scale /Relu_1_output_0_zero_point] -> [/Relu_1_output_0_DequantizeLinear_Output]",
		"DequantizeLinear w_DequantizeLinear [w_quantized w_scale w_zero_point] -> [w_DequantizeLinear_Output] axis=1",
		"MatMul /MatMul [/Relu_1_output_0_DequantizeLinear_Output w_DequantizeLinear_Output] -> [output]",
	}
	if strings.Join(layout, "\n") != strings.Join(wantLayout, "\n") {
		t.Errorf("graph layout:\n%s\nwant:\n%s", strings.Join(layout, "\n"), strings.Join(wantLayout, "\n"))
	}
	md := map[string]string{}
	for _, p := range q.MetadataProps {
		md[p.GetKey()] = p.GetValue()
	}
	if md["quantization"] != `{"scheme":"test"}` {
		t.Errorf("metadata %v", md)
	}

	// The exported model survives a write and a read unchanged.
	path := filepath.Join(t.TempDir(), "q.onnx")
	if err := onnx.Write(path, q, nil); err != nil {
		t.Fatal(err)
	}
	back, err := onnx.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if !proto.Equal(back.Proto(), q) {
		t.Error("QDQ model changed through Write and Open")
	}
}

// TestExportWithGivenCodes: codes the caller already computed are stored as given.
func TestExportWithGivenCodes(t *testing.T) {
	f, want := openTiny(t)
	plan := tinyPlan(t, want)
	codes := tensor.New(tensor.I8, 4, 3)
	for i := range codes.Data {
		codes.Data[i] = byte(i * 7)
	}
	np := plan.Nodes["/MatMul"]
	np.Codes = codes
	plan.Nodes["/MatMul"] = np
	q, err := Export(f.Proto(), plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range q.Graph.Initializer {
		if tp.GetName() == "w_quantized" && !bytes.Equal(tp.RawData, codes.Data) {
			t.Error("given codes were not stored")
		}
	}
	np.Codes = tensor.New(tensor.I8, 3, 4)
	plan.Nodes["/MatMul"] = np
	if _, err := Export(f.Proto(), plan); err == nil || err.Error() != `qdq: node "/MatMul" (MatMul): weight "w": codes are I8 [3 4], want I8 [4 3]` {
		t.Errorf("got %v", err)
	}
}

// TestSkipKeepsFloat: a skipped Conv keeps its float weight, bias and input.
func TestSkipKeepsFloat(t *testing.T) {
	f, want := openTiny(t)
	plan := tinyPlan(t, want)
	plan.Nodes["/conv/Conv"] = NodePlan{Skip: true}
	q, err := Export(f.Proto(), plan)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tp := range q.Graph.Initializer {
		names[tp.GetName()] = true
	}
	if !names["conv.weight"] || !names["conv.bias"] || names["conv.weight_quantized"] || names["input_scale"] {
		t.Errorf("skipped conv was quantized: %v", names)
	}
	for _, n := range q.Graph.Node {
		if n.GetName() == "/conv/Conv" && n.Input[0] != "input" {
			t.Errorf("skipped conv reads %v", n.Input)
		}
	}
}

func TestExportErrors(t *testing.T) {
	f, want := openTiny(t)
	cases := []struct {
		name string
		edit func(m *onnxpb.ModelProto, p *Plan)
		want string
	}{
		{"opset 12", func(m *onnxpb.ModelProto, p *Plan) { m.OpsetImport[0].Version = proto.Int64(12) },
			"qdq: the model imports opset 12; QDQ export needs opset 13 or later (per-channel DequantizeLinear): re-export it with torch.onnx.export(..., opset_version=13) or later"},
		{"typo", func(m *onnxpb.ModelProto, p *Plan) { p.Nodes["/conv/Cnv"] = NodePlan{Skip: true} },
			`qdq: the plan names node "/conv/Cnv", which is not in the graph (closest: /conv/Conv, /MatMul, /fc/Gemm)`},
		{"not quantizable", func(m *onnxpb.ModelProto, p *Plan) { p.Nodes["/Relu"] = NodePlan{Skip: true} },
			`qdq: the plan names node "/Relu", a Relu; only Conv, Gemm and MatMul are quantized`},
		{"missing entry", func(m *onnxpb.ModelProto, p *Plan) { delete(p.Nodes, "/fc/Gemm") },
			`qdq: the plan has no entry (quantize or skip) for "/fc/Gemm" (Gemm)`},
		{"missing activation", func(m *onnxpb.ModelProto, p *Plan) { delete(p.Activations, "/Flatten_output_0") },
			`qdq: node "/fc/Gemm" (Gemm): no activation qparams for input "/Flatten_output_0"`},
		{"wrong axis", func(m *onnxpb.ModelProto, p *Plan) { p.Nodes["/MatMul"].Weight.Axis = 0 },
			`qdq: node "/MatMul" (MatMul): weight "w": per-channel axis 0, but the output channels of a MatMul weight [4 3] are on axis 1`},
		{"zero scale", func(m *onnxpb.ModelProto, p *Plan) { p.Activations["input"].Scale = []float32{0} },
			`qdq: node "/conv/Conv" (Conv): activation "input": scale[0] = 0 must be positive and finite`},
		{"zero point range", func(m *onnxpb.ModelProto, p *Plan) { p.Activations["input"].ZeroPoint = []int32{256} },
			`qdq: node "/conv/Conv" (Conv): activation "input": zero point[0] = 256 is outside quint8's range 0..255`},
		{"already quantized", func(m *onnxpb.ModelProto, p *Plan) {
			m.Graph.Initializer = append(m.Graph.Initializer, &onnxpb.TensorProto{Name: proto.String("w_quantized"), DataType: proto.Int32(3), RawData: []byte{}, Dims: []int64{0}})
		}, `qdq: node "/MatMul" (MatMul): tensor name "w_quantized" is already used in the graph (already quantized?)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := proto.Clone(f.Proto()).(*onnxpb.ModelProto)
			p := tinyPlan(t, want)
			c.edit(m, p)
			_, err := Export(m, p)
			if err == nil || err.Error() != c.want {
				t.Errorf("got  %v\nwant %s", err, c.want)
			}
		})
	}
}

// TestPairsStayBeforeFloatReaders: a pair is not repeated upstream of an op whose output a
// float reader (here a graph output) also takes, since that reader would see quantized values.
func TestPairsStayBeforeFloatReaders(t *testing.T) {
	f, want := openTiny(t)
	m := proto.Clone(f.Proto()).(*onnxpb.ModelProto)
	m.Graph.Output = append(m.Graph.Output, &onnxpb.ValueInfoProto{Name: proto.String("/Flatten_output_0")})
	q, err := Export(m, tinyPlan(t, want))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range q.Graph.Node {
		if n.GetName() == "/Relu_output_0_QuantizeLinear" {
			t.Fatal("pair repeated before Flatten, whose output is a graph output")
		}
		if n.GetName() == "/Flatten" && n.Input[0] != "/Relu_output_0" {
			t.Errorf("Flatten reads %v", n.Input)
		}
	}
}
