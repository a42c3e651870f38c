package quantize

import (
	"fmt"
	"path/filepath"
	"strings"
)

// SaveFormat returns the format Save writes to path: FormatSafetensors or FormatTorch.
// format is the caller's choice ("safetensors", "pt", or its aliases "pth", "bin" and
// "torch"; any case); "" chooses by path's extension (.safetensors; .pt, .pth, .bin).
// Callers that offer more formats than Save writes (static quantization's .onnx) check
// theirs first and call SaveFormat for the rest, so the rule stays in one place.
func SaveFormat(path, format string) (string, error) {
	switch strings.ToLower(format) {
	case FormatSafetensors:
		return FormatSafetensors, nil
	case FormatTorch, "pth", "bin", "torch":
		return FormatTorch, nil
	case "":
	default:
		return "", fmt.Errorf("save: unknown format %q; valid formats: safetensors, pt", format)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".safetensors":
		return FormatSafetensors, nil
	case ".pt", ".pth", ".bin":
		return FormatTorch, nil
	}
	return "", fmt.Errorf("save %s: cannot tell the format from the extension; use .safetensors, .pt, .pth or .bin, or set format", path)
}
