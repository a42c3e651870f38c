package tensor

import (
	"fmt"
	"unsafe"
)

// Typed views reinterpret contiguous Data without copying, so writes through a view change
// the tensor. They panic when the dtype does not match, when the tensor is strided (call
// Contiguous first) or when Data is shorter than the shape needs.
//
// Data that is not aligned for the element type gives a copy instead, and writes to that
// copy do not reach the tensor. Tensors from New, FromBytes and the format readers are always
// aligned, so this happens only for hand-built tensors over a misaligned byte slice. The
// tensor itself is never modified by a view: models are cached and read by several
// goroutines at once.

// F32 returns the elements of an F32 tensor.
func (t *Tensor) F32() []float32 { return view[float32](t, F32) }

// F64 returns the elements of an F64 tensor.
func (t *Tensor) F64() []float64 { return view[float64](t, F64) }

// I64 returns the elements of an I64 tensor.
func (t *Tensor) I64() []int64 { return view[int64](t, I64) }

// I32 returns the elements of an I32 tensor.
func (t *Tensor) I32() []int32 { return view[int32](t, I32) }

// I16 returns the elements of an I16 tensor.
func (t *Tensor) I16() []int16 { return view[int16](t, I16) }

// I8 returns the elements of an I8 tensor.
func (t *Tensor) I8() []int8 { return view[int8](t, I8) }

// U8 returns the elements of a U8, BOOL or fp8 tensor as raw bytes.
func (t *Tensor) U8() []uint8 {
	switch t.DType {
	case U8, Bool, F8E4M3, F8E5M2:
	default:
		panic(fmt.Sprintf("tensor: U8 view of %v tensor", t.DType))
	}
	return t.Data[:t.Numel()]
}

// U16 returns the raw bits of an F16 or BF16 tensor.
func (t *Tensor) U16() []uint16 {
	if t.DType != F16 && t.DType != BF16 {
		panic(fmt.Sprintf("tensor: U16 view of %v tensor", t.DType))
	}
	return viewAny[uint16](t)
}

func view[T any](t *Tensor, want DType) []T {
	if t.DType != want {
		panic(fmt.Sprintf("tensor: %v view of %v tensor", want, t.DType))
	}
	return viewAny[T](t)
}

func viewAny[T any](t *Tensor) []T {
	if !t.IsContiguous() {
		panic("tensor: typed view of a strided tensor; call Contiguous first")
	}
	var zero T
	size := int(unsafe.Sizeof(zero))
	n := t.Numel()
	if len(t.Data)/size < n {
		panic(fmt.Sprintf("tensor: %v %v needs %d elements, Data holds %d bytes", t.DType, t.Shape, n, len(t.Data)))
	}
	if n == 0 {
		return []T{}
	}
	if !isAligned(t.Data, unsafe.Alignof(zero)) {
		out := make([]T, n)
		copy(bytesOf(out), t.Data)
		return out
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&t.Data[0])), n)
}

func isAligned(b []byte, align uintptr) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%align == 0
}

// alignedBytes allocates n zeroed bytes aligned for every element type (8 bytes): the Go
// allocator only promises a []byte byte alignment.
func alignedBytes(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	words := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), n)
}

// bytesOf reinterprets a slice of fixed-size values as bytes, without copying.
func bytesOf[T any](v []T) []byte {
	if len(v) == 0 {
		return []byte{}
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*int(unsafe.Sizeof(zero)))
}

// Bytes reinterprets a slice of numbers as little-endian bytes without copying.
func Bytes[T float32 | float64 | int64 | int32 | int16 | int8 | uint16 | uint8](v []T) []byte {
	return bytesOf(v)
}
