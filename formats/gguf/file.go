package gguf

import (
	"bufio"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/internal/paths"
)

// Magic and Version are what the reader accepts and the writer writes.
const (
	Magic            = "GGUF"
	Version          = 3
	DefaultAlignment = 32
	AlignmentKey     = "general.alignment"
)

// TensorInfo describes one stored tensor. Dims are in ggml order: Dims[0] is the row length
// (the fastest-varying dimension), so a PyTorch [out, in] weight has Dims {in, out}.
type TensorInfo struct {
	Name   string
	Type   TensorType
	Dims   []uint64
	Offset uint64 // from the start of the data section
	Size   uint64 // bytes
}

// Elements is the product of Dims.
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Shape returns Dims reversed, the row-major shape PyTorch and safetensors use.
func (t TensorInfo) Shape() []int {
	s := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		s[len(t.Dims)-1-i] = int(d)
	}
	return s
}

// File is a parsed GGUF file. Its header is validated; tensor data is read only through
// Section.
type File struct {
	Version    uint32
	KVs        []KV
	Tensors    []TensorInfo
	Alignment  uint64
	DataOffset int64 // where the data section starts in the file

	r      io.ReaderAt
	file   *os.File // owned when opened by OpenFile
	byName map[string]int
	keys   map[string]int
}

// Open parses and validates the GGUF data in r, which holds size bytes.
func Open(r io.ReaderAt, size int64) (*File, error) {
	d := &decoder{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size: size}
	f := &File{r: r, byName: map[string]int{}, keys: map[string]int{}, Alignment: DefaultAlignment}
	if err := f.readPreamble(d); err != nil {
		return nil, err
	}
	nTensors, err := d.count("tensors", 24)
	if err != nil {
		return nil, err
	}
	nKV, err := d.count("metadata entries", 13)
	if err != nil {
		return nil, err
	}
	if err := f.readKVs(d, nKV); err != nil {
		return nil, err
	}
	if err := f.readAlignment(); err != nil {
		return nil, err
	}
	if err := f.readTensorInfos(d, nTensors); err != nil {
		return nil, err
	}
	f.DataOffset = int64(pad(uint64(d.pos), f.Alignment))
	return f, f.checkLayout(size)
}

// OpenFile opens a GGUF file by path. Errors name the path; Close closes the file.
func OpenFile(path string) (*File, error) {
	file, err := paths.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := file.Stat()
	if err == nil && st.IsDir() {
		err = fmt.Errorf("is a folder")
	}
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := Open(file, st.Size())
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.file = file
	return f, nil
}

// Close closes the file OpenFile opened.
func (f *File) Close() error {
	if f.file == nil {
		return nil
	}
	err := f.file.Close()
	f.file = nil
	return err
}

func (f *File) readPreamble(d *decoder) error {
	b, err := d.read(4)
	if err != nil || string(b) != Magic {
		return ErrMagic
	}
	if f.Version, err = d.u32(); err != nil {
		return err
	}
	if f.Version != Version {
		return fmt.Errorf("%w %d: qscript reads version %d (llama.cpp dropped v1; re-save a v2 file with a recent llama.cpp)", ErrVersion, f.Version, Version)
	}
	return nil
}

func (f *File) readKVs(d *decoder, n int) error {
	f.KVs = make([]KV, 0, min(n, prealloc))
	for i := range n {
		key, err := d.str()
		if err != nil {
			return fmt.Errorf("metadata key %d: %w", i, err)
		}
		if key == "" {
			return fmt.Errorf("%w: key %d is empty", ErrKey, i)
		}
		if _, dup := f.keys[key]; dup {
			return fmt.Errorf("%w: %q", ErrDuplicateKey, key)
		}
		t, err := d.valueType()
		if err != nil {
			return fmt.Errorf("metadata %q: %w", key, err)
		}
		v, err := d.value(t, 0)
		if err != nil {
			return fmt.Errorf("metadata %q: %w", key, err)
		}
		f.keys[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{Key: key, Value: v})
	}
	return nil
}

func (f *File) readAlignment() error {
	v, ok := f.Get(AlignmentKey)
	if !ok {
		return nil
	}
	a, isU32 := v.V.(uint32)
	if !isU32 {
		return fmt.Errorf("%w: must be a u32, is a %s", ErrAlignment, v.Type)
	}
	if a == 0 || a&(a-1) != 0 {
		return fmt.Errorf("%w: %d is not a power of two", ErrAlignment, a)
	}
	f.Alignment = uint64(a)
	return nil
}

func (f *File) readTensorInfos(d *decoder, n int) error {
	f.Tensors = make([]TensorInfo, 0, min(n, prealloc))
	for i := range n {
		t, err := readTensorInfo(d)
		if err != nil {
			if t.Name != "" {
				return fmt.Errorf("tensor %q: %w", t.Name, err)
			}
			return fmt.Errorf("tensor %d: %w", i, err)
		}
		if _, dup := f.byName[t.Name]; dup {
			return fmt.Errorf("%w: %q", ErrDuplicateName, t.Name)
		}
		f.byName[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	return nil
}

func readTensorInfo(d *decoder) (TensorInfo, error) {
	var t TensorInfo
	name, err := d.str()
	if err != nil {
		return t, err
	}
	if name == "" {
		return t, fmt.Errorf("%w: empty", ErrTensorName)
	}
	if len(name) > MaxNameLen {
		return t, fmt.Errorf("%w: %d bytes, ggml holds at most %d", ErrTensorName, len(name), MaxNameLen)
	}
	t.Name = name
	nDims, err := d.u32()
	if err != nil {
		return t, err
	}
	if nDims > MaxDims {
		return t, fmt.Errorf("%w: %d dimensions, ggml holds at most %d", ErrDims, nDims, MaxDims)
	}
	for range nDims {
		x, err := d.u64()
		if err != nil {
			return t, err
		}
		t.Dims = append(t.Dims, x)
	}
	typ, err := d.u32()
	if err != nil {
		return t, err
	}
	t.Type = TensorType(typ)
	if t.Offset, err = d.u64(); err != nil {
		return t, err
	}
	t.Size, err = TensorSize(t.Type, t.Dims)
	return t, err
}

// TensorSize checks dims and type as ggml does (dimensions below 2^63, element count
// representable, rows a whole number of blocks) and returns the data size in bytes.
func TensorSize(typ TensorType, dims []uint64) (uint64, error) {
	if len(dims) > MaxDims {
		return 0, fmt.Errorf("%w: %d dimensions, ggml holds at most %d", ErrDims, len(dims), MaxDims)
	}
	n := uint64(1)
	for i, x := range dims {
		if x > 1<<63-1 {
			return 0, fmt.Errorf("%w: dimension %d is %d", ErrDims, i, x)
		}
		hi, lo := bits.Mul64(n, x)
		if hi != 0 || lo > 1<<63-1 {
			return 0, fmt.Errorf("%w: %v elements", ErrOverflow, dims)
		}
		n = lo
	}
	if !typ.Known() {
		return 0, fmt.Errorf("%w: %d", ErrTensorType, uint32(typ))
	}
	row := uint64(1)
	if len(dims) > 0 {
		row = dims[0]
	}
	if row%typ.BlockSize() != 0 {
		return 0, fmt.Errorf("%w: %s rows of %d elements, blocks of %d", ErrBlockSize, typ, row, typ.BlockSize())
	}
	hi, size := bits.Mul64(n/typ.BlockSize(), typ.BlockBytes())
	if hi != 0 || size > 1<<63-1 {
		return 0, fmt.Errorf("%w: %v elements of %s", ErrOverflow, dims, typ)
	}
	return size, nil
}

// checkLayout requires ggml's layout: tensors in file order, each at the previous one's end
// padded to the alignment, all inside the file.
func (f *File) checkLayout(size int64) error {
	var next uint64
	for _, t := range f.Tensors {
		if t.Offset != next {
			return fmt.Errorf("tensor %q: %w: %d, expected %d", t.Name, ErrOffset, t.Offset, next)
		}
		end, carry := bits.Add64(uint64(f.DataOffset), t.Offset, 0)
		end, carry2 := bits.Add64(end, t.Size, carry)
		if carry2 != 0 || end > uint64(size) {
			return fmt.Errorf("tensor %q: %w: %d bytes at data offset %d, the file has %d bytes", t.Name, ErrPastEOF, t.Size, t.Offset, size)
		}
		next = pad(t.Offset+t.Size, f.Alignment) // cannot overflow: end <= size < 2^63
	}
	return nil
}

// pad rounds n up to a multiple of align (a power of two).
func pad(n, align uint64) uint64 { return (n + align - 1) &^ (align - 1) }

// Get returns the value of a metadata key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.keys[key]
	if !ok {
		return Value{}, false
	}
	return f.KVs[i].Value, true
}

// Tensor returns the description of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	t := f.Tensors[i]
	t.Dims = slices.Clone(t.Dims)
	return t, true
}

// Section returns a reader over the named tensor's bytes.
func (f *File) Section(name string) (*io.SectionReader, error) {
	i, ok := f.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	t := f.Tensors[i]
	return io.NewSectionReader(f.r, f.DataOffset+int64(t.Offset), int64(t.Size)), nil
}

// Architecture returns general.architecture, or "".
func (f *File) Architecture() string {
	v, _ := f.Get("general.architecture")
	s, _ := v.Text()
	return strings.TrimSpace(s)
}
