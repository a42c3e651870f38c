package quantize

import "testing"

func TestSaveFormat(t *testing.T) {
	for _, c := range []struct {
		path, format, want, err string
	}{
		{"out/m.safetensors", "", FormatSafetensors, ""},
		{"m.SafeTensors", "", FormatSafetensors, ""},
		{"m.pt", "", FormatTorch, ""},
		{"m.PTH", "", FormatTorch, ""},
		{"pytorch_model.bin", "", FormatTorch, ""},
		{"m.weights", "safetensors", FormatSafetensors, ""},
		{"m.safetensors", "torch", FormatTorch, ""},
		{"m.safetensors", "BIN", FormatTorch, ""},
		{"m.onnx", "", "", "save m.onnx: cannot tell the format from the extension; use .safetensors, .pt, .pth or .bin, or set format"},
		{"m.safetensors.tmp", "", "", "save m.safetensors.tmp: cannot tell the format from the extension; use .safetensors, .pt, .pth or .bin, or set format"},
		{"m.pt", "gguf", "", `save: unknown format "gguf"; valid formats: safetensors, pt`},
	} {
		got, err := SaveFormat(c.path, c.format)
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && err.Error() != c.err) {
			t.Errorf("SaveFormat(%q, %q) = %q, %v; want %q, %q", c.path, c.format, got, err, c.want, c.err)
		}
	}
}
