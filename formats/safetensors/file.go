package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/qscript-dev/qscript/formats/internal/mapfile"
	"github.com/qscript-dev/qscript/tensor"
)

// File is an open safetensors file. Its header is validated; tensor data is read only by
// Load or Section. A File is safe for concurrent Load calls until Close.
type File struct {
	path      string      // for error messages; "" when opened from a ReaderAt
	r         io.ReaderAt // positioned reads (the *os.File when opened by path)
	mapping   []byte      // the whole file when memory-mapped, else nil
	dataStart int64       // offset of the data section: 8 + header length
	entries   map[string]entry
	infos     []tensor.Info // sorted by name
	metadata  map[string]string
	mapped    *mapfile.File // the file OpenFile opened, which Close closes
	closed    bool
}

// Open reads and validates the header of the safetensors data in r, which holds size
// bytes. Tensor data is read from r by Load.
func Open(r io.ReaderAt, size int64) (*File, error) {
	var prefix [8]byte
	if size < 8 {
		return nil, ErrTruncated
	}
	if _, err := r.ReadAt(prefix[:], 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTruncated, err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrHeaderTooLarge, n, MaxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, fmt.Errorf("%w: header of %d bytes in a file of %d", ErrHeaderBeyondFile, n, size)
	}
	header := make([]byte, n) // bounded by MaxHeaderSize and by the file size
	if _, err := io.ReadFull(io.NewSectionReader(r, 8, int64(n)), header); err != nil {
		return nil, fmt.Errorf("%w: reading %d bytes: %v", ErrInvalidHeader, n, err)
	}
	// encoding/json would turn invalid UTF-8 into U+FFFD, renaming tensors silently.
	if !utf8.Valid(header) {
		return nil, fmt.Errorf("%w: the JSON is not valid UTF-8", ErrInvalidHeader)
	}
	h, err := parseHeader(bytes.NewReader(header), int64(n))
	if err != nil {
		return nil, err
	}
	dataStart := 8 + int64(n)
	entries, err := validate(h, uint64(size-dataStart))
	if err != nil {
		return nil, err
	}
	f := &File{r: r, dataStart: dataStart, entries: make(map[string]entry, len(entries)), metadata: h.metadata}
	for _, e := range entries {
		f.entries[e.info.Name] = e
		f.infos = append(f.infos, e.info)
	}
	slices.SortFunc(f.infos, func(a, b tensor.Info) int { return strings.Compare(a.Name, b.Name) })
	return f, nil
}

// OpenFile opens a safetensors file by path, memory-mapping it when the platform allows
// (falling back to positioned reads). Errors name the path. Close releases the mapping.
//
// The mapping is private copy-on-write: writing into a loaded tensor's Data never changes
// the file. As with any memory map, truncating the file while it is open crashes the reader.
func OpenFile(path string) (*File, error) {
	mf, err := mapfile.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := Open(mf.ReaderAt(), mf.Size())
	if err != nil {
		mf.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.path, f.r, f.mapping, f.mapped = path, mf.File(), mf.Mapping(), mf
	return f, nil
}

// Tensors lists the tensors sorted by name.
func (f *File) Tensors() []tensor.Info {
	return tensor.CloneInfos(f.infos)
}

// Info returns one tensor's record.
func (f *File) Info(name string) (tensor.Info, bool) {
	e, ok := f.entries[name]
	if !ok {
		return tensor.Info{}, false
	}
	return tensor.Info{Name: name, DType: e.info.DType, Shape: slices.Clone(e.info.Shape)}, true
}

// Metadata returns a copy of __metadata__ (empty, never nil, when the file has none).
func (f *File) Metadata() map[string]string { return maps.Clone(f.metadata) }

// DataSize returns the total byte length of all tensors.
func (f *File) DataSize() int64 {
	var n int64
	for _, e := range f.entries {
		n += int64(e.end - e.begin)
	}
	return n
}

// Load returns a tensor. When the file is memory-mapped its Data is a slice of the mapping,
// valid until Close (Clone it to keep it longer); otherwise it is read into a new buffer.
func (f *File) Load(name string) (*tensor.Tensor, error) {
	e, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	start, end := f.dataStart+int64(e.begin), f.dataStart+int64(e.end)
	var data []byte
	if f.mapping != nil {
		data = f.mapping[start:end:end]
	} else {
		// The length was validated against the file size, so this allocation is bounded.
		data = make([]byte, end-start)
		if n, err := f.r.ReadAt(data, start); n != len(data) {
			return nil, f.pathError(fmt.Errorf("tensor %q: %w", name, err))
		}
	}
	t, err := tensor.FromBytes(e.info.DType, e.info.Shape, data)
	if err != nil {
		return nil, f.pathError(fmt.Errorf("tensor %q: %w", name, err))
	}
	return t, nil
}

// Section returns a reader over one tensor's raw bytes that uses positioned reads and never
// touches the memory map, so streaming a large file through it keeps resident memory low.
func (f *File) Section(name string) (*io.SectionReader, error) {
	e, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	return io.NewSectionReader(f.r, f.dataStart+int64(e.begin), int64(e.end-e.begin)), nil
}

func (f *File) lookup(name string) (entry, error) {
	if f.closed {
		return entry{}, f.pathError(ErrClosed)
	}
	e, ok := f.entries[name]
	if !ok {
		return entry{}, f.pathError(fmt.Errorf("tensor %q: %w", name, ErrNotFound))
	}
	return e, nil
}

// pathError puts the file path in front of errors from a File opened by OpenFile.
func (f *File) pathError(err error) error {
	if f.path == "" {
		return err
	}
	return fmt.Errorf("%s: %w", f.path, err)
}

// Close releases the memory map and the file. Tensors loaded from the map must not be
// used afterwards.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.mapping = nil
	if f.mapped != nil {
		return f.mapped.Close()
	}
	return nil
}

// Release tells the operating system that the caller is done with a tensor returned by
// Load, so the memory-mapped pages it occupies stop counting as resident memory. A
// pipeline that streams a model larger than RAM tensor by tensor calls it after each one.
// Afterwards the tensor's Data reads the file again: changes made to it are lost. Release
// does nothing for a file that is not memory-mapped.
func (f *File) Release(name string) error {
	e, err := f.lookup(name)
	if err != nil || f.mapped == nil {
		return err
	}
	return f.mapped.Release(f.dataStart+int64(e.begin), f.dataStart+int64(e.end))
}
