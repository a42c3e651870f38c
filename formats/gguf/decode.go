package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Limits on what a header may claim. Every count is also bounded by the bytes left in the
// file, so nothing is allocated that the file does not pay for.
const (
	// MaxHeaderSize bounds metadata plus tensor descriptions. The largest real tokenizers
	// (256k tokens with merges) take a few tens of MiB.
	MaxHeaderSize = 512 << 20
	// MaxNesting bounds arrays of arrays (ggml itself reads none).
	MaxNesting = 8
	// MaxDims is ggml's GGML_MAX_DIMS.
	MaxDims = 4
	// MaxNameLen is the longest tensor name ggml holds (GGML_MAX_NAME - 1).
	MaxNameLen = 63
	// prealloc caps how many elements are allocated ahead of reading them.
	prealloc = 1 << 12
)

// decoder reads the header sequentially, counting bytes so every length is checked against
// what is left of the file and of MaxHeaderSize.
type decoder struct {
	r    *bufio.Reader
	pos  int64 // bytes consumed
	size int64 // file size
	buf  [8]byte
}

// left is how many bytes a claim may still use: the rest of the file, within MaxHeaderSize.
func (d *decoder) left() int64 { return min(d.size, MaxHeaderSize) - d.pos }

func (d *decoder) read(n int) ([]byte, error) {
	if int64(n) > d.size-d.pos {
		return nil, ErrTruncated
	}
	if int64(n) > d.left() {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrHeaderTooLarge, MaxHeaderSize)
	}
	if _, err := io.ReadFull(d.r, d.buf[:n]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTruncated, err)
	}
	d.pos += int64(n)
	return d.buf[:n], nil
}

func (d *decoder) u32() (uint32, error) {
	b, err := d.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64() (uint64, error) {
	b, err := d.read(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// count reads an element count and checks that n elements of at least minSize bytes each
// fit in what is left.
func (d *decoder) count(what string, minSize int) (int, error) {
	n, err := d.u64()
	if err != nil {
		return 0, err
	}
	if minSize > 0 && n > uint64(d.left())/uint64(minSize) {
		return 0, fmt.Errorf("%w: %d %s need at least %d bytes each, %d bytes are left", ErrCount, n, what, minSize, d.left())
	}
	return int(n), nil
}

func (d *decoder) str() (string, error) {
	n, err := d.u64()
	if err != nil {
		return "", err
	}
	if n > uint64(d.size-d.pos) {
		return "", fmt.Errorf("%w: a string of %d bytes with %d bytes left", ErrTruncated, n, d.size-d.pos)
	}
	if n > uint64(d.left()) {
		return "", fmt.Errorf("%w: more than %d bytes", ErrHeaderTooLarge, MaxHeaderSize)
	}
	b := make([]byte, n) // bounded by the file size and MaxHeaderSize
	if _, err := io.ReadFull(d.r, b); err != nil {
		return "", fmt.Errorf("%w: %v", ErrTruncated, err)
	}
	d.pos += int64(n)
	return string(b), nil
}

func (d *decoder) valueType() (ValueType, error) {
	t, err := d.u32()
	if err != nil {
		return 0, err
	}
	if ValueType(t) >= numValueTypes {
		return 0, fmt.Errorf("%w: %d", ErrValueType, t)
	}
	return ValueType(t), nil
}

// value reads one value of type t.
func (d *decoder) value(t ValueType, depth int) (Value, error) {
	if t == Array {
		return d.array(depth)
	}
	if t == String {
		s, err := d.str()
		return Value{Type: String, V: s}, err
	}
	b, err := d.read(t.fixedSize())
	if err != nil {
		return Value{}, err
	}
	return Value{Type: t, V: decodeScalar(t, b)}, nil
}

func decodeScalar(t ValueType, b []byte) any {
	le := binary.LittleEndian
	switch t {
	case Uint8:
		return b[0]
	case Int8:
		return int8(b[0])
	case Bool:
		return b[0] != 0
	case Uint16:
		return le.Uint16(b)
	case Int16:
		return int16(le.Uint16(b))
	case Uint32:
		return le.Uint32(b)
	case Int32:
		return int32(le.Uint32(b))
	case Float32:
		return math.Float32frombits(le.Uint32(b))
	case Uint64:
		return le.Uint64(b)
	case Int64:
		return int64(le.Uint64(b))
	case Float64:
		return math.Float64frombits(le.Uint64(b))
	}
	panic("gguf: decodeScalar of " + t.String())
}

func (d *decoder) array(depth int) (Value, error) {
	if depth >= MaxNesting {
		return Value{}, fmt.Errorf("%w: more than %d levels", ErrNesting, MaxNesting)
	}
	elem, err := d.valueType()
	if err != nil {
		return Value{}, err
	}
	n, err := d.count("array elements", elem.minSize())
	if err != nil {
		return Value{}, err
	}
	v := Value{Type: Array, Elem: elem}
	switch elem {
	case Array:
		v.V, err = readSlice(d, n, func() (Value, error) { return d.array(depth + 1) })
	case String:
		v.V, err = readSlice(d, n, d.str)
	default:
		v.V, err = scalarArrays[elem](d, n, elem)
	}
	return v, err
}

// scalarArrays reads an array of n scalars of each fixed-size type as a typed slice.
var scalarArrays = map[ValueType]func(d *decoder, n int, t ValueType) (any, error){
	Uint8: anyScalars[uint8], Int8: anyScalars[int8], Bool: anyScalars[bool],
	Uint16: anyScalars[uint16], Int16: anyScalars[int16],
	Uint32: anyScalars[uint32], Int32: anyScalars[int32], Float32: anyScalars[float32],
	Uint64: anyScalars[uint64], Int64: anyScalars[int64], Float64: anyScalars[float64],
}

func anyScalars[T any](d *decoder, n int, t ValueType) (any, error) {
	return readScalars[T](d, n, t)
}

// readSlice reads n elements, growing the slice as the data arrives rather than trusting n.
func readSlice[T any](d *decoder, n int, next func() (T, error)) ([]T, error) {
	out := make([]T, 0, min(n, prealloc))
	for range n {
		x, err := next()
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func readScalars[T any](d *decoder, n int, t ValueType) ([]T, error) {
	return readSlice(d, n, func() (T, error) {
		b, err := d.read(t.fixedSize())
		if err != nil {
			var zero T
			return zero, err
		}
		return decodeScalar(t, b).(T), nil
	})
}
