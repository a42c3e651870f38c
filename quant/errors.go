package quant

import (
	"errors"
	"fmt"
)

// ErrNonFinite is matched (with errors.Is) by every error that reports a NaN or an
// infinity in data being quantized or observed. qscript's policy is to refuse such data
// rather than invent codes for it: torch's no-fbgemm kernel, for one, turns +Inf and
// NaN into qmin, and ORT's MinMax calibrator yields a NaN scale.
var ErrNonFinite = errors.New("quant: non-finite value")

// NonFiniteError reports the first NaN or ±Inf found, by its flat C-order index in the
// input. The kernels do not know tensor names: callers wrap it, as in
// fmt.Errorf("tensor %q: %w", name, err).
type NonFiniteError struct {
	Index int
	Value float32
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("quant: non-finite value %v at element %d", e.Value, e.Index)
}

// Is makes errors.Is(err, ErrNonFinite) true.
func (e *NonFiniteError) Is(target error) bool { return target == ErrNonFinite }

// findNonFinite returns the error for the first non-finite element of x (offset is
// added to its index), or nil when every element is finite.
func findNonFinite(x []float32, offset int) error {
	for i, v := range x {
		if v-v != 0 { // NaN or ±Inf
			return &NonFiniteError{Index: offset + i, Value: v}
		}
	}
	return nil
}
