package calib

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats/npy"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
	"google.golang.org/protobuf/proto"
)

const models = "../examples/models/"

func digits(t testing.TB) *graph.Graph { return loadModel(t, "digits_cnn.onnx") }

func calibNPY(t testing.TB) data.Source {
	t.Helper()
	src, err := data.NPY(models + "calib.npy")
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// torchRanges is scripts/fixtures/calib_torch_reference.py's output.
type torchRanges struct {
	Batch       int
	Samples     int
	Activations map[string]map[string]struct {
		Min, Max, Scale float64
		ZeroPoint       int32 `json:"zero_point"`
	}
}

func readTorchRanges(t *testing.T) torchRanges {
	b, err := os.ReadFile("testdata/digits_torch_ranges.json")
	if err != nil {
		t.Fatal(err)
	}
	var r torchRanges
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMatchesTorchObservers compares the activations' ranges and qparams with torch's
// MinMaxObserver and HistogramObserver hooked onto the float nn.Module's tensors that the
// ONNX activations are. Our activations come from graph/, whose float results differ
// from torch's in the last bits, hence the relative tolerance.
func TestMatchesTorchObservers(t *testing.T) {
	ref := readTorchRanges(t)
	g := digits(t)
	for _, kind := range []string{"minmax", "histogram"} {
		res, err := Calibrate(context.Background(), g, calibNPY(t), Options{Observer: kind, BatchSize: ref.Batch})
		if err != nil {
			t.Fatal(err)
		}
		if res.Samples != ref.Samples {
			t.Fatalf("%s: %d samples, torch ran %d", kind, res.Samples, ref.Samples)
		}
		if len(res.Activations) != len(ref.Activations) {
			t.Fatalf("%s: %d activations, want the %d torch hooks", kind, len(res.Activations), len(ref.Activations))
		}
		for name, want := range ref.Activations {
			a, ok := res.Activation(name)
			if !ok {
				t.Fatalf("%s: activation %q not calibrated", kind, name)
			}
			w := want[kind]
			check := func(what string, got, want float64) {
				if math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
					t.Errorf("%s %s %s = %v, torch %v", kind, name, what, got, want)
				}
			}
			check("min", float64(a.Min), w.Min)
			check("max", float64(a.Max), w.Max)
			check("scale", float64(a.QParams.Scale[0]), w.Scale)
			if a.QParams.ZeroPoint[0] != w.ZeroPoint {
				t.Errorf("%s %s zero point = %d, torch %d", kind, name, a.QParams.ZeroPoint[0], w.ZeroPoint)
			}
			if name == "input" && kind == "minmax" && (a.QParams.Scale[0] != float32(w.Scale) || a.Min != float32(w.Min) || a.Max != float32(w.Max)) {
				t.Errorf("graph input: %v [%v, %v], torch %v [%v, %v] exactly", a.QParams.Scale[0], a.Min, a.Max, w.Scale, w.Min, w.Max)
			}
		}
	}
}

func TestEveryObserver(t *testing.T) {
	g := digits(t)
	for _, kind := range Observers {
		for _, s := range []quant.Scheme{{}, {QType: quant.QInt8}} {
			res, err := Calibrate(context.Background(), g, calibNPY(t), Options{Observer: kind, Scheme: s})
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			if res.Samples != 150 || len(res.Activations) != 5 {
				t.Fatalf("%s: %d samples, %d activations", kind, res.Samples, len(res.Activations))
			}
			for _, a := range res.Activations {
				p := a.QParams
				if len(p.Scale) != 1 || !(p.Scale[0] > 0) || p.Axis != -1 {
					t.Errorf("%s %s: qparams %+v", kind, a.Name, p)
				}
				// Every activation here is >= 0: a ReLU output or an image in [0, 1].
				wantZP := int32(0)
				if s.QType == quant.QInt8 {
					wantZP = -128
				}
				if p.ZeroPoint[0] != wantZP {
					t.Errorf("%s %s (%s): zero point %d, want %d", kind, a.Name, p.Scheme.QType.Name, p.ZeroPoint[0], wantZP)
				}
				if a.ClipMax > a.Max || a.ClipMin < a.Min || a.Histogram == nil || a.Histogram.Total() == 0 {
					t.Errorf("%s %s: clip [%v, %v] outside range [%v, %v], histogram %v", kind, a.Name, a.ClipMin, a.ClipMax, a.Min, a.Max, a.Histogram)
				}
				if len(a.Consumers) == 0 {
					t.Errorf("%s %s: no consumers", kind, a.Name)
				}
			}
		}
	}
}

// TestDeterministicAcrossWorkers: the observers see batches in sample order whatever the
// number of workers, so results are identical, histograms included.
func TestDeterministicAcrossWorkers(t *testing.T) {
	g := digits(t)
	var first *Result
	for _, workers := range []int{1, 2, 3, 8} {
		res, err := Calibrate(context.Background(), g, calibNPY(t), Options{Workers: workers, BatchSize: 7})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = res
			continue
		}
		if !reflect.DeepEqual(first.Activations, res.Activations) {
			t.Fatalf("workers=%d gives different activations than workers=1", workers)
		}
	}
	// The histogram observer depends on the batches it sees, as torch's does.
	other, err := Calibrate(context.Background(), g, calibNPY(t), Options{BatchSize: 150})
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(first.Activations, other.Activations) {
		t.Log("batch 7 and batch 150 happen to agree")
	}
}

func TestFewerSamplesWarning(t *testing.T) {
	var warned []string
	res, err := Calibrate(context.Background(), digits(t), calibNPY(t), Options{Samples: 200, Warn: func(s string) { warned = append(warned, s) }})
	if err != nil {
		t.Fatal(err)
	}
	want := `calibration used 150 samples, fewer than the 200 asked for: data "calib.npy" has only 150`
	if len(warned) != 1 || warned[0] != want || !reflect.DeepEqual(res.Warnings, warned) {
		t.Fatalf("warnings %q (result %q), want %q", warned, res.Warnings, want)
	}
	if res.Samples != 150 || res.Asked != 200 {
		t.Fatalf("samples %d asked %d", res.Samples, res.Asked)
	}
	// Fewer than the data holds: no warning, exactly that many samples.
	warned = nil
	res, err = Calibrate(context.Background(), digits(t), calibNPY(t), Options{Samples: 40, Warn: func(s string) { warned = append(warned, s) }})
	if err != nil || res.Samples != 40 || len(warned) != 0 {
		t.Fatalf("samples=40: %v, %d samples, warnings %q", err, res.Samples, warned)
	}
}

func TestShapeMismatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "calib.npy")
	if err := npy.WriteFile(path, tensor.New(tensor.F32, 4, 1, 9, 9)); err != nil {
		t.Fatal(err)
	}
	src, err := data.NPY(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Calibrate(context.Background(), digits(t), src, Options{})
	want := `calibration data "calib.npy": sample shape [1,9,9] does not fit model input "input" [N,1,8,8] (a sample is the input without its batch axis 0; set batch_axis for "input" otherwise)`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	var se *ShapeError
	if !errors.As(err, &se) {
		t.Fatalf("%T is not a *ShapeError", err)
	}
	mem, _ := data.Tensors(map[string]*tensor.Tensor{"x": tensor.New(tensor.F32, 2, 64)}, nil)
	_, err = Calibrate(context.Background(), digits(t), mem, Options{})
	want = `calibration data "tensors": sample shape [64] does not fit model input "input" [N,1,8,8] (a sample is the input without its batch axis 0; set batch_axis for "input" otherwise)`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

// TestUnsupportedOpBeforeCalibration: a model with an op the executor lacks fails at
// graph.Load, naming the op and node, so calibration never starts.
func TestUnsupportedOpBeforeCalibration(t *testing.T) {
	f, err := onnx.Open(models + "digits_cnn.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := proto.Clone(f.Proto()).(*onnxpb.ModelProto)
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "Relu" {
			n.OpType = proto.String("TfIdfVectorizer")
			n.Name = proto.String("/relu2/TfIdfVectorizer")
			break
		}
	}
	_, err = graph.Load(m, graph.Options{})
	if !errors.Is(err, graph.ErrUnsupported) || !strings.Contains(err.Error(), "TfIdfVectorizer") || !strings.Contains(err.Error(), "/relu2/TfIdfVectorizer") {
		t.Fatalf("load error %v: want an unsupported-op error naming TfIdfVectorizer and its node", err)
	}
}

func TestTargets(t *testing.T) {
	g := digits(t)
	want := []string{"input", "/relu1/Relu_output_0", "/pool/MaxPool_output_0", "/Flatten_output_0", "/relu4/Relu_output_0"}
	if got := DefaultTargets(g); !reflect.DeepEqual(got, want) {
		t.Fatalf("DefaultTargets = %q, want %q", got, want)
	}
	res, err := Calibrate(context.Background(), g, calibNPY(t), Options{Targets: []string{"/relu1/Relu_output_0"}, Samples: 10})
	if err != nil || len(res.Activations) != 1 || res.Activations[0].Consumers[0] != "/conv2/Conv" {
		t.Fatalf("one target: %v %+v", err, res)
	}
	for _, tc := range []struct{ target, want string }{
		{"nope", `calib: target "nope" is no tensor of the model`},
		{"conv2.weight", `calib: target "conv2.weight" is an initializer (a weight), not an activation`},
	} {
		_, err := Calibrate(context.Background(), g, calibNPY(t), Options{Targets: []string{tc.target}})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("target %q: %v, want %q", tc.target, err, tc.want)
		}
	}
}

func TestBadOptions(t *testing.T) {
	g := digits(t)
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Observer: "histo"}, `calib: unknown observer "histo"; valid: entropy, histogram, minmax, moving_average, mse, percentile`},
		{Options{Scheme: quant.Scheme{QType: quant.Int4}}, "calib: activations are quantized to uint8 or int8 in QDQ models, not int4"},
		{Options{BatchSize: -1}, "calib: batch size -1: must be at least 1"},
	} {
		_, err := Calibrate(context.Background(), g, calibNPY(t), tc.opts)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.want)
		}
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Calibrate(ctx, digits(t), calibNPY(t), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestNonFiniteData(t *testing.T) {
	x := tensor.New(tensor.F32, 3, 1, 8, 8)
	x.F32()[70] = float32(math.NaN())
	src, _ := data.Tensors(map[string]*tensor.Tensor{"input": x}, nil)
	_, err := Calibrate(context.Background(), digits(t), src, Options{Observer: "minmax"})
	if !errors.Is(err, quant.ErrNonFinite) || !strings.Contains(err.Error(), `activation "input"`) {
		t.Fatalf("error %v: want a non-finite error naming the activation", err)
	}
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	if _, err := Calibrate(context.Background(), digits(t), calibNPY(t), Options{Progress: &buf, ProgressMode: ProgressOn}); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "150/150 [") || !strings.Contains(out, "samples/s") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("progress output %q", out)
	}
	buf.Reset()
	// Auto: a bytes.Buffer is no terminal.
	if _, err := Calibrate(context.Background(), digits(t), calibNPY(t), Options{Progress: &buf}); err != nil || buf.Len() != 0 {
		t.Fatalf("auto progress on a buffer: %v %q", err, buf.String())
	}
}

func TestKey(t *testing.T) {
	base := Key("m1", "d1", Options{})
	if Key("m1", "d1", Options{Samples: 150, Observer: "histogram", Workers: 7, Warn: func(string) {}}) != base {
		t.Error("defaults spelled out, workers and warn change the key")
	}
	for name, k := range map[string]string{
		"model":    Key("m2", "d1", Options{}),
		"data":     Key("m1", "d2", Options{}),
		"samples":  Key("m1", "d1", Options{Samples: 10}),
		"observer": Key("m1", "d1", Options{Observer: "minmax"}),
		"qtype":    Key("m1", "d1", Options{Scheme: quant.Scheme{QType: quant.QInt8}}),
		"numerics": Key("m1", "d1", Options{Scheme: quant.Scheme{QType: quant.QUInt8, Numerics: quant.ORT}}),
		"batch":    Key("m1", "d1", Options{BatchSize: 8}),
		"targets":  Key("m1", "d1", Options{Targets: []string{"input"}}),
	} {
		if k == base {
			t.Errorf("%s does not change the key", name)
		}
	}
}

func TestDisplayHistogram(t *testing.T) {
	var h displayHistogram
	h.add([]float32{0, 0.5, 1})
	h.add([]float32{-300, 2, 1000}) // widens the grid several times
	r := h.report()
	if r.Total() != 6 || r.Min > -300 || r.Max < 1000 {
		t.Fatalf("histogram %+v", r)
	}
	if (&displayHistogram{}).report() != nil {
		t.Fatal("an empty histogram reports something")
	}
}

// TestDisplayHistogramCount checks count's multiply-by-reciprocal, four-way binning against
// the plain loop (floor(v/width), clamped) on values with runs of zeros, ties on bin edges
// and lengths not a multiple of four.
func TestDisplayHistogramCount(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	// Width 2^-130 takes the float64 kernel (its reciprocal is no float32), the others the
	// float32 one (2^120 is about the widest a finite float32 range needs); at 2^100 the
	// values of every fourth place are so small that their products underflow (a negative
	// one to -0).
	for _, width := range []float64{1.0 / 1024, 0.25, 1, 8, 0x1p-130, 0x1p100, 0x1p120} {
		for _, n := range []int{1, 3, 4, 7, 8, 12, 1001} {
			values := make([]float32, n)
			for i := range values {
				switch i % 4 {
				case 0:
					values[i] = 0
				case 1:
					values[i] = float32(rng.Intn(200)-100) * float32(width) // on an edge
				case 2:
					values[i] = float32(rng.NormFloat64() * 40 * width)
				default:
					values[i] = float32(rng.NormFloat64() * 1e-30)
				}
			}
			h := displayHistogram{width: width}
			h.count(values)
			var want [displayBins]int64
			for _, v := range values {
				i := int(math.Floor(float64(v)/width)) + displayBins/2
				want[min(max(i, 0), displayBins-1)]++
			}
			if h.counts != want {
				t.Fatalf("width %g, %d values: counts differ from the plain loop", width, n)
			}
		}
	}
}

// TestDisplayHistogramCountScalar runs TestDisplayHistogramCount's check on the scalar loop
// too, where the AVX2 binning would otherwise take every full group of four.
func TestDisplayHistogramCountScalar(t *testing.T) {
	if !haveAVX2 {
		t.Skip("the scalar loop is the only one here")
	}
	haveAVX2 = false
	defer func() { haveAVX2 = true }()
	TestDisplayHistogramCount(t)
}

// cancelAfter is a source whose reader cancels the calibration when it is asked for batch
// number at (counting from 0), mid-run: workers are then running, waiting for their turn
// to observe or for a batch, and the producer for a job.
type cancelAfter struct {
	data.Source
	cancel context.CancelFunc
	at     int
}

func (s cancelAfter) Open(ctx context.Context) (data.Reader, error) {
	rd, err := s.Source.Open(ctx)
	return &cancelReader{Reader: rd, s: s}, err
}

type cancelReader struct {
	data.Reader
	s    cancelAfter
	read int
}

func (r *cancelReader) Next(n int) (*data.Batch, error) {
	if r.read == r.s.at {
		r.s.cancel()
	}
	r.read++
	return r.Reader.Next(n)
}

// TestCancelDuringRun cancels calibrations mid-run with several workers and expects
// context.Canceled, every goroutine gone afterwards (no wait missed the cancellation).
func TestCancelDuringRun(t *testing.T) {
	g := loadModel(t, "encoder_block_op17.onnx")
	src := tiledNPY(t, "encoder_calib.npy", 640)
	before := runtime.NumGoroutine()
	for _, workers := range []int{1, 2, 3} {
		for _, at := range []int{1, 2, 5} {
			ctx, cancel := context.WithCancel(context.Background())
			_, err := Calibrate(ctx, g, cancelAfter{Source: src, cancel: cancel, at: at}, Options{Workers: workers, BatchSize: 8, ProgressMode: ProgressOff})
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("workers=%d, cancelled at batch %d: error %v, want context.Canceled", workers, at, err)
			}
		}
	}
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(10 * time.Millisecond) // goroutines that have returned may take a moment to exit
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines before the calibrations, %d after", before, n)
	}
}
