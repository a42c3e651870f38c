package formats

import (
	"fmt"
	"io"
	"math"

	"github.com/qscript-dev/qscript/formats/gguf"
	"github.com/qscript-dev/qscript/quant/ggml"
	"github.com/qscript-dev/qscript/tensor"
)

// isGGUF: the magic "GGUF" then a version (any; the reader names an unsupported one).
func isGGUF(head []byte) bool { return len(head) >= 8 && string(head[:4]) == gguf.Magic }

// ggufModel shows a GGUF file as a Model: shapes row-major (ggml's dimensions reversed),
// metadata values as text, F32/F16/BF16/F64 and integer tensors as themselves.
// Block-quantized tensors are F32: Load dequantizes them as ggml does (quant/ggml), for the
// types qscript knows.
type ggufModel struct {
	f     *gguf.File
	infos []tensor.Info
}

var ggufPlain = map[gguf.TensorType]tensor.DType{
	0: tensor.F32, 1: tensor.F16, 30: tensor.BF16, 28: tensor.F64,
	24: tensor.I8, 25: tensor.I16, 26: tensor.I32, 27: tensor.I64,
}

func openGGUF(path string) (Model, error) {
	f, err := gguf.OpenFile(path)
	if err != nil {
		return nil, err
	}
	m := &ggufModel{f: f}
	for _, t := range f.Tensors {
		dt, ok := ggufPlain[t.Type]
		if !ok {
			dt = tensor.F32
		}
		m.infos = append(m.infos, tensor.Info{Name: t.Name, DType: dt, Shape: t.Shape()})
	}
	return m, nil
}

func (m *ggufModel) Tensors() []tensor.Info {
	return tensor.CloneInfos(m.infos)
}

func (m *ggufModel) Load(name string) (*tensor.Tensor, error) {
	t, ok := m.f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", gguf.ErrNotFound, name)
	}
	dt, plain := ggufPlain[t.Type]
	if !plain && !ggml.Type(t.Type).Supported() {
		return nil, fmt.Errorf("tensor %q is %s, which qscript cannot dequantize", name, t.Type)
	}
	if t.Size > math.MaxInt || (!plain && t.Elements() > math.MaxInt/4) {
		return nil, fmt.Errorf("tensor %q: %d bytes do not fit in memory", name, t.Size)
	}
	s, err := m.f.Section(name)
	if err != nil {
		return nil, err
	}
	data := make([]byte, t.Size) // the reader checked Size against the file
	if _, err := io.ReadFull(s, data); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	if plain {
		return tensor.FromBytes(dt, t.Shape(), data)
	}
	ncols := 1
	if len(t.Dims) > 0 {
		ncols = int(t.Dims[0])
	}
	out := make([]float32, t.Elements())
	if err := ggml.DequantizeRows(ggml.Type(t.Type), out, data, len(out)/max(ncols, 1), ncols); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	return tensor.FromF32(t.Shape(), out), nil
}

// Metadata gives every key as text: strings as they are, numbers in Go syntax, arrays as
// their length, element type and first elements.
func (m *ggufModel) Metadata() map[string]string {
	out := make(map[string]string, len(m.f.KVs))
	for _, kv := range m.f.KVs {
		if s, ok := kv.Value.Text(); ok {
			out[kv.Key] = s
			continue
		}
		out[kv.Key] = kv.Value.String()
	}
	return out
}

func (m *ggufModel) Close() error { return m.f.Close() }

// StoredTensors reports each tensor with its GGUF type and its size in the file, which
// Summarize prefers to the dtype that Tensors gives.
func (m *ggufModel) StoredTensors() []TensorSummary {
	out := make([]TensorSummary, len(m.f.Tensors))
	for i, t := range m.f.Tensors {
		out[i] = TensorSummary{Name: t.Name, DType: t.Type.String(), Shape: t.Shape(), Bytes: t.Size}
	}
	return out
}
