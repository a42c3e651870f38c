package npy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"

	"github.com/qscript-dev/qscript/tensor"
)

// MaxHeaderSize bounds the header dict. NumPy itself refuses headers over 10000 bytes by
// default; 64 KiB leaves room for any real shape.
const MaxHeaderSize = 64 << 10

// magic starts every .npy file.
const magic = "\x93NUMPY"

// Header is a parsed .npy header.
type Header struct {
	DType        tensor.DType
	Shape        []int
	FortranOrder bool
	Major, Minor byte
	DataOffset   int64 // bytes before the data: magic, version, length and dict
	DataSize     int64 // numel × dtype size, overflow-checked
}

// descrs maps the dtype strings numpy writes to tensor dtypes. One-byte types use '|'.
var descrs = map[string]tensor.DType{
	"<f8": tensor.F64, "<f4": tensor.F32, "<f2": tensor.F16,
	"<i8": tensor.I64, "<i4": tensor.I32, "<i2": tensor.I16,
	"|i1": tensor.I8, "|u1": tensor.U8, "|b1": tensor.Bool,
	"<i1": tensor.I8, "<u1": tensor.U8, "<b1": tensor.Bool,
}

// descrOf is the descr written for each dtype; BF16 and fp8 have no numpy dtype.
var descrOf = map[tensor.DType]string{
	tensor.F64: "<f8", tensor.F32: "<f4", tensor.F16: "<f2",
	tensor.I64: "<i8", tensor.I32: "<i4", tensor.I16: "<i2",
	tensor.I8: "|i1", tensor.U8: "|u1", tensor.Bool: "|b1",
}

// ReadHeader reads the magic, version, length and header dict from r and validates them.
// It reads exactly DataOffset bytes and allocates at most MaxHeaderSize.
func ReadHeader(r io.Reader) (Header, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return Header{}, ErrNotNpy
	}
	if string(pre[:6]) != magic {
		return Header{}, ErrNotNpy
	}
	h := Header{Major: pre[6], Minor: pre[7]}
	var n uint64
	switch {
	case h.Major == 1 && h.Minor == 0:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return Header{}, ErrTruncated
		}
		n = uint64(binary.LittleEndian.Uint16(pre[8:10]))
		h.DataOffset = 10
	case (h.Major == 2 || h.Major == 3) && h.Minor == 0:
		var l [4]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return Header{}, ErrTruncated
		}
		n = uint64(binary.LittleEndian.Uint32(l[:]))
		h.DataOffset = 12
	default:
		return Header{}, fmt.Errorf("%w %d.%d", ErrVersion, h.Major, h.Minor)
	}
	if n > MaxHeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrHeaderTooLarge, n, MaxHeaderSize)
	}
	text := make([]byte, n)
	if _, err := io.ReadFull(r, text); err != nil {
		return Header{}, fmt.Errorf("%w: header of %d bytes", ErrTruncated, n)
	}
	h.DataOffset += int64(n)
	if err := h.parseDict(text); err != nil {
		return Header{}, err
	}
	return h, nil
}

// parseDict interprets {'descr': ..., 'fortran_order': ..., 'shape': (...), } exactly.
func (h *Header) parseDict(text []byte) error {
	dict, err := parseLiteral(text)
	if err != nil {
		return err
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if _, ok := dict[k]; !ok {
			return fmt.Errorf("%w: missing key '%s'", ErrInvalidHeader, k)
		}
	}
	if len(dict) != 3 {
		for k := range dict {
			if k != "descr" && k != "fortran_order" && k != "shape" {
				return fmt.Errorf("%w: unknown key '%s'", ErrInvalidHeader, k)
			}
		}
	}
	descr, ok := dict["descr"].(string)
	if !ok {
		return fmt.Errorf("%w: structured dtype %s", ErrUnsupportedDType, describe(dict["descr"]))
	}
	dt, ok := descrs[descr]
	switch {
	case ok:
	case len(descr) > 0 && descr[0] == '>':
		return fmt.Errorf("%w (descr '%s'); convert with a.astype('<%s')", ErrBigEndian, descr, descr[1:])
	default:
		return fmt.Errorf("%w '%s'", ErrUnsupportedDType, descr)
	}
	fortran, ok := dict["fortran_order"].(bool)
	if !ok {
		return fmt.Errorf("%w: fortran_order is %s, not True or False", ErrInvalidHeader, describe(dict["fortran_order"]))
	}
	tuple, ok := dict["shape"].(pyTuple)
	if !ok {
		return fmt.Errorf("%w: shape is %s, not a tuple", ErrInvalidShape, describe(dict["shape"]))
	}
	shape := make([]int, len(tuple))
	numel := uint64(1)
	for i, v := range tuple {
		d, ok := v.(int64)
		if !ok || d < 0 {
			return fmt.Errorf("%w: dimension %d is %s", ErrInvalidShape, i, describe(v))
		}
		hi, lo := bits.Mul64(numel, uint64(d))
		if hi != 0 {
			return fmt.Errorf("%w %v: element count overflows", ErrInvalidShape, tuple)
		}
		numel, shape[i] = lo, int(d)
	}
	hi, size := bits.Mul64(numel, uint64(dt.Size()))
	if hi != 0 || size > 1<<62 {
		return fmt.Errorf("%w %v: byte count overflows", ErrInvalidShape, tuple)
	}
	h.DType, h.Shape, h.FortranOrder, h.DataSize = dt, shape, fortran, int64(size)
	return nil
}

// EncodeHeader returns the magic, version, length and dict for an array, padded with
// spaces and a newline so the data starts 64-byte aligned, as numpy writes it. Version
// 1.0 is used unless the padded dict needs more than 65535 bytes.
func EncodeHeader(dt tensor.DType, shape []int) ([]byte, error) {
	descr, ok := descrOf[dt]
	if !ok {
		return nil, fmt.Errorf("%w: %v has no numpy dtype; convert it to F32 first", ErrWrite, dt)
	}
	if _, err := tensor.Numel(shape); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrite, err)
	}
	var dict bytes.Buffer
	fmt.Fprintf(&dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr)
	for i, d := range shape {
		if i > 0 {
			dict.WriteString(", ")
		}
		dict.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		dict.WriteByte(',')
	}
	dict.WriteString("), }")
	// Version 1.0 stores the padded length in 16 bits; padding can push it over.
	prefix := 10
	if padded := (prefix+dict.Len()+1+63)/64*64 - prefix; padded > math.MaxUint16 {
		prefix = 12
	}
	for (prefix+dict.Len()+1)%64 != 0 {
		dict.WriteByte(' ')
	}
	dict.WriteByte('\n')
	out := []byte(magic)
	if prefix == 10 {
		out = append(out, 1, 0)
		out = binary.LittleEndian.AppendUint16(out, uint16(dict.Len()))
	} else {
		out = append(out, 2, 0)
		out = binary.LittleEndian.AppendUint32(out, uint32(dict.Len()))
	}
	return append(out, dict.Bytes()...), nil
}
