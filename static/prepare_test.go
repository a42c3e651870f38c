package static

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quantize"
)

func openModel(t *testing.T, name string) *formats.File {
	t.Helper()
	f, err := formats.Open(models + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestPrepareErrors: the options static quantization cannot take are refused by Prepare,
// before any calibration.
func TestPrepareErrors(t *testing.T) {
	cnn := openModel(t, "digits_cnn.onnx")
	for _, c := range []struct {
		dtype string
		group int
		want  string
	}{
		{"int4", 0, "option 'weights.dtype': static ONNX quantization writes int8 or uint8 weights, not int4"},
		{"fp16", 0, "option 'weights.dtype': static ONNX quantization writes int8 or uint8 weights, not fp16"},
		{"int8", 32, "option 'weights.group_size': static ONNX quantization is per channel or per tensor"},
	} {
		o := quantize.DefaultOptions()
		o.Weights.DType, o.Weights.GroupSize = c.dtype, c.group
		_, err := Prepare(context.Background(), cnn, o)
		if err == nil || err.Error() != c.want {
			t.Errorf("%+v: %v, want %q", o.Weights, err, c.want)
		}
	}
	if _, err := Prepare(context.Background(), openModel(t, "digits_cnn.safetensors"), quantize.DefaultOptions()); !errors.Is(err, ErrNotONNX) {
		t.Errorf("safetensors model: %v, want ErrNotONNX", err)
	}
	o := quantize.DefaultOptions()
	o.Weights.DType = ""
	if _, err := Prepare(context.Background(), cnn, o); err == nil {
		t.Error("empty weight dtype accepted")
	}
}

// TestPreparedPlanBothOutputs: one plan from quantize's options gives the QDQ model and
// the compressed-tensors checkpoint, with the same layers, and input_scale equal to the
// calibrated qparams of each layer's input.
func TestPreparedPlanBothOutputs(t *testing.T) {
	fx := open(t, "digits_cnn.onnx", "calib.npy", calib.Options{Samples: 20, Observer: "minmax"})
	src := openModel(t, "digits_cnn.onnx")
	opts := quantize.DefaultOptions()
	opts.Skip = layer.Names("/conv1/Conv")
	opts.Version = "test"
	p, err := Prepare(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Options.Skip, []string{"/conv1/Conv"}) || p.Options.Version != "test" || !p.Options.Weights.PerChannel {
		t.Fatalf("derived options %+v", p.Options)
	}
	q, err := p.Plan(context.Background(), fx.cal)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Plan(context.Background(), fx.cal); err == nil {
		t.Error("a second Quantize of one Prepared succeeded")
	}
	if sk := q.Skipped(); len(sk) != 1 || sk[0].Name != "/conv1/Conv" || len(q.Quantized()) != 4 {
		t.Fatalf("skipped %v, %d quantized", sk, len(q.Quantized()))
	}
	w := q.Weights()
	if w == nil || !reflect.DeepEqual(layerNames(w.Quantized()), layerNames(q.Quantized())) {
		t.Fatalf("weight plan layers %v, QDQ layers %v", w.Quantized(), q.Quantized())
	}
	rec := w.Record(quantize.LayoutCompressed)
	if rec.CalibrationSamples != 20 || rec.Activations == nil || rec.Activations.Layers != 4 {
		t.Fatalf("record %+v", rec)
	}

	dir := t.TempDir()
	st := filepath.Join(dir, "cnn.int8.safetensors")
	if err := w.Save(context.Background(), st, quantize.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := safetensors.OpenFile(st)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for _, l := range q.Quantized() {
		act, _ := fx.cal.Activation(l.Input)
		base := l.Weight[:len(l.Weight)-len(".weight")]
		s, err := out.Load(base + ".input_scale")
		if err != nil {
			t.Fatal(err)
		}
		if got := s.F32()[0]; got != act.QParams.Scale[0] {
			t.Errorf("%s.input_scale %g, calibrated %g", base, got, act.QParams.Scale[0])
		}
	}

	plain := filepath.Join(dir, "plain.onnx")
	with := filepath.Join(dir, "with.onnx")
	if err := q.Save(context.Background(), plain, nil); err != nil {
		t.Fatal(err)
	}
	if err := q.Save(context.Background(), with, map[string]string{"dataset": "digits", "quantization": "not the record"}); err != nil {
		t.Fatal(err)
	}
	a, b := metadataOf(t, plain), metadataOf(t, with)
	if b["dataset"] != "digits" || b["quantization"] != a["quantization"] || a["dataset"] != "" || a["quantization"] == "" {
		t.Fatalf("Save metadata %v\nwith metadata %v", a, b)
	}

}

func layerNames(ls []layer.Layer) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Name)
	}
	return out
}

func metadataOf(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := onnx.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return f.Metadata()
}
