package tensor

import (
	"errors"
	"fmt"
	"math/bits"
)

// Tensor is an n-dimensional array of little-endian elements.
//
// Data holds the elements; Strides (in elements) and Offset (in elements) describe how
// the logical shape maps onto Data. Nil Strides means C-contiguous from Offset. A 0-d
// tensor has an empty Shape and one element.
type Tensor struct {
	DType   DType
	Shape   []int
	Strides []int
	Offset  int
	Data    []byte
}

// ErrShape is returned when a shape is negative or its element count overflows.
var ErrShape = errors.New("tensor: invalid shape")

// Numel returns the element count of shape, or an error when it is negative or overflows int.
func Numel(shape []int) (int, error) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("%w %v: negative dimension", ErrShape, shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > uint64(maxInt) {
			return 0, fmt.Errorf("%w %v: element count overflows", ErrShape, shape)
		}
		n = lo
	}
	return int(n), nil
}

const maxInt = int(^uint(0) >> 1)

// New allocates a zeroed contiguous tensor. It panics on an invalid shape; use Numel
// first for shapes that come from a file.
func New(dt DType, shape ...int) *Tensor {
	n, err := Numel(shape)
	if err != nil {
		panic(err)
	}
	return &Tensor{DType: dt, Shape: append([]int{}, shape...), Data: alignedBytes(n * dt.Size())}
}

// FromBytes wraps data as a contiguous tensor after checking its length. The tensor shares
// data, unless data is not aligned for the element type (a slice of a memory-mapped file
// can be misaligned): then it holds an aligned copy, so typed views never copy.
func FromBytes(dt DType, shape []int, data []byte) (*Tensor, error) {
	if !dt.Valid() {
		return nil, fmt.Errorf("tensor: invalid dtype %v", dt)
	}
	n, err := Numel(shape)
	if err != nil {
		return nil, err
	}
	hi, want := bits.Mul64(uint64(n), uint64(dt.Size()))
	if hi != 0 || want != uint64(len(data)) {
		return nil, fmt.Errorf("tensor: %v %v needs %d bytes, have %d", dt, shape, n*dt.Size(), len(data))
	}
	if !isAligned(data, uintptr(dt.Size())) {
		aligned := alignedBytes(len(data))
		copy(aligned, data)
		data = aligned
	}
	return &Tensor{DType: dt, Shape: append([]int{}, shape...), Data: data}, nil
}

// FromF32 builds an F32 tensor that shares v.
func FromF32(shape []int, v []float32) *Tensor {
	t, err := FromBytes(F32, shape, bytesOf(v))
	if err != nil {
		panic(err)
	}
	return t
}

// Numel returns the number of elements.
func (t *Tensor) Numel() int {
	n, _ := Numel(t.Shape)
	return n
}

// Nbytes returns the size of the logical elements in bytes.
func (t *Tensor) Nbytes() int { return t.Numel() * t.DType.Size() }

// ContiguousStrides returns the C-order strides of shape, in elements.
func ContiguousStrides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// IsContiguous reports whether the elements are laid out in C order starting at Data[0].
func (t *Tensor) IsContiguous() bool {
	if t.Offset != 0 {
		return false
	}
	if t.Strides == nil {
		return true
	}
	want := ContiguousStrides(t.Shape)
	for i, s := range t.Strides {
		if t.Shape[i] != 1 && s != want[i] {
			return false
		}
	}
	return true
}

// Contiguous returns t itself when it is contiguous, and otherwise a C-ordered copy.
// Its Data is then exactly Nbytes long.
func (t *Tensor) Contiguous() *Tensor {
	if t.IsContiguous() && len(t.Data) == t.Nbytes() {
		return t
	}
	out := New(t.DType, t.Shape...)
	es := t.DType.Size()
	strides := t.Strides
	if strides == nil {
		strides = ContiguousStrides(t.Shape)
	}
	n := t.Numel()
	idx := make([]int, len(t.Shape))
	for i := 0; i < n; i++ {
		src := t.Offset
		for d, v := range idx {
			src += v * strides[d]
		}
		copy(out.Data[i*es:(i+1)*es], t.Data[src*es:(src+1)*es])
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.Shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

// Clone returns a contiguous copy that shares nothing with t.
func (t *Tensor) Clone() *Tensor {
	c := t.Contiguous()
	out := &Tensor{DType: c.DType, Shape: append([]int{}, c.Shape...), Data: append([]byte(nil), c.Data...)}
	return out
}

// Reshape returns a tensor that shares t's data with a new shape of the same element count.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	n, err := Numel(shape)
	if err != nil {
		return nil, err
	}
	if n != t.Numel() {
		return nil, fmt.Errorf("tensor: cannot reshape %v to %v", t.Shape, shape)
	}
	c := t.Contiguous()
	return &Tensor{DType: c.DType, Shape: append([]int{}, shape...), Data: c.Data}, nil
}

func (t *Tensor) String() string { return fmt.Sprintf("Tensor(%v %v)", t.DType, t.Shape) }

// Info describes a stored tensor without its data.
type Info struct {
	Name  string
	DType DType
	Shape []int
}

// Bytes is the size of the tensor's data, or 0 when its shape is invalid.
func (i Info) Bytes() int64 {
	n, _ := Numel(i.Shape)
	return int64(n) * int64(i.DType.Size())
}

// CloneInfos copies infos and their shapes, so that a reader can give out its list without
// letting the caller change it.
func CloneInfos(infos []Info) []Info {
	out := make([]Info, len(infos))
	for i, info := range infos {
		out[i] = Info{Name: info.Name, DType: info.DType, Shape: append([]int{}, info.Shape...)}
	}
	return out
}
