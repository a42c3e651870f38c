package formats

import "github.com/qscript-dev/qscript/tensor"

// Model is the read-only view that every checkpoint reader gives: tensor names, dtypes and
// shapes up front, data only when asked. Readers in the subpackages (safetensors, torch,
// npy, onnx) implement it structurally, so they need not import this package.
type Model interface {
	// Tensors lists the stored tensors in a stable order (file order, or sorted by name).
	Tensors() []tensor.Info
	// Load reads one tensor's data. The result may share memory with a memory map that
	// stays valid until Close; Clone it to keep it longer.
	Load(name string) (*tensor.Tensor, error)
	// Metadata returns the file's string metadata (safetensors __metadata__, ONNX
	// metadata_props); never nil.
	Metadata() map[string]string
	Close() error
}
