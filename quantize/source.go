package quantize

import (
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"slices"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// sectionReader is implemented by readers that can hand out a tensor's bytes through
// positioned reads (safetensors' *File), which keeps a memory map untouched.
type sectionReader interface {
	Section(name string) (*io.SectionReader, error)
}

// workspace reads source tensors and holds the buffers one tensor's work needs. Buffers
// are reused from tensor to tensor, so memory stays at a small multiple of the largest
// tensor however large the model is. Everything it returns is valid only until the next
// call that uses the same buffer.
type workspace struct {
	src      formats.Model
	sections sectionReader // nil when the reader has no positioned reads
	raw      []byte        // source bytes (section reads)
	f32      []float32     // source values widened to float32
	codes    []int8        // stored integer codes
	out      []byte        // output data (packed words, casts, fp8, fake weights)

	// The streaming save's chunk buffers.
	scratch []float32 // dequantized values for the statistics
	fake    []float32 // dequantized values of a fake-layout chunk
	packed  []int32   // int4 words of a chunk
}

// releaseMinBytes is the buffer size above which a finished pass hands its memory back to
// the OS at once, so that a Save right after a Report does not hold both passes' buffers.
const releaseMinBytes = 64 << 20

func newWorkspace(src formats.Model) *workspace {
	return &workspace{src: src, sections: sectionsOf(src)}
}

// sectionsOf is src's reader (inside a *formats.File) when it reads at positions, else nil.
func sectionsOf(src formats.Model) sectionReader {
	if f, ok := src.(*formats.File); ok {
		src = f.Model
	}
	s, _ := src.(sectionReader)
	return s
}

// reserve sizes the buffers for the largest tensor of a pass up front: growing them tensor
// by tensor would leave each smaller buffer as garbage beside the larger one.
func (w *workspace) reserve(infos []tensor.Info, codes bool) {
	var maxBytes, maxElems int
	for _, info := range infos {
		n, err := tensor.Numel(info.Shape)
		if err != nil {
			continue
		}
		maxElems = max(maxElems, n)
		maxBytes = max(maxBytes, n*info.DType.Size())
	}
	if w.sections != nil {
		w.raw = make([]byte, 0, maxBytes)
	}
	if codes {
		w.codes = make([]int8, 0, maxElems)
	}
}

// release drops the buffers and, when they were large, returns the memory to the OS.
func (w *workspace) release() {
	size := cap(w.raw) + 4*cap(w.f32) + cap(w.codes) + cap(w.out) + 4*(cap(w.scratch)+cap(w.fake)+cap(w.packed))
	w.raw, w.f32, w.codes, w.out, w.scratch, w.fake, w.packed = nil, nil, nil, nil, nil, nil, nil
	if size >= releaseMinBytes {
		debug.FreeOSMemory()
	}
}

// grow returns buf resized to n elements, reallocating only when it is too small.
func grow[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	return buf[:n]
}

// read returns a source tensor. With positioned reads its data is the reused raw buffer;
// otherwise it is whatever the reader's Load gives (possibly a slice of a memory map).
func (w *workspace) read(info tensor.Info) (*tensor.Tensor, error) {
	if w.sections == nil {
		t, err := w.src.Load(info.Name)
		if err != nil {
			return nil, err
		}
		if t.DType != info.DType || !slices.Equal(t.Shape, info.Shape) {
			return nil, fmt.Errorf("tensor %q: loaded as %v %v, listed as %v %v", info.Name, t.DType, t.Shape, info.DType, info.Shape)
		}
		return t.Contiguous(), nil
	}
	sec, err := w.sections.Section(info.Name)
	if err != nil {
		return nil, err
	}
	n, err := tensor.Numel(info.Shape)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", info.Name, err)
	}
	size := int64(n) * int64(info.DType.Size())
	if sec.Size() != size {
		return nil, fmt.Errorf("tensor %q: %d bytes stored, %d expected", info.Name, sec.Size(), size)
	}
	w.raw = grow(w.raw, int(size))
	if _, err := sec.ReadAt(w.raw, 0); err != nil && !(err == io.EOF && size == 0) {
		return nil, fmt.Errorf("tensor %q: %w", info.Name, err)
	}
	return tensor.FromBytes(info.DType, info.Shape, w.raw)
}

// floats returns t's elements as float32: F32 data itself, other float dtypes widened
// into the reused f32 buffer.
func (w *workspace) floats(t *tensor.Tensor) ([]float32, error) {
	if t.DType == tensor.F32 && t.IsContiguous() {
		return t.F32()[:t.Numel()], nil
	}
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("%v tensor is not floating point", t.DType)
	}
	c := t.Contiguous()
	n := c.Numel()
	w.f32 = grow(w.f32, n)
	var err error
	switch c.DType {
	case tensor.F16:
		err = quant.F16ToF32To(w.f32, c.U16()[:n])
	case tensor.BF16:
		err = quant.BF16ToF32To(w.f32, c.U16()[:n])
	case tensor.F8E4M3:
		err = quant.F8E4M3ToF32To(w.f32, c.U8()[:n])
	case tensor.F8E5M2:
		err = quant.F8E5M2ToF32To(w.f32, c.U8()[:n])
	case tensor.F64:
		for i, v := range c.F64()[:n] {
			w.f32[i] = float32(v)
		}
	default:
		copy(w.f32, c.ToF32())
	}
	return w.f32, err
}

// checkFinite reports the first NaN or ±Inf of x as a *quant.NonFiniteError.
func checkFinite(x []float32) error {
	// v - v is 0 for finite v and NaN otherwise: one OR per element, no branches.
	var bad uint32
	for _, v := range x {
		bad |= math.Float32bits(v - v)
	}
	if bad == 0 {
		return nil
	}
	_, _, err := quant.MinMaxOf(x)
	return err
}
