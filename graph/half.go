package graph

import (
	"github.com/qscript-dev/qscript/tensor"
)

// float16 and bfloat16 models run in float32: Load converts their initializers and tensor
// attributes, a Cast to float16 rounds to float16 but yields float32, inputs the model
// declares float16 are converted as they are fed, and outputs it declares float16 are
// converted back when the run ends. Every kernel (and every hook) thus sees float32;
// ValueInfo.ModelDType keeps the type the model declares.

// isHalf reports whether dt is one of the 16-bit float types computed in float32.
func isHalf(dt tensor.DType) bool { return dt == tensor.F16 || dt == tensor.BF16 }

// lowerHalf returns t in float32 when it is a 16-bit float tensor, else t.
func lowerHalf(t *tensor.Tensor) *tensor.Tensor {
	if t == nil || !isHalf(t.DType) {
		return t
	}
	out := tensor.FromF32(append([]int{}, t.Shape...), t.ToF32())
	return out
}

// lowerInfo marks a 16-bit float value as computed in float32.
func lowerInfo(v ValueInfo) ValueInfo {
	if isHalf(v.DType) {
		v.ModelDType, v.DType = v.DType, tensor.F32
	}
	return v
}

// roundHalf rounds float32 values to the precision of dt (F16 or BF16), keeping float32.
func roundHalf(x *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, error) {
	h, err := x.To(dt)
	if err != nil {
		return nil, err
	}
	return lowerHalf(h), nil
}
