package onnxquant

import (
	"fmt"

	"github.com/qscript-dev/qscript/data"
)

// Int4 forms (Options.Int4Form).
const (
	// FormMatMulNBits replaces each MatMul by com.microsoft.MatMulNBits (ONNX Runtime's
	// contrib op, what matmul_nbits_quantizer writes by default).
	FormMatMulNBits = "matmulnbits"
	// FormDequantizeLinear keeps MatMul and feeds it DequantizeLinear of an int4/uint4
	// initializer, blocked along K (default domain, opset 21): matmul_nbits_quantizer's
	// QDQ format.
	FormDequantizeLinear = "dequantizelinear"
)

// Int4Forms lists the accepted Options.Int4Form values.
var Int4Forms = []string{FormMatMulNBits, FormDequantizeLinear}

// Methods of 4-bit weight quantization (Options.Method).
const (
	MethodRTN  = "rtn"
	MethodGPTQ = "gptq"
)

// Options are the ONNX-specific choices of Rewrite; the weight dtype, group size,
// symmetry, per-channel choice and the layer selection come from quantize.Options.
type Options struct {
	// KeepIOTypes keeps float32 graph inputs and outputs of an fp16 model, with Cast nodes
	// at the boundaries (float16.py's keep_io_types; its default there is false, ours true).
	KeepIOTypes bool
	// OpBlockList replaces float16.py's DEFAULT_OP_BLOCK_LIST when not nil: op types left
	// in float32 with Casts around them.
	OpBlockList []string
	// BF16Compute converts a bf16 model's computation too, as the float16 converter would
	// with bfloat16 in place of float16 (for execution providers with bfloat16 kernels;
	// ONNX Runtime's CPU provider has none for MatMul, Conv or Gemm). Default false:
	// bfloat16 weights behind Casts, float32 computation.
	BF16Compute bool
	// ReduceRange quantizes dynamic int8 weights to 7 bits (quantize_dynamic's reduce_range,
	// default false).
	ReduceRange bool
	// Int4Form is FormMatMulNBits (default) or FormDequantizeLinear.
	Int4Form string
	// AccuracyLevel is MatMulNBits' accuracy_level attribute (0..4); -1 leaves it out.
	AccuracyLevel int
	// Method is MethodRTN (default) or MethodGPTQ (the MatMul weights of the int4 forms and
	// of dynamic int8).
	Method string
	// GPTQ configures MethodGPTQ.
	GPTQ GPTQOptions
}

// GPTQOptions configures GPTQ.
type GPTQOptions struct {
	// Calib is the calibration data: its first Samples samples build the Hessians, the
	// Heldout samples after them measure each layer's output error with RTN and GPTQ.
	Calib   data.Source
	Samples int
	Heldout int
	// PercDamp is the dampening added to H's diagonal, as a fraction of its mean (0.01).
	PercDamp float64
	// ActOrder processes columns by decreasing Hessian diagonal.
	ActOrder bool
	// BlockSize is the number of columns updated together (128); it does not change the
	// result, only the order of the arithmetic.
	BlockSize int
}

// DefaultOptions: float32 inputs and outputs for fp16, full-range int8, MatMulNBits with
// round to nearest and no accuracy_level attribute.
func DefaultOptions() Options {
	return Options{KeepIOTypes: true, Int4Form: FormMatMulNBits, AccuracyLevel: -1, Method: MethodRTN,
		GPTQ: GPTQOptions{PercDamp: 0.01, BlockSize: 128, Samples: 128}}
}

func (o Options) validate() error {
	switch o.Int4Form {
	case FormMatMulNBits, FormDequantizeLinear:
	default:
		return fmt.Errorf("unknown int4 form %q; valid forms: %s, %s", o.Int4Form, FormMatMulNBits, FormDequantizeLinear)
	}
	if o.AccuracyLevel < -1 || o.AccuracyLevel > 4 {
		return fmt.Errorf("accuracy_level %d: want 0..4", o.AccuracyLevel)
	}
	switch o.Method {
	case MethodRTN:
	case MethodGPTQ:
		if o.GPTQ.Calib == nil || o.GPTQ.Samples < 1 {
			return fmt.Errorf("method gptq needs calibration data")
		}
		if !(o.GPTQ.PercDamp > 0) || o.GPTQ.PercDamp > 1 {
			return fmt.Errorf("percdamp %v: want a fraction in (0, 1]", o.GPTQ.PercDamp)
		}
		if o.GPTQ.Heldout < 0 {
			return fmt.Errorf("held-out samples %d: want 0 or more", o.GPTQ.Heldout)
		}
		if o.GPTQ.BlockSize < 1 {
			return fmt.Errorf("gptq block size %d: want a positive number", o.GPTQ.BlockSize)
		}
	default:
		return fmt.Errorf("unknown method %q; valid methods: %s, %s", o.Method, MethodRTN, MethodGPTQ)
	}
	return nil
}
