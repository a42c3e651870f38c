package bindings_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats/onnx"
)

// TestRecipesWriteONNXForONNX: each weight-only recipe given an .onnx model writes an
// .onnx model by default, in ONNX Runtime's form for its scheme, and prints the report of
// what it wrote.
func TestRecipesWriteONNXForONNX(t *testing.T) {
	root := absRoot(t)
	enc := filepath.Join(root, "examples/models/encoder_block_op17.onnx")
	dir := t.TempDir()
	cases := []struct {
		recipe string
		args   map[string]string
		op     string // an op the output must hold
		print  string
	}{
		{"recipes/fp16.lua", nil, "Cast", "F32 → fp16"},
		{"recipes/bf16.lua", nil, "Cast", "F32 → bf16"},
		{"recipes/int8_dynamic.lua", map[string]string{"per_channel": "false"}, "MatMulInteger", "has no integer Gemm"},
		{"recipes/int4_weight_only.lua", map[string]string{"group_size": "32", "accuracy_level": "4"}, "MatMulNBits", "per_group(32)"},
		{"recipes/int4_weight_only.lua", map[string]string{"group_size": "64", "int4_form": "dequantizelinear"}, "DequantizeLinear", "per_group(64)"},
		{"recipes/int4_weight_only.lua", map[string]string{"group_size": "32", "method": "gptq",
			"calib": filepath.Join(root, "examples/models/encoder_calib.npy"), "samples": "32", "heldout": "16"}, "MatMulNBits", "GPTQ against round to nearest"},
	}
	for i, c := range cases {
		name := strings.TrimSuffix(filepath.Base(c.recipe), ".lua")
		t.Run(name, func(t *testing.T) {
			args := map[string]string{"model": enc}
			for k, v := range c.args {
				args[k] = v
			}
			sub := filepath.Join(dir, string(rune('a'+i)))
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			res, printed, err := runRecipe(t, sub, c.recipe, args)
			if err != nil {
				t.Fatalf("%v\n%s", err, printed)
			}
			v, _ := res.Value().(map[string]any)
			out, _ := v["output"].(string)
			if !strings.HasSuffix(out, ".onnx") || !strings.Contains(printed, c.print) {
				t.Fatalf("output %q, printed:\n%s", out, printed)
			}
			f, err := onnx.Open(filepath.Join(sub, out))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			found := false
			for _, n := range f.Proto().GetGraph().GetNode() {
				found = found || n.GetOpType() == c.op
			}
			if !found {
				t.Errorf("%s holds no %s node", out, c.op)
			}
		})
	}
}

func TestONNXSaveErrors(t *testing.T) {
	root := absRoot(t)
	enc := filepath.Join(root, "examples/models/encoder_block_op17.onnx")
	for _, c := range []struct {
		recipe string
		args   map[string]string
		want   string
	}{
		{"recipes/fp16.lua", map[string]string{"keep_io_types": "false", "out": "x.safetensors"}, "keep_io_types applies to .onnx outputs"},
		{"recipes/int4_weight_only.lua", map[string]string{"method": "gptq"}, "calib"},
		{"recipes/int4_weight_only.lua", map[string]string{"group_size": "48"}, "power of two"},
		{"recipes/int4_weight_only.lua", map[string]string{"int4_form": "qdq"}, `unknown value "qdq"`},
		{"recipes/int4_weight_only.lua", map[string]string{"model": filepath.Join(root, "examples/models/digits_cnn.pt"), "out": "x.onnx"}, "ONNX output needs an ONNX input model"},
	} {
		args := map[string]string{"model": enc}
		for k, v := range c.args {
			args[k] = v
		}
		_, printed, err := runRecipe(t, t.TempDir(), c.recipe, args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: error %v, want %q\n%s", c.recipe, c.args, err, c.want, printed)
		}
	}
}

func absRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	return root
}
