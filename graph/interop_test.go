//go:build interop

package graph

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// TestInteropORT compares graph/ with onnxruntime-node outputs written by
// interop/40-graph-ort.sh into $QSCRIPT_GRAPH_CASES/<case>/ort_output_K.f32.
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
			raw, err := os.ReadFile(filepath.Join(dir, "ort_output_"+string(rune('0'+k))+".f32"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := tensor.FromBytes(tensor.F32, o.Shape, raw)
			if err != nil {
				t.Fatal(err)
			}
			d := maxAbsDiff(t, outs[o.Name], want)
			t.Logf("%s %s: max |graph - onnxruntime| = %.3g over %v", filepath.Base(dir), o.Name, d, o.Shape)
			if d > modelTolerance {
				t.Errorf("%s %s: max abs difference %g > %g", filepath.Base(dir), o.Name, d, modelTolerance)
			}
		}
	}
}
