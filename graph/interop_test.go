//go:build interop

package graph

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// TestInteropORT compares graph/ with onnxruntime-node outputs written by
// interop/40-graph-ort.sh and interop/45-graph-zoo.sh into
// $QSCRIPT_GRAPH_CASES/<case>/ort_output_K.f32. An element passes when
// |graph - ort| <= atol + rtol*|ort|, with atol and rtol from the case's meta.json
// (the zoo's random-weight logits reach tens), else atol = modelTolerance and rtol = 0.
func TestInteropORT(t *testing.T) {
	root := os.Getenv("QSCRIPT_GRAPH_CASES")
	if root == "" {
		t.Fatal("QSCRIPT_GRAPH_CASES is not set (run interop/40-graph-ort.sh)")
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "*", "ort.json"))
	if len(dirs) == 0 {
		t.Fatalf("no cases with ort.json under %s", root)
	}
	for _, meta := range dirs {
		dir := filepath.Dir(meta)
		var ort struct {
			Outputs []struct {
				Name  string `json:"name"`
				Shape []int  `json:"shape"`
			} `json:"outputs"`
		}
		b, err := os.ReadFile(meta)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &ort); err != nil {
			t.Fatal(err)
		}
		tol := struct {
			Atol *float64 `json:"atol"`
			Rtol float64  `json:"rtol"`
		}{}
		if b, err := os.ReadFile(filepath.Join(dir, "meta.json")); err == nil {
			if err := json.Unmarshal(b, &tol); err != nil {
				t.Fatalf("%s: meta.json: %v", dir, err)
			}
		}
		atol := modelTolerance
		if tol.Atol != nil {
			atol = *tol.Atol
		}
		g, err := Load(loadModelFile(t, filepath.Join(dir, "model.onnx")), Options{})
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		in, err := readTensorFile(filepath.Join(dir, "test_data_set_0", "input_0.pb"))
		if err != nil {
			t.Fatal(err)
		}
		outs, err := g.Run(context.Background(), map[string]*tensor.Tensor{g.Inputs()[0].Name: in}, nil)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for k, o := range ort.Outputs {
			raw, err := os.ReadFile(filepath.Join(dir, "ort_output_"+strconv.Itoa(k)+".f32"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := tensor.FromBytes(tensor.F32, o.Shape, raw)
			if err != nil {
				t.Fatal(err)
			}
			d := maxAbsDiff(t, outs[o.Name], want)
			if tol.Rtol == 0 {
				t.Logf("%s %s: max |graph - onnxruntime| = %.3g over %v", filepath.Base(dir), o.Name, d, o.Shape)
				if d > atol {
					t.Errorf("%s %s: max abs difference %g > %g", filepath.Base(dir), o.Name, d, atol)
				}
				continue
			}
			excess, refMax := toleranceExcess(outs[o.Name], want, atol, tol.Rtol)
			t.Logf("%s %s: max |graph - onnxruntime| = %.3g over %v (max |ort| %.3g, atol %g + rtol %g)",
				filepath.Base(dir), o.Name, d, o.Shape, refMax, atol, tol.Rtol)
			if excess > 0 {
				t.Errorf("%s %s: an element differs by %g more than atol %g + rtol %g * |ort|",
					filepath.Base(dir), o.Name, excess, atol, tol.Rtol)
			}
		}
	}
}

// toleranceExcess returns by how much the worst element of got exceeds atol + rtol*|want|
// (0 when all pass; +Inf for a NaN), and the largest |want|.
func toleranceExcess(got, want *tensor.Tensor, atol, rtol float64) (excess, refMax float64) {
	g, w := got.ToF64(), want.ToF64()
	for i := range w {
		d := math.Abs(g[i]-w[i]) - (atol + rtol*math.Abs(w[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		excess = max(excess, d)
		refMax = max(refMax, math.Abs(w[i]))
	}
	return excess, refMax
}
