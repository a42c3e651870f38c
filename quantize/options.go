package quantize

import (
	"fmt"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/internal/suggest"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
)

// Weight dtypes (WeightOptions.DType).
const (
	DTypeInt8    = "int8"
	DTypeUInt8   = "uint8"
	DTypeInt4    = "int4"
	DTypeUInt4   = "uint4"
	DTypeFP16    = "fp16"
	DTypeBF16    = "bf16"
	DTypeFP8E4M3 = "fp8_e4m3"
	DTypeFP8E5M2 = "fp8_e5m2"
)

// WeightDTypes lists the accepted WeightOptions.DType values.
var WeightDTypes = []string{DTypeInt8, DTypeUInt8, DTypeInt4, DTypeUInt4, DTypeFP16, DTypeBF16, DTypeFP8E4M3, DTypeFP8E5M2}

// Options is everything PlanWeights needs. Start from DefaultOptions. The Lua bindings fill
// it from option tables whose keys are the same names in snake_case.
type Options struct {
	// Weights says how the selected weights are quantized (option key "weights").
	Weights WeightOptions
	// Selection says which layers are quantized: option keys "layers" (Types), "include"
	// and "skip".
	layer.Selection
	// LayerTypes overrides inferred layer types by layer name (option key "layer_types").
	LayerTypes map[string]string
	// Numerics selects torch's (default) or ONNX Runtime's arithmetic ("numerics":
	// "torch" | "onnxruntime").
	Numerics quant.Numerics
	// Version is the qscript version written into the "quantization" record ("dev" when
	// empty). It is set by the host, not by an option key.
	Version string
}

// WeightOptions configures weight quantization.
type WeightOptions struct {
	// DType is one of WeightDTypes (default "int8"). fp16 and bf16 cast every floating
	// tensor, integer tensors untouched (SPEC §4): Selection.Types does not apply to
	// casts, but Skip and Include still keep chosen layers' weight and bias in their
	// dtype. fp8 stores the selected weights as fp8 with a scale (absmax/448 for e4m3,
	// absmax/57344 for e5m2, as compressed-tensors' float-quantized); other tensors are
	// unchanged. The integer dtypes quantize the selected weights; uint8 and uint4 codes
	// and zero points are stored shifted to int8 (q-128, q-8), the compressed-tensors
	// convention, which dequantizes to the same values.
	DType string
	// PerChannel gives one scale per output channel (default true); false gives one per
	// tensor. Used by the 8-bit integer and fp8 dtypes, and by int4/uint4 when GroupSize
	// is -1.
	PerChannel bool
	// Symmetric selects symmetric qparams (default true); false is affine.
	Symmetric bool
	// GroupSize > 0 quantizes per group of that many input elements. 0 means the dtype's
	// default: 128 (quant.DefaultGroupSize) for int4/uint4, none for 8 bits. -1 turns
	// groups off for int4/uint4.
	GroupSize int
}

// DefaultOptions returns int8 per-channel symmetric weights for Linear and Conv layers,
// with torch numerics.
func DefaultOptions() Options {
	return Options{
		Weights:   WeightOptions{DType: DTypeInt8, PerChannel: true, Symmetric: true},
		Selection: layer.Selection{Types: layer.DefaultTypes()},
		Numerics:  quant.Torch,
	}
}

// Validate checks the options that do not depend on a model.
func (o Options) Validate() error {
	w := o.Weights
	if !slices.Contains(WeightDTypes, w.DType) {
		return fmt.Errorf("option \"weights.dtype\": unknown dtype %q%s; valid dtypes: %s",
			w.DType, suggest.DidYouMean(w.DType, WeightDTypes), strings.Join(WeightDTypes, ", "))
	}
	if w.GroupSize < -1 {
		return fmt.Errorf("option \"weights.group_size\": %d; want a positive size, 0 (default) or -1 (no groups)", w.GroupSize)
	}
	if w.GroupSize > 0 && isFloatDType(w.DType) {
		return fmt.Errorf("option \"weights.group_size\": dtype %s has no groups (it is per tensor or per channel)", w.DType)
	}
	if o.Numerics != quant.Torch && o.Numerics != quant.ORT {
		return fmt.Errorf("option \"numerics\": unknown numerics %d", int(o.Numerics))
	}
	for _, t := range o.Types {
		if _, err := layer.CheckType(t); err != nil {
			return fmt.Errorf("option \"layers\": %w", err)
		}
	}
	for name, t := range o.LayerTypes {
		if _, err := layer.CheckType(t); err != nil {
			return fmt.Errorf("option \"layer_types\": layer %q: %w", name, err)
		}
	}
	return nil
}

func isFloatDType(dt string) bool {
	return dt == DTypeFP16 || dt == DTypeBF16 || dt == DTypeFP8E4M3 || dt == DTypeFP8E5M2
}
