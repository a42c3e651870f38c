package data

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/qscript-dev/qscript/formats/npy"
	"github.com/qscript-dev/qscript/tensor"

	"github.com/qscript-dev/qscript/internal/paths"
)

// NPY is a source over one .npy array whose first axis is the sample axis. It has a
// single anonymous input (fed to a model's only input) and no target. Batches are read
// from the file with ReadAt, so only one batch is in memory at a time; a Fortran-order
// array, whose samples are not contiguous in the file, is read whole instead.
func NPY(path string) (Source, error) {
	f, err := paths.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	h, err := npy.ReadHeader(io.NewSectionReader(f, 0, st.Size()))
	if err != nil {
		return nil, fmt.Errorf("data %q: %w", path, err)
	}
	if end := h.DataOffset + h.DataSize; end > st.Size() {
		return nil, fmt.Errorf("data %q: %w: header promises %d bytes, the file has %d", path, npy.ErrDataSize, end, st.Size())
	}
	if len(h.Shape) == 0 {
		return nil, fmt.Errorf("data %q: a 0-d array has no sample axis", path)
	}
	return &npySource{path: path, name: filepath.Base(path), header: h}, nil
}

type npySource struct {
	path   string
	name   string
	header npy.Header
}

func (s *npySource) Name() string    { return s.name }
func (s *npySource) Len() int        { return s.header.Shape[0] }
func (s *npySource) HasTarget() bool { return false }

func (s *npySource) Inputs() []tensor.Info {
	return []tensor.Info{{Name: "", DType: s.header.DType, Shape: append([]int{}, s.header.Shape[1:]...)}}
}

func (s *npySource) Open(ctx context.Context) (Reader, error) {
	if s.header.FortranOrder {
		f, err := npy.OpenFile(s.path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		t, err := f.Load(f.Tensors()[0].Name)
		if err != nil {
			return nil, fmt.Errorf("data %q: %w", s.name, err)
		}
		return &memoryReader{src: &memorySource{name: s.name, inputs: map[string]*tensor.Tensor{"": t}, n: t.Shape[0]}}, nil
	}
	f, err := paths.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return &npyReader{src: s, file: f}, nil
}

type npyReader struct {
	src   *npySource
	file  *os.File
	next  int
	spare spareBatches
	shape []int // scratch for a batch's shape
}

func (r *npyReader) Next(max int) (*Batch, error) {
	if max < 1 {
		return nil, fmt.Errorf("data: batch size %d: must be at least 1", max)
	}
	h := r.src.header
	n := h.Shape[0]
	if r.next >= n {
		return nil, io.EOF
	}
	lo, hi := r.next, min(r.next+max, n)
	// DataSize was overflow-checked by ReadHeader and n >= 1, so a row fits in int64.
	rowBytes := h.DataSize / int64(n)
	r.shape = append(append(r.shape[:0], hi-lo), h.Shape[1:]...)
	b := r.spare.take()
	if b == nil {
		b = &Batch{Inputs: make(map[string]*tensor.Tensor, 1)}
	}
	t := reuseTensor(b.Inputs[""], h.DType, r.shape, int(int64(hi-lo)*rowBytes))
	clear(b.Inputs)
	b.Inputs[""], b.Target, b.Len = t, nil, hi-lo
	if _, err := r.file.ReadAt(t.Data, h.DataOffset+int64(lo)*rowBytes); err != nil {
		return nil, fmt.Errorf("data %q: samples %d..%d: %w", r.src.name, lo, hi-1, err)
	}
	r.next = hi
	return b, nil
}

// Recycle keeps b's buffer for a later batch.
func (r *npyReader) Recycle(b *Batch) { r.spare.put(b) }

func (r *npyReader) Close() error { return r.file.Close() }
