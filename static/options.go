package static

import (
	"fmt"

	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/quantize"
)

// Options configures PlanQDQ. Start from DefaultOptions.
type Options struct {
	Weights WeightOptions
	// Numerics computes the weight qparams and codes the way torch (default) or ONNX
	// Runtime does. Either way the file holds codes and scales that ONNX Runtime's
	// DequantizeLinear turns back into the same float weights. The activations' numerics
	// are the calibration's (calib.Options.Scheme).
	Numerics quant.Numerics
	// Skip leaves nodes in float. An entry is a node name ("/conv2/Conv"), its weight
	// initializer's name or that name's prefix ("conv2" for "conv2.weight"), or a glob over
	// them in package layer's grammar ("/fc*/Gemm"; `*` matches any run of characters).
	// An entry that matches no node is an error that lists the closest names.
	Skip []string
	// Version is the qscript version written into the quantization record.
	Version string
	// Metadata adds metadata_props entries to the output (strings only).
	Metadata map[string]string
	// Input names the input model in the report.
	Input string
}

// WeightOptions says how weights are quantized: quantize's, of which static reads DType
// ("int8", the default, or "uint8"), PerChannel (each output channel its own scale, axis
// from layer.WeightAxis) and Symmetric (zero point 0 for int8 or 128 for uint8, as torch's
// per-channel symmetric weight observer does). GroupSize must be 0 (Prepare checks it).
type WeightOptions = quantize.WeightOptions

// DefaultOptions: int8 symmetric per-channel weights with torch numerics, the weight
// half of torch's default static qconfig for x86/onednn.
func DefaultOptions() Options {
	return Options{Weights: WeightOptions{DType: "int8", PerChannel: true, Symmetric: true}, Numerics: quant.Torch}
}

func weightScheme(w WeightOptions, n quant.Numerics) (quant.Scheme, error) {
	s := quant.Scheme{Symmetric: w.Symmetric, Numerics: n}
	switch w.DType {
	case "", "int8", "qint8":
		s.QType = quant.QInt8
	case "uint8", "quint8":
		s.QType = quant.QUInt8
	default:
		return s, fmt.Errorf("static: weight dtype %q: QDQ weights are \"int8\" or \"uint8\"", w.DType)
	}
	return s, s.Validate()
}

func granularity(w WeightOptions) string {
	if w.PerChannel {
		return "per_channel"
	}
	return "per_tensor"
}
