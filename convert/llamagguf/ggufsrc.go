package llamagguf

import (
	"fmt"
	"io"

	"github.com/qscript-dev/qscript/formats/gguf"
	"github.com/qscript-dev/qscript/quant/ggml"
)

// openGGUF reads a GGUF file as a converter input: its metadata (less the keys the writer
// sets), its tensors in file order and the hyperparameters the mix rules use.
func openGGUF(path string) (*model, error) {
	f, err := gguf.OpenFile(path)
	if err != nil {
		return nil, err
	}
	m := &model{arch: f.Architecture(), closer: f}
	if m.arch == "" {
		f.Close()
		return nil, fmt.Errorf("%s: no general.architecture", path)
	}
	hp := func(key string) int {
		v, _ := f.Get(m.arch + "." + key)
		u, _ := v.Uint()
		return int(u)
	}
	m.nLayer, m.nHead, m.nKV = hp("block_count"), hp("attention.head_count"), hp("attention.head_count_kv")
	if m.nKV == 0 {
		m.nKV = m.nHead
	}
	for _, kv := range f.KVs {
		switch kv.Key {
		case "general.file_type", "general.quantization_version", gguf.AlignmentKey:
			continue
		}
		m.kvs = append(m.kvs, kv)
	}
	for _, t := range f.Tensors {
		m.tensors = append(m.tensors, ggufTensor(f, t))
	}
	return m, nil
}

func ggufTensor(f *gguf.File, t gguf.TensorInfo) *srcTensor {
	typ := ggml.Type(t.Type)
	return &srcTensor{name: t.Name, dims: t.Dims, keep: typ, from: typ.String(), srcBytes: t.Size,
		open: func() (rowSource, error) {
			s, err := f.Section(t.Name)
			if err != nil {
				return nil, err
			}
			return &sectionRows{r: s, typ: typ, ncols: int(max(1, firstDim(t.Dims)))}, nil
		}}
}

func firstDim(d []uint64) uint64 {
	if len(d) == 0 {
		return 1
	}
	return d[0]
}

// sectionRows dequantizes rows read from the file on demand.
type sectionRows struct {
	r     *io.SectionReader
	typ   ggml.Type
	ncols int
	buf   []byte
}

func (s *sectionRows) rows(dst []float32, r0, n int) error {
	rowBytes, err := ggml.RowSize(s.typ, s.ncols)
	if err != nil {
		return err
	}
	if cap(s.buf) < n*rowBytes {
		s.buf = make([]byte, n*rowBytes)
	}
	b := s.buf[:n*rowBytes]
	if _, err := s.r.ReadAt(b, int64(r0*rowBytes)); err != nil {
		return err
	}
	return ggml.DequantizeRows(s.typ, dst[:n*s.ncols], b, n, s.ncols)
}

// raw reads the whole tensor, for one copied unchanged.
func (s *sectionRows) raw() ([]byte, bool) {
	b := make([]byte, s.r.Size())
	if _, err := s.r.ReadAt(b, 0); err != nil {
		return nil, false
	}
	return b, true
}

func (s *sectionRows) close() {}
