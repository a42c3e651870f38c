package quant

import "github.com/qscript-dev/qscript/tensor"

// Observer collects the range of the data it is shown, batch after batch, in constant
// memory, and turns it into qparams. Implementations are not safe for concurrent use.
type Observer interface {
	// Observe folds one batch into the running statistics. Non-float tensors are an error.
	Observe(t *tensor.Tensor) error
	// Range returns the current range: one entry per tensor, or one per channel for
	// per-channel observers. Before any Observe it is (+Inf, -Inf).
	Range() (min, max []float32)
	// QParams computes the quantization parameters of the data seen so far.
	QParams() (*QParams, error)
}
