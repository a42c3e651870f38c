package safetensors

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/qscript-dev/qscript/formats/atomicfile"
	"github.com/qscript-dev/qscript/tensor"
)

// slot is one tensor's place in the file being written.
type slot struct {
	info       tensor.Info
	begin, end uint64
	written    bool
	filled     uint64 // bytes stored by WriteRange
}

// layout computes the header for infos: tensors sorted by name, packed in that order, the
// metadata strings first, and the JSON padded with spaces to a multiple of 8 bytes so the
// data section starts 8-byte aligned.
func layout(infos []tensor.Info, meta map[string]string) ([]byte, []*slot, error) {
	sorted := slices.Clone(infos)
	slices.SortFunc(sorted, func(a, b tensor.Info) int { return strings.Compare(a.Name, b.Name) })
	slots := make([]*slot, len(sorted))
	var offset uint64
	for i, info := range sorted {
		if i > 0 && sorted[i-1].Name == info.Name {
			return nil, nil, fmt.Errorf("tensor %q: %w: %w", info.Name, ErrWrite, ErrDuplicateName)
		}
		if !utf8.ValidString(info.Name) {
			// JSON would write U+FFFD in place of the bad bytes: the file would hold another name.
			return nil, nil, fmt.Errorf("tensor %q: %w: the name is not valid UTF-8", info.Name, ErrWrite)
		}
		if info.Name == metadataKey {
			return nil, nil, fmt.Errorf("tensor %q: %w: the name is reserved for metadata", info.Name, ErrWrite)
		}
		if !info.DType.Valid() {
			return nil, nil, fmt.Errorf("tensor %q: %w: invalid dtype %v", info.Name, ErrWrite, info.DType)
		}
		numel, err := tensor.Numel(info.Shape)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w: %w", info.Name, ErrWrite, err)
		}
		hi, nbytes := bits.Mul64(uint64(numel), uint64(info.DType.Size()))
		end, carry := bits.Add64(offset, nbytes, 0)
		if hi != 0 || carry != 0 {
			return nil, nil, fmt.Errorf("tensor %q: %w: size overflows", info.Name, ErrWrite)
		}
		slots[i] = &slot{info: tensor.Info{Name: info.Name, DType: info.DType, Shape: slices.Clone(info.Shape)}, begin: offset, end: end}
		offset = end
	}
	for k, v := range meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, nil, fmt.Errorf("%w: metadata %q: key or value is not valid UTF-8", ErrWrite, k)
		}
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	if len(meta) > 0 {
		writeJSONString(&buf, metadataKey)
		buf.WriteString(":{")
		keys := slices.Sorted(maps.Keys(meta))
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(&buf, k)
			buf.WriteByte(':')
			writeJSONString(&buf, meta[k])
		}
		buf.WriteByte('}')
	}
	for i, s := range slots {
		if i > 0 || len(meta) > 0 {
			buf.WriteByte(',')
		}
		writeJSONString(&buf, s.info.Name)
		buf.WriteString(`:{"dtype":"`)
		buf.WriteString(s.info.DType.String())
		buf.WriteString(`","shape":[`)
		for j, d := range s.info.Shape {
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(d))
		}
		fmt.Fprintf(&buf, `],"data_offsets":[%d,%d]}`, s.begin, s.end)
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	if buf.Len() > MaxHeaderSize {
		return nil, nil, fmt.Errorf("%w: %w: %d bytes", ErrWrite, ErrHeaderTooLarge, buf.Len())
	}
	out := make([]byte, 8, 8+buf.Len())
	binary.LittleEndian.PutUint64(out, uint64(buf.Len()))
	return append(out, buf.Bytes()...), slots, nil
}

func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	buf.Write(b)
}

// Writer streams a safetensors file: the header is fixed by Create from the tensor list,
// then each tensor's data is written in any order with Write, so only one tensor needs
// to be in memory at a time. Nothing appears at the destination until Close succeeds.
type Writer struct {
	f         *atomicfile.File
	direct    *atomicfile.Direct // O_DIRECT writes after Direct, else nil
	header    []byte
	dataStart int64
	slots     map[string]*slot
	err       error // first failure; the writer refuses further work after it
}

// Create starts a safetensors file at path holding the tensors described by infos and the
// string metadata meta (may be nil). The data goes to a temporary file in the same folder.
func Create(path string, infos []tensor.Info, meta map[string]string) (*Writer, error) {
	header, slots, err := layout(infos, meta)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := f.Write(header); err != nil {
		f.Abort()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w := &Writer{f: f, header: header, dataStart: int64(len(header)), slots: make(map[string]*slot, len(slots))}
	for _, s := range slots {
		w.slots[s.info.Name] = s
	}
	return w, nil
}

// Write stores one tensor's data. Its dtype and shape must match the record given to
// Create. Strided tensors are made contiguous first (one copy of that tensor).
func (w *Writer) Write(name string, t *tensor.Tensor) error {
	if w.err != nil {
		return w.err
	}
	s, ok := w.slots[name]
	if !ok {
		return fmt.Errorf("%s: tensor %q: %w: not in the header given to Create", w.f.Path(), name, ErrWrite)
	}
	if s.written || s.filled > 0 {
		return fmt.Errorf("%s: tensor %q: %w: written twice", w.f.Path(), name, ErrWrite)
	}
	if t.DType != s.info.DType || !slices.Equal(t.Shape, s.info.Shape) {
		return fmt.Errorf("%s: tensor %q: %w: have %v %v, the header says %v %v",
			w.f.Path(), name, ErrWrite, t.DType, t.Shape, s.info.DType, s.info.Shape)
	}
	data := t.Contiguous().Data
	if uint64(len(data)) != s.end-s.begin {
		return fmt.Errorf("%s: tensor %q: %w: %d data bytes, want %d", w.f.Path(), name, ErrWrite, len(data), s.end-s.begin)
	}
	if _, err := w.writeAt(data, w.dataStart+int64(s.begin)); err != nil {
		w.err = fmt.Errorf("%s: tensor %q: %w", w.f.Path(), name, err)
		return w.err
	}
	s.written = true
	return nil
}

// Close commits the file when every tensor has been written; otherwise it removes the
// temporary file and reports the first missing tensor.
func (w *Writer) Close() error {
	if w.err == nil && w.direct != nil {
		if err := w.direct.Close(); err != nil {
			w.err = fmt.Errorf("%s: %w", w.f.Path(), err)
		}
		w.direct = nil
	}
	if w.err != nil {
		w.f.Abort()
		return w.err
	}
	for _, name := range slices.Sorted(maps.Keys(w.slots)) {
		if !w.slots[name].written {
			w.f.Abort()
			w.err = fmt.Errorf("%s: tensor %q: %w: never written", w.f.Path(), name, ErrWrite)
			return w.err
		}
	}
	if err := w.f.Commit(); err != nil {
		w.err = fmt.Errorf("%s: %w", w.f.Path(), err)
		return w.err
	}
	w.err = fmt.Errorf("%s: %w: already closed", w.f.Path(), ErrWrite)
	return nil
}

// Abort removes the temporary file; the destination is left untouched. It is safe to
// call after Close.
func (w *Writer) Abort() error {
	if w.err == nil {
		w.err = fmt.Errorf("%s: %w: aborted", w.f.Path(), ErrWrite)
	}
	if w.direct != nil {
		w.direct.Close()
		w.direct = nil
	}
	return w.f.Abort()
}

// WriteFile writes a safetensors file at path for the tensors in infos, calling load for
// each one in file order and writing its data before asking for the next, so peak memory
// is about one tensor. On any error, or when ctx is cancelled, no file is left behind.
func WriteFile(ctx context.Context, path string, infos []tensor.Info, meta map[string]string,
	load func(name string) (*tensor.Tensor, error)) error {
	w, err := Create(path, infos, meta)
	if err != nil {
		return err
	}
	defer w.Abort()
	names := make([]string, len(infos))
	for i, info := range infos {
		names[i] = info.Name
	}
	slices.Sort(names)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		t, err := load(name)
		if err != nil {
			return fmt.Errorf("%s: tensor %q: %w", path, name, err)
		}
		if err := w.Write(name, t); err != nil {
			return err
		}
	}
	return w.Close()
}
