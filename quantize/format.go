package quantize

// SaveFormat returns the format Save writes to path: FormatSafetensors or FormatTorch.
// format is the caller's choice ("safetensors", "pt", or its aliases "pth", "bin" and
// "torch"; any case); "" chooses by path's extension (.safetensors; .pt, .pth, .bin).
// Callers that offer more formats than Save writes (static quantization's .onnx) check
// theirs first and call SaveFormat for the rest, so the rule stays in one place.
func SaveFormat(path, format string) (string, error) { return saveFormat(path, format) }
