package static

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/quant"
)

const models = "../examples/models/"

type fixture struct {
	f   *onnx.File
	g   *graph.Graph
	cal *calib.Result
}

func open(t *testing.T, model, calibData string, opts calib.Options) fixture {
	t.Helper()
	f, err := onnx.Open(models + model)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	g, err := graph.LoadONNX(f)
	if err != nil {
		t.Fatal(err)
	}
	src, err := data.NPY(models + calibData)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := calib.Calibrate(context.Background(), g, src, opts)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{f, g, cal}
}

func evaluate(t *testing.T, fx fixture, q *Plan, src data.Source, workers int) float64Eval {
	t.Helper()
	qg, err := q.Graph()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Evaluate(context.Background(), fx.g, qg, src, EvalOptions{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	out := float64Eval{SQNR: ev.OutputSQNR, Agree: ev.Top1Agreement, N: ev.Samples}
	if ev.FloatAccuracy != nil {
		out.Float, out.Quant = *ev.FloatAccuracy, *ev.QuantAccuracy
	}
	return out
}

type float64Eval struct {
	SQNR, Agree, Float, Quant float64
	N                         int
}

// TestDigitsAccuracyEveryObserver: the QDQ model, run by graph/, stays within one point
// of the float model's accuracy on the 360 held-out digits, whatever the observer.
func TestDigitsAccuracyEveryObserver(t *testing.T) {
	test, err := data.NPZ(models + "test.npz")
	if err != nil {
		t.Fatal(err)
	}
	for _, obs := range calib.Observers {
		for _, int8Acts := range []bool{false, true} {
			opts := calib.Options{Observer: obs}
			if int8Acts {
				opts.Scheme = quant.Scheme{QType: quant.QInt8}
			}
			fx := open(t, "digits_cnn.onnx", "calib.npy", opts)
			q, err := PlanQDQ(context.Background(), fx.f, fx.cal, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			ev := evaluate(t, fx, q, test, 0)
			t.Logf("%-14s int8 activations %-5v: float %.4f quantized %.4f agreement %.4f output SQNR %.1f dB", obs, int8Acts, ev.Float, ev.Quant, ev.Agree, ev.SQNR)
			if ev.N != 360 || math.Abs(ev.Float-0.9778) > 1e-3 {
				t.Fatalf("%s: float accuracy %v on %d samples; docs/example-models.md says 0.9778 on 360", obs, ev.Float, ev.N)
			}
			if ev.Float-ev.Quant > 0.01 || ev.SQNR < 25 {
				t.Errorf("%s: quantized accuracy %v vs float %v, output SQNR %v dB", obs, ev.Quant, ev.Float, ev.SQNR)
			}
		}
	}
}

// TestWeightsMatchTorch compares the per-channel symmetric weight qparams and codes with
// torch's PerChannelMinMaxObserver and quantize_per_channel
// (scripts/fixtures/calib_torch_reference.py).
func TestWeightsMatchTorch(t *testing.T) {
	var ref struct {
		Weights map[string]struct {
			Scale       []float64
			ZeroPoint   []int32 `json:"zero_point"`
			CodesSum    int64   `json:"codes_sum"`
			CodesAbsSum int64   `json:"codes_abs_sum"`
		}
	}
	b, err := os.ReadFile("../calib/testdata/digits_torch_ranges.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	fx := open(t, "digits_cnn.onnx", "calib.npy", calib.Options{Samples: 10})
	q, err := PlanQDQ(context.Background(), fx.f, fx.cal, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for node, weight := range map[string]string{"/conv2/Conv": "conv2.weight", "/fc1/Gemm": "fc1.weight"} {
		np := q.QDQ().Nodes[node]
		want := ref.Weights[weight]
		if np.Weight == nil || len(np.Weight.Scale) != len(want.Scale) || np.Weight.Axis != 0 {
			t.Fatalf("%s: plan %+v", node, np)
		}
		for i, s := range want.Scale {
			if np.Weight.Scale[i] != float32(s) || np.Weight.ZeroPoint[i] != want.ZeroPoint[i] {
				t.Fatalf("%s channel %d: scale %v zp %d, torch %v %d", node, i, np.Weight.Scale[i], np.Weight.ZeroPoint[i], float32(s), want.ZeroPoint[i])
			}
		}
		var sum, abs int64
		for _, c := range np.Codes.I8() {
			sum += int64(c)
			abs += int64(max(c, -c))
		}
		if sum != want.CodesSum || abs != want.CodesAbsSum {
			t.Fatalf("%s codes: sum %d abs %d, torch %d %d", node, sum, abs, want.CodesSum, want.CodesAbsSum)
		}
	}
}

func TestSkip(t *testing.T) {
	fx := open(t, "digits_cnn.onnx", "calib.npy", calib.Options{Samples: 20, Observer: "minmax"})
	for _, tc := range []struct {
		skip []string
		want []string
	}{
		{[]string{"/conv1/Conv"}, []string{"/conv1/Conv"}},
		{[]string{"conv2"}, []string{"/conv2/Conv"}},
		{[]string{"fc1.weight"}, []string{"/fc1/Gemm"}},
		{[]string{"/fc*/Gemm", "conv3"}, []string{"/conv3/Conv", "/fc1/Gemm", "/fc2/Gemm"}},
	} {
		opts := DefaultOptions()
		opts.Skip = tc.skip
		q, err := PlanQDQ(context.Background(), fx.f, fx.cal, opts)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range q.Skipped() {
			got = append(got, l.Name)
		}
		if !reflect.DeepEqual(got, tc.want) || len(q.Quantized())+len(got) != 5 {
			t.Errorf("skip %q: skipped %q, want %q", tc.skip, got, tc.want)
		}
		for _, name := range tc.want {
			if !q.QDQ().Nodes[name].Skip {
				t.Errorf("skip %q: plan quantizes %s", tc.skip, name)
			}
		}
	}
	opts := DefaultOptions()
	opts.Skip = []string{"conv4"}
	_, err := PlanQDQ(context.Background(), fx.f, fx.cal, opts)
	if want := `static: skip "conv4" matches no Conv, Gemm or MatMul node (closest: "conv2", "conv3"`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("unknown skip: %v, want %q...", err, want)
	}
}

func TestSaveRecordAndNames(t *testing.T) {
	fx := open(t, "digits_cnn.onnx", "calib.npy", calib.Options{})
	opts := DefaultOptions()
	opts.Skip = []string{"/conv1/Conv"}
	opts.Version = "test"
	opts.Metadata = map[string]string{"dataset": "digits-150"}
	q, err := PlanQDQ(context.Background(), fx.f, fx.cal, opts)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cnn.int8.onnx")
	if err := q.Save(context.Background(), path, nil); err != nil {
		t.Fatal(err)
	}
	out, err := onnx.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var rec Record
	if err := json.Unmarshal([]byte(out.Metadata()["quantization"]), &rec); err != nil {
		t.Fatal(err)
	}
	want := Record{Format: "onnx-qdq", Scheme: q.Scheme(), DType: "int8", Granularity: "per_channel", Symmetric: true,
		Activations: RecordActivations{DType: "uint8", Observer: "histogram", Numerics: "torch"},
		Observer:    "histogram", Samples: 150, Numerics: "torch",
		Quantized: []string{"/conv2/Conv", "/conv3/Conv", "/fc1/Gemm", "/fc2/Gemm"}, Skipped: []string{"/conv1/Conv"}, Version: "test"}
	if !reflect.DeepEqual(rec, want) || out.Metadata()["dataset"] != "digits-150" {
		t.Fatalf("record %+v\nwant   %+v", rec, want)
	}
	names := map[string]bool{}
	for _, ti := range out.Tensors() {
		names[ti.Name] = true
	}
	for _, n := range []string{"conv2.weight_quantized", "conv2.weight_scale", "conv2.weight_zero_point", "conv2.bias_quantized",
		"/relu1/Relu_output_0_scale", "/relu1/Relu_output_0_zero_point", "onnx::Conv_29"} {
		if !names[n] {
			t.Errorf("output lacks initializer %q", n)
		}
	}
	if names["conv2.weight"] || names["input_scale"] {
		t.Error("output keeps the float conv2.weight, or quantizes the skipped conv1's input")
	}
	r := q.Report()
	if r.Totals.Quantized != 4 || r.Totals.Skipped != 1 || r.Layers[0].Reason != "skip list (/conv1/Conv)" || len(r.Activations) != 4 || r.Activations[0].Name == "input" || r.Totals.Ratio < 2 {
		t.Fatalf("report totals %+v, first layer %+v", r.Totals, r.Layers[0])
	}
	inq := q.InputQParams()
	if len(inq) != 4 || inq["/conv2/Conv"] != fx.cal.Activations[1].QParams {
		t.Fatalf("input qparams %v", inq)
	}
}

// TestEncoderBlocks: the transformer block at opsets 13 and 17 calibrates (MatMul of two
// activations included), exports, and its QDQ model runs in graph/ close to float.
func TestEncoderBlocks(t *testing.T) {
	for _, model := range []string{"encoder_block_op13.onnx", "encoder_block_op17.onnx"} {
		fx := open(t, model, "encoder_calib.npy", calib.Options{})
		q, err := PlanQDQ(context.Background(), fx.f, fx.cal, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		var actMatMul int
		for _, l := range q.Quantized() {
			if l.WeightIsActivation {
				actMatMul++
			}
		}
		if len(q.Quantized()) != 6 || actMatMul != 2 {
			t.Fatalf("%s: %d quantized layers, %d MatMuls of activations; want 6 and 2", model, len(q.Quantized()), actMatMul)
		}
		var noWeight int
		for _, rl := range q.Report().Layers {
			if rl.NoWeight {
				noWeight++
			}
		}
		if noWeight != actMatMul {
			t.Errorf("%s: %d report rows without weight statistics, want %d (the MatMuls of activations)", model, noWeight, actMatMul)
		}
		out := filepath.Join(t.TempDir(), "q.onnx")
		if err := q.Save(context.Background(), out, nil); err != nil {
			t.Fatal(err)
		}
		if got := q.Report().Output; got != out {
			t.Errorf("%s: report output %q after Save, want %q", model, got, out)
		}
		inq := q.InputQParams()
		for _, l := range q.Quantized() {
			if _, ok := inq[l.Name]; ok == l.WeightIsActivation {
				t.Errorf("%s: InputQParams has %q: %v; want exactly the layers with a weight tensor", model, l.Name, ok)
			}
		}
		src, _ := data.NPY(models + "encoder_calib.npy")
		ev := evaluate(t, fx, q, data.Limit(src, 40), 0)
		t.Logf("%s: output SQNR %.2f dB over %d samples", model, ev.SQNR, ev.N)
		if ev.SQNR < 20 || ev.N != 40 {
			t.Errorf("%s: output SQNR %.2f dB", model, ev.SQNR)
		}
	}
}

func TestEvaluateDeterministic(t *testing.T) {
	fx := open(t, "digits_cnn.onnx", "calib.npy", calib.Options{Observer: "minmax"})
	q, err := PlanQDQ(context.Background(), fx.f, fx.cal, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	test, _ := data.NPZ(models + "test.npz")
	b7, _ := data.Batched(test, 7)
	one := evaluate(t, fx, q, b7, 1)
	if four := evaluate(t, fx, q, b7, 4); one != four {
		t.Fatalf("1 worker %+v, 4 workers %+v", one, four)
	}
}

func TestWeightOptions(t *testing.T) {
	fx := open(t, "digits_cnn.onnx", "calib.npy", calib.Options{Samples: 20})
	opts := DefaultOptions()
	opts.Weights = WeightOptions{DType: "uint8", PerChannel: false, Symmetric: false}
	opts.Numerics = quant.ORT
	q, err := PlanQDQ(context.Background(), fx.f, fx.cal, opts)
	if err != nil {
		t.Fatal(err)
	}
	np := q.QDQ().Nodes["/fc1/Gemm"]
	if np.Weight.Axis != -1 || len(np.Weight.Scale) != 1 || np.Codes.DType.String() != "U8" {
		t.Fatalf("per-tensor uint8 plan %+v", np.Weight)
	}
	if _, err := q.Graph(); err != nil {
		t.Fatal(err)
	}
	opts.Weights.DType = "int4"
	if _, err := PlanQDQ(context.Background(), fx.f, fx.cal, opts); err == nil || err.Error() != `static: weight dtype "int4": QDQ weights are "int8" or "uint8"` {
		t.Fatalf("int4: %v", err)
	}
}
