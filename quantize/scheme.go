package quantize

import (
	"fmt"

	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// kind is how a weight dtype changes a tensor.
type kind int

const (
	kindInt  kind = iota // integer codes with scales (and zero points)
	kindCast             // fp16/bf16: every floating tensor is cast
	kindFP8              // fp8 weights with a scale (compressed-tensors float-quantized)
)

// weightScheme is WeightOptions resolved: what every selected weight gets.
type weightScheme struct {
	dtype      string
	kind       kind
	scheme     quant.Scheme // kindInt
	groupSize  int          // kindInt: > 0 when grouped
	perChannel bool         // kindInt without groups, kindFP8
	target     tensor.DType // kindCast, kindFP8: the stored dtype
	fp8Max     float32      // kindFP8: the largest finite value of target
	shift      int32        // kindInt: subtracted from unsigned codes to store them signed
}

func newWeightScheme(o Options) (weightScheme, error) {
	w := o.Weights
	ws := weightScheme{dtype: w.DType, perChannel: w.PerChannel}
	switch w.DType {
	case DTypeFP16:
		ws.kind, ws.target = kindCast, tensor.F16
	case DTypeBF16:
		ws.kind, ws.target = kindCast, tensor.BF16
	case DTypeFP8E4M3:
		ws.kind, ws.target, ws.fp8Max = kindFP8, tensor.F8E4M3, 448
	case DTypeFP8E5M2:
		ws.kind, ws.target, ws.fp8Max = kindFP8, tensor.F8E5M2, 57344
	case DTypeInt8, DTypeUInt8, DTypeInt4, DTypeUInt4:
		q, err := quant.ParseQType(w.DType)
		if err != nil {
			return ws, err
		}
		ws.kind = kindInt
		ws.scheme = quant.Scheme{QType: q, Symmetric: w.Symmetric, Numerics: o.Numerics}
		if err := ws.scheme.Validate(); err != nil {
			return ws, err
		}
		if !q.Signed {
			ws.shift = (q.Max + 1) / 2 // 128 for uint8, 8 for uint4
		}
		ws.groupSize = w.GroupSize
		if ws.groupSize == 0 && q.Bits == 4 {
			ws.groupSize = quant.DefaultGroupSize
		}
		ws.groupSize = max(ws.groupSize, 0)
	default:
		return ws, fmt.Errorf("option \"weights.dtype\": unknown dtype %q", w.DType)
	}
	return ws, nil
}

// bits is the number of bits of a stored weight element.
func (ws weightScheme) bits() int {
	if ws.kind == kindInt {
		return ws.scheme.QType.Bits
	}
	return ws.target.Size() * 8
}

// granularity is the layer's quantization granularity (kindInt, kindFP8).
func (ws weightScheme) granularity(l layer.Layer) quant.Granularity {
	switch {
	case ws.kind == kindInt && ws.groupSize > 0:
		return quant.PerGroup(ws.groupSize)
	case ws.perChannel:
		return quant.PerChannel(l.Axis)
	}
	return quant.PerTensor()
}

// granularityLabel is the report's and the record's name of the granularity.
func (ws weightScheme) granularityLabel(l layer.Layer) string {
	switch {
	case ws.kind == kindCast:
		return "cast"
	case ws.kind == kindInt && ws.groupSize > 0:
		return fmt.Sprintf("per_group(%d)", ws.groupSize)
	case ws.perChannel:
		return fmt.Sprintf("per_channel(axis=%d)", l.Axis)
	}
	return "per_tensor"
}

// observer names how the weight ranges are found, for the record.
func (ws weightScheme) observer() string {
	switch {
	case ws.kind == kindCast:
		return "none"
	case ws.kind == kindInt && ws.groupSize == 0 && ws.perChannel:
		return "per_channel_minmax"
	}
	return "minmax"
}

// String describes the scheme for the report: "int8 per-channel symmetric weights (torch
// numerics)".
func (ws weightScheme) String() string {
	switch ws.kind {
	case kindCast:
		return ws.dtype + " cast of every floating tensor"
	case kindFP8:
		g := "per-tensor"
		if ws.perChannel {
			g = "per-channel"
		}
		return fmt.Sprintf("%s %s weights (scale = absmax/%g)", ws.dtype, g, ws.fp8Max)
	}
	g := "per-tensor"
	switch {
	case ws.groupSize > 0:
		g = fmt.Sprintf("group-%d", ws.groupSize)
	case ws.perChannel:
		g = "per-channel"
	}
	sym := "affine"
	if ws.scheme.Symmetric {
		sym = "symmetric"
	}
	return fmt.Sprintf("%s %s %s weights (%s numerics)", ws.dtype, g, sym, ws.scheme.Numerics)
}

// unsupported says why a selected layer cannot take the scheme ("" when it can).
func (ws weightScheme) unsupported(l layer.Layer) string {
	n, err := tensor.Numel(l.Shape)
	switch {
	case err != nil:
		return "invalid shape"
	case n == 0:
		return "empty weight"
	case ws.kind == kindInt && ws.groupSize > 0 && l.Axis != 0:
		return fmt.Sprintf("groups need the output axis first (the %s weight's output axis is %d)", l.Type, l.Axis)
	case ws.kind == kindInt && ws.scheme.QType.Bits == 4 && l.Axis != 0:
		return fmt.Sprintf("int4 packing needs the output axis first (the %s weight's output axis is %d)", l.Type, l.Axis)
	}
	return ""
}

// scaleDType is the dtype of stored scales: the weight's own dtype when it is f16 or
// bf16 (compressed-tensors keeps qparams in the weight's dtype), else F32.
func scaleDType(weight tensor.DType) tensor.DType {
	if weight == tensor.F16 || weight == tensor.BF16 {
		return weight
	}
	return tensor.F32
}

// roundScale rounds a float32 scale to what dt stores.
func roundScale(s float32, dt tensor.DType) float32 {
	switch dt {
	case tensor.F16:
		return tensor.F16ToF32(tensor.F32ToF16(s))
	case tensor.BF16:
		return tensor.BF16ToF32(tensor.F32ToBF16(s))
	}
	return s
}
