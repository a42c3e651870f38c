package data

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/qscript-dev/qscript/tensor"
)

// Source is a data set of samples. Each sample holds one tensor per model input and,
// optionally, a target (a class label, say). A Source is immutable and may be read by
// several passes, one after the other or at the same time.
type Source interface {
	// Name names the data in errors and reports: the file or folder, or "tensors".
	Name() string
	// Len is the number of samples, or -1 when it is not known before reading.
	Len() int
	// Inputs describes one sample of each input: dtype and shape without the batch axis.
	// A source with a single anonymous array (an .npy file, say) has one entry named "":
	// it feeds a model's only input whatever that input is called.
	Inputs() []tensor.Info
	// HasTarget reports whether batches carry targets.
	HasTarget() bool
	// Open starts a pass over the samples, in order.
	Open(ctx context.Context) (Reader, error)
}

// Reader is one pass over a Source. It is used by one goroutine.
type Reader interface {
	// Next returns the next batch of at most max samples (max >= 1), or io.EOF after the
	// last sample. Batches are independent of the reader: they stay valid after Close
	// and are never written by it, unless the caller hands one back (see Recycler).
	Next(max int) (*Batch, error)
	Close() error
}

// Recycler is implemented by readers that can reuse the memory of the batches they
// returned. A caller that reads many batches and is done with each (calibration) hands
// them back, and the reader then allocates nothing per batch in steady state.
type Recycler interface {
	// Recycle hands back a batch this reader's Next returned. The caller no longer uses
	// the batch or its tensors; a later Next may overwrite and return them.
	Recycle(b *Batch)
}

// Recycle hands b back to rd when rd is a Recycler, and does nothing otherwise.
func Recycle(rd Reader, b *Batch) {
	if r, ok := rd.(Recycler); ok && b != nil {
		r.Recycle(b)
	}
}

// maxSpareBatches bounds the batches a reader keeps for reuse.
const maxSpareBatches = 4

// spareBatches is a reader's stock of recycled batches.
type spareBatches []*Batch

func (s *spareBatches) put(b *Batch) {
	if len(*s) < maxSpareBatches {
		*s = append(*s, b)
	}
}

// take returns a recycled batch, or nil.
func (s *spareBatches) take() *Batch {
	if len(*s) == 0 {
		return nil
	}
	b := (*s)[len(*s)-1]
	(*s)[len(*s)-1] = nil
	*s = (*s)[:len(*s)-1]
	return b
}

// reuseTensor returns t reshaped to dt and shape over n bytes when its buffer holds them
// (keeping its buffer), or a new tensor.
func reuseTensor(t *tensor.Tensor, dt tensor.DType, shape []int, n int) *tensor.Tensor {
	if t == nil || cap(t.Data) < n {
		return &tensor.Tensor{DType: dt, Shape: append([]int{}, shape...), Data: tensor.New(tensor.U8, n).Data}
	}
	t.DType, t.Shape, t.Strides, t.Offset, t.Data = dt, append(t.Shape[:0], shape...), nil, 0, t.Data[:n]
	return t
}

// Batch is a run of consecutive samples.
type Batch struct {
	// Inputs holds one tensor per input name (see Source.Inputs), each shaped
	// [Len, sample shape...].
	Inputs map[string]*tensor.Tensor
	// Target is [Len, ...] when the source has targets, nil otherwise.
	Target *tensor.Tensor
	// Len is the number of samples in the batch.
	Len int
}

// Sample is one sample built in memory: tensors without the batch axis.
type Sample struct {
	Inputs map[string]*tensor.Tensor
	Target *tensor.Tensor
}

// BatchSizer is implemented by sources that prefer a batch size (see Batched).
type BatchSizer interface {
	BatchSize() int
}

// ErrEmpty is returned for a data set without samples.
var ErrEmpty = errors.New("data: no samples")

// targetKeys are the array names that npz and safetensors sources take as targets, in
// order of preference.
var targetKeys = []string{"label", "labels", "target", "targets", "y"}

// Limit returns a source of at most n samples of src (n < 0: all of them).
func Limit(src Source, n int) Source {
	if n < 0 {
		return src
	}
	return &limited{Source: src, n: n}
}

type limited struct {
	Source
	n int
}

func (l *limited) Len() int {
	if m := l.Source.Len(); m >= 0 && m < l.n {
		return m
	}
	if l.Source.Len() < 0 {
		return -1
	}
	return l.n
}

func (l *limited) BatchSize() int { return preferredBatch(l.Source) }

func (l *limited) Open(ctx context.Context) (Reader, error) {
	r, err := l.Source.Open(ctx)
	if err != nil {
		return nil, err
	}
	return &limitedReader{Reader: r, left: l.n}, nil
}

type limitedReader struct {
	Reader
	left int
}

func (r *limitedReader) Next(max int) (*Batch, error) {
	if r.left <= 0 {
		return nil, io.EOF
	}
	b, err := r.Reader.Next(min(max, r.left))
	if err != nil {
		return nil, err
	}
	r.left -= b.Len
	return b, nil
}

func (r *limitedReader) Recycle(b *Batch) { Recycle(r.Reader, b) }

// Batched returns src with a preferred batch size of n samples: calibration and
// evaluation read it n samples at a time unless told otherwise.
func Batched(src Source, n int) (Source, error) {
	if n < 1 {
		return nil, fmt.Errorf("data: batch size %d: must be at least 1", n)
	}
	return &batched{Source: src, n: n}, nil
}

type batched struct {
	Source
	n int
}

func (b *batched) BatchSize() int { return b.n }

func preferredBatch(src Source) int {
	if s, ok := src.(BatchSizer); ok {
		return s.BatchSize()
	}
	return 0
}

// PreferredBatchSize returns the batch size src asks for through Batched, or 0.
func PreferredBatchSize(src Source) int { return preferredBatch(src) }

// ShapeString formats a shape as [1,8,8].
func ShapeString(shape []int) string {
	s := "["
	for i, d := range shape {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(d)
	}
	return s + "]"
}
