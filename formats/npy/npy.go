package npy

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/formats/atomicfile"
	"github.com/qscript-dev/qscript/tensor"

	"github.com/qscript-dev/qscript/internal/paths"
)

// File is an open .npy file: one array, named after the file's stem ("x" for x.npy) when
// opened by OpenFile, and "" when opened from a reader.
type File struct {
	name   string
	r      io.ReaderAt
	header Header
	source
}

// source is what File and Archive share: the path errors name (none for a reader) and the
// file Close closes.
type source struct {
	path   string
	closer io.Closer
	closed bool
}

// Open reads the header of the .npy data in r (size bytes) and checks that the data that
// follows is exactly shape×dtype long. The array's name is "".
func Open(r io.ReaderAt, size int64) (*File, error) {
	h, err := ReadHeader(io.NewSectionReader(r, 0, size))
	if err != nil {
		return nil, err
	}
	if have := size - h.DataOffset; have != h.DataSize {
		return nil, fmt.Errorf("%w: %v %v needs %d bytes, the file holds %d after the header",
			ErrDataSize, h.DType, h.Shape, h.DataSize, have)
	}
	return &File{r: r, header: h}, nil
}

// OpenFile opens a .npy file by path; its array is named after the file stem. Errors name
// the path.
func OpenFile(path string) (*File, error) {
	f, osf, err := openPath(path, Open)
	if err != nil {
		return nil, err
	}
	f.name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	f.path, f.closer = path, osf
	return f, nil
}

// openPath opens the file at path and hands it, with its size, to open. The file is closed
// when open fails, and its errors are prefixed with path.
func openPath[T any](path string, open func(io.ReaderAt, int64) (T, error)) (T, *os.File, error) {
	var zero T
	osf, err := paths.Open(path)
	if err != nil {
		return zero, nil, err
	}
	st, err := osf.Stat()
	if err != nil {
		osf.Close()
		return zero, nil, err
	}
	v, err := open(osf, st.Size())
	if err != nil {
		osf.Close()
		return zero, nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, osf, nil
}

// Header returns the parsed header.
func (f *File) Header() Header { return f.header }

// Tensors lists the one array.
func (f *File) Tensors() []tensor.Info {
	return []tensor.Info{{Name: f.name, DType: f.header.DType, Shape: slices.Clone(f.header.Shape)}}
}

// Metadata is empty: .npy files carry none.
func (f *File) Metadata() map[string]string { return map[string]string{} }

// Load reads the array into a new C-ordered tensor (Fortran-ordered data is transposed).
func (f *File) Load(name string) (*tensor.Tensor, error) {
	if f.closed {
		return nil, f.pathError(ErrClosed)
	}
	if name != f.name {
		return nil, f.pathError(fmt.Errorf("array %q: %w (this file holds %q)", name, ErrNotFound, f.name))
	}
	// DataSize was checked against the file size at Open, so this allocation is bounded.
	data := make([]byte, f.header.DataSize)
	if err := readFullAt(f.r, data, f.header.DataOffset); err != nil {
		return nil, f.pathError(fmt.Errorf("array %q: %w", name, err))
	}
	return f.header.tensor(data), nil
}

// tensor wraps data read for this header, transposing Fortran order to C order.
func (h Header) tensor(data []byte) *tensor.Tensor {
	t := &tensor.Tensor{DType: h.DType, Shape: slices.Clone(h.Shape), Data: data}
	if h.FortranOrder && len(h.Shape) > 1 {
		t.Strides = make([]int, len(h.Shape))
		acc := 1
		for i, d := range h.Shape {
			t.Strides[i] = acc
			acc *= d
		}
		t = t.Contiguous()
	}
	return t
}

func (s *source) pathError(err error) error {
	if s.path == "" {
		return err
	}
	return fmt.Errorf("%s: %w", s.path, err)
}

// Close closes the file.
func (s *source) Close() error {
	if s.closed || s.closer == nil {
		s.closed = true
		return nil
	}
	s.closed = true
	return s.closer.Close()
}

// Encode writes t as .npy data (C order, little-endian) to w.
func Encode(w io.Writer, t *tensor.Tensor) error {
	header, err := EncodeHeader(t.DType, t.Shape)
	if err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	_, err = w.Write(t.Contiguous().Data)
	return err
}

// WriteFile writes t to path as a .npy file, atomically.
func WriteFile(path string, t *tensor.Tensor) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Abort()
	if err := Encode(f, t); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readFullAt fills data from r at off. A ReaderAt may report io.EOF along with a full read
// that ends at the end of its input; that is success.
func readFullAt(r io.ReaderAt, data []byte, off int64) error {
	if len(data) == 0 {
		return nil
	}
	n, err := r.ReadAt(data, off)
	if n == len(data) {
		return nil
	}
	return err
}
