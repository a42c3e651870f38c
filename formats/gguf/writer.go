package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/qscript-dev/qscript/formats/atomicfile"
)

// Layout checks kvs and tensors and returns the encoded header, padded to the alignment so
// that the data section starts right after it, and the tensors with Offset and Size set
// (in order, each padded to the alignment, as ggml requires). The alignment is the u32
// general.alignment in kvs, else DefaultAlignment.
func Layout(kvs []KV, tensors []TensorInfo) ([]byte, []TensorInfo, error) {
	align := uint64(DefaultAlignment)
	seen := map[string]bool{}
	for _, kv := range kvs {
		if kv.Key == "" || seen[kv.Key] {
			return nil, nil, fmt.Errorf("%w: %q (empty or repeated)", ErrKey, kv.Key)
		}
		seen[kv.Key] = true
		if err := kv.Value.check(0); err != nil {
			return nil, nil, fmt.Errorf("metadata %q: %w", kv.Key, err)
		}
		if kv.Key == AlignmentKey {
			a, ok := kv.Value.V.(uint32)
			if !ok || a == 0 || a&(a-1) != 0 {
				return nil, nil, fmt.Errorf("%w: %v (a u32 power of two)", ErrAlignment, kv.Value)
			}
			align = uint64(a)
		}
	}
	out, err := placeTensors(tensors, align)
	if err != nil {
		return nil, nil, err
	}
	b := binary.LittleEndian.AppendUint32(nil, 0)
	copy(b, Magic)
	b = binary.LittleEndian.AppendUint32(b, Version)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(out)))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(kvs)))
	for _, kv := range kvs {
		b = appendString(b, kv.Key)
		b = binary.LittleEndian.AppendUint32(b, uint32(kv.Value.Type))
		b = appendValue(b, kv.Value)
	}
	for _, t := range out {
		b = appendString(b, t.Name)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t.Dims)))
		for _, d := range t.Dims {
			b = binary.LittleEndian.AppendUint64(b, d)
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Type))
		b = binary.LittleEndian.AppendUint64(b, t.Offset)
	}
	if len(b) > MaxHeaderSize {
		return nil, nil, fmt.Errorf("%w: %d bytes", ErrHeaderTooLarge, len(b))
	}
	return append(b, make([]byte, pad(uint64(len(b)), align)-uint64(len(b)))...), out, nil
}

func placeTensors(tensors []TensorInfo, align uint64) ([]TensorInfo, error) {
	out := make([]TensorInfo, len(tensors))
	names := map[string]bool{}
	var next uint64
	for i, t := range tensors {
		if t.Name == "" || len(t.Name) > MaxNameLen {
			return nil, fmt.Errorf("%w: %q (1 to %d bytes)", ErrTensorName, t.Name, MaxNameLen)
		}
		if names[t.Name] {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateName, t.Name)
		}
		names[t.Name] = true
		size, err := TensorSize(t.Type, t.Dims)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		out[i] = TensorInfo{Name: t.Name, Type: t.Type, Dims: slices.Clone(t.Dims), Offset: next, Size: size}
		if next+size < next || pad(next+size, align) > 1<<62 {
			return nil, fmt.Errorf("tensor %q: %w: data section past 2^62 bytes", t.Name, ErrOverflow)
		}
		next = pad(next+size, align)
	}
	return out, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v Value) []byte {
	le := binary.LittleEndian
	switch x := v.V.(type) {
	case uint8:
		return append(b, x)
	case int8:
		return append(b, byte(x))
	case bool:
		if x {
			return append(b, 1)
		}
		return append(b, 0)
	case uint16:
		return le.AppendUint16(b, x)
	case int16:
		return le.AppendUint16(b, uint16(x))
	case uint32:
		return le.AppendUint32(b, x)
	case int32:
		return le.AppendUint32(b, uint32(x))
	case float32:
		return le.AppendUint32(b, math.Float32bits(x))
	case uint64:
		return le.AppendUint64(b, x)
	case int64:
		return le.AppendUint64(b, uint64(x))
	case float64:
		return le.AppendUint64(b, math.Float64bits(x))
	case string:
		return appendString(b, x)
	}
	// An array (check has validated the slice type against Elem).
	b = le.AppendUint32(b, uint32(v.Elem))
	b = le.AppendUint64(b, uint64(v.Len()))
	return appendElems(b, v)
}

// appendElems appends the elements of a scalar array (or recurses for arrays of arrays).
func appendElems(b []byte, v Value) []byte {
	if elems, ok := v.V.([]Value); ok {
		for _, e := range elems {
			b = binary.LittleEndian.AppendUint32(b, uint32(e.Elem))
			b = binary.LittleEndian.AppendUint64(b, uint64(e.Len()))
			b = appendElems(b, e)
		}
		return b
	}
	for i := range v.Len() {
		b = appendValue(b, Value{Type: v.Elem, V: elemAt(v.V, i)})
	}
	return b
}

func elemAt(s any, i int) any {
	switch a := s.(type) {
	case []uint8:
		return a[i]
	case []int8:
		return a[i]
	case []uint16:
		return a[i]
	case []int16:
		return a[i]
	case []uint32:
		return a[i]
	case []int32:
		return a[i]
	case []float32:
		return a[i]
	case []bool:
		return a[i]
	case []string:
		return a[i]
	case []uint64:
		return a[i]
	case []int64:
		return a[i]
	case []float64:
		return a[i]
	}
	panic(fmt.Sprintf("gguf: elemAt of %T", s))
}

// Writer streams a GGUF file: Create writes the header, then Write takes the tensors' data
// in the order given to Create, in pieces of any size, and pads each tensor to the
// alignment when its last byte arrives (the last one too, as ggml's writer does).
type Writer struct {
	f       *atomicfile.File
	bw      *bufio.Writer
	tensors []TensorInfo
	align   uint64
	cur     int    // tensor being written
	done    uint64 // its bytes written so far
	err     error
}

// Create starts a GGUF file at path (committed atomically by Commit) and writes its header.
func Create(path string, kvs []KV, tensors []TensorInfo) (*Writer, error) {
	header, placed, err := Layout(kvs, tensors)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, bw: bufio.NewWriterSize(f, 1<<20), tensors: placed, align: DefaultAlignment}
	for _, kv := range kvs {
		if a, ok := kv.Value.V.(uint32); ok && kv.Key == AlignmentKey {
			w.align = uint64(a)
		}
	}
	if _, err := w.bw.Write(header); err != nil {
		f.Abort()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w.skipEmpty()
	return w, nil
}

// Write appends data to the current tensor, moving on to the next tensor (after the
// alignment padding) when one is complete. A write may span tensors.
func (w *Writer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if w.err != nil {
			return n, w.err
		}
		if w.cur >= len(w.tensors) {
			w.err = fmt.Errorf("%s: %w: %d bytes past the last tensor", w.f.Path(), ErrWrite, len(p))
			return n, w.err
		}
		t := w.tensors[w.cur]
		k := int(min(uint64(len(p)), t.Size-w.done))
		if _, err := w.bw.Write(p[:k]); err != nil {
			w.err = fmt.Errorf("%s: tensor %q: %w", w.f.Path(), t.Name, err)
			return n, w.err
		}
		n, p, w.done = n+k, p[k:], w.done+uint64(k)
		if w.done == t.Size {
			w.finishTensor()
		}
	}
	return n, w.err
}

func (w *Writer) finishTensor() {
	t := w.tensors[w.cur]
	if _, err := w.bw.Write(make([]byte, pad(t.Size, w.align)-t.Size)); err != nil {
		w.err = fmt.Errorf("%s: tensor %q: %w", w.f.Path(), t.Name, err)
	}
	w.cur, w.done = w.cur+1, 0
	w.skipEmpty()
}

// skipEmpty moves past zero-byte tensors, which take no data.
func (w *Writer) skipEmpty() {
	for w.cur < len(w.tensors) && w.tensors[w.cur].Size == 0 {
		w.cur++
	}
}

// Commit checks that every tensor was written in full and renames the file into place.
func (w *Writer) Commit() error {
	if w.err != nil {
		w.f.Abort()
		return w.err
	}
	if w.cur < len(w.tensors) {
		t := w.tensors[w.cur]
		w.err = fmt.Errorf("%s: tensor %q: %w: %d of %d bytes written", w.f.Path(), t.Name, ErrWrite, w.done, t.Size)
		w.f.Abort()
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.f.Abort()
		w.err = fmt.Errorf("%s: %w", w.f.Path(), err)
		return w.err
	}
	if err := w.f.Commit(); err != nil {
		w.err = fmt.Errorf("%s: %w", w.f.Path(), err)
		return w.err
	}
	w.err = fmt.Errorf("%s: %w: already committed", w.f.Path(), ErrWrite)
	return nil
}

// Abort removes the temporary file, leaving any existing file at the path untouched. It is
// safe to call after Commit.
func (w *Writer) Abort() error {
	if w.err == nil {
		w.err = fmt.Errorf("%s: %w: aborted", w.f.Path(), ErrWrite)
	}
	return w.f.Abort()
}
