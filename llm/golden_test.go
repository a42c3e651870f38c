package llm

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/tensor"
)

// TestWriterGolden writes folders whose only Linear weight is a weight of
// quant/testdata/ct_golden.safetensors and checks the stored tensors against the torch
// port's packed words, packed zero points, codes and scales (scripts/fixtures/ct_golden.py).
func TestWriterGolden(t *testing.T) {
	g, err := safetensors.OpenFile("../quant/testdata/ct_golden.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, c := range []struct {
		golden, scheme string
		group          int
		want           map[string]string // output suffix -> golden suffix
	}{
		{"bf16_w4_g32_asym", "W4A16_ASYM", 32, map[string]string{"weight_packed": "packed", "weight_zero_point": "zp_packed", "weight_scale": "scale"}},
		{"bf16_w4_g32", "W4A16", 32, map[string]string{"weight_packed": "packed", "weight_scale": "scale"}},
		{"f16_w8_channel", "W8A16", 0, map[string]string{"weight_packed": "packed", "weight_scale": "scale"}},
		{"bf16_w8_channel", "W8A8", 0, map[string]string{"weight": "codes", "weight_scale": "scale"}},
		{"f32_fp8_channel", "FP8_DYNAMIC", 0, map[string]string{"weight": "codes", "weight_scale": "scale"}},
	} {
		t.Run(c.golden, func(t *testing.T) {
			w, err := g.Load(c.golden + ".w")
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			in := filepath.Join(root, "in")
			os.MkdirAll(in, 0o755)
			os.WriteFile(filepath.Join(in, "config.json"), []byte(`{"architectures": ["LlamaForCausalLM"]}`), 0o644)
			sw, err := safetensors.Create(filepath.Join(in, "model.safetensors"), []tensor.Info{{Name: "model.layers.0.mlp.down_proj.weight", DType: w.DType, Shape: w.Shape}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := sw.Write("model.layers.0.mlp.down_proj.weight", w); err != nil {
				t.Fatal(err)
			}
			if err := sw.Close(); err != nil {
				t.Fatal(err)
			}
			p, err := Plan(open(t, in), Options{Scheme: c.scheme, GroupSize: c.group})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Write(context.Background(), filepath.Join(root, "out"), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			out, err := safetensors.OpenFile(filepath.Join(root, "out", "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			for suffix, gs := range c.want {
				got, err := out.Load("model.layers.0.mlp.down_proj." + suffix)
				if err != nil {
					t.Fatal(err)
				}
				want, err := g.Load(c.golden + "." + gs)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.Contiguous().Data[:got.Nbytes()], want.Contiguous().Data[:want.Nbytes()]) || !slices.Equal(got.Shape, want.Shape) {
					t.Errorf("%s: %v %v differs from the port's %s %v %v", suffix, got.DType, got.Shape, gs, want.DType, want.Shape)
				}
			}
		})
	}
}
