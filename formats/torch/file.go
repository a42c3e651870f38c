package torch

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math/bits"
	"sort"
	"sync"

	"github.com/qscript-dev/qscript/formats/internal/mapfile"
	"github.com/qscript-dev/qscript/tensor"
)

// File is an opened checkpoint. Tensors and Metadata are known after opening; Load reads
// one tensor's bytes when asked. Load may be called from several goroutines.
type File struct {
	name     string
	r        io.ReaderAt
	mapping  []byte // the whole file when memory-mapped
	closer   func() error
	infos    []tensor.Info
	entries  map[string]*entry
	metadata map[string]string

	mu       sync.Mutex
	verified map[string]bool // storage keys whose CRC-32 has been checked
	closed   bool
}

// entry is one tensor: its layout in elements and the bytes of its storage it spans.
type entry struct {
	dtype   tensor.DType
	shape   []int
	strides []int
	storage storageSpan
	begin   int64 // byte range inside the storage that the tensor's elements touch
	end     int64
}

// Open opens a checkpoint by path, memory-mapping it where the platform allows (with
// positioned reads otherwise). Errors name the path. Tensors returned by Load may share
// the mapping (private, copy-on-write) until Close.
func Open(path string) (*File, error) {
	mf, err := mapfile.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := OpenReader(mf.ReaderAt(), mf.Size(), path)
	if err != nil {
		mf.Close()
		return nil, err
	}
	f.mapping, f.closer = mf.Mapping(), mf.Close
	return f, nil
}

// OpenReader opens a checkpoint of size bytes read through r. name is used in errors.
// The caller keeps ownership of r; Close does not close it.
func OpenReader(r io.ReaderAt, size int64, name string) (*File, error) {
	f := &File{name: name, r: r, entries: map[string]*entry{}, verified: map[string]bool{}}
	if err := f.open(size); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

func (f *File) open(size int64) error {
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrFormat, size)
	}
	a, err := openArchive(f.r, size)
	if err != nil {
		return err
	}
	pkl, err := a.readSmall("data.pkl", MaxPickleSize)
	if err != nil {
		return err
	}
	root, err := unpickle(pkl, storageCache())
	if err != nil {
		return err
	}
	ckpt, err := flattenCheckpoint(root, len(pkl))
	if err != nil {
		return err
	}
	f.metadata = ckpt.metadata
	spans := map[string]storageSpan{}
	var expanded uint64 // bytes Load must materialize beyond what the storages hold
	for _, t := range ckpt.tensors {
		span, ok := spans[t.ref.storage.key]
		if !ok {
			if span, err = a.storage(t.ref.storage.key); err != nil {
				return fmt.Errorf("tensor %q: %w", t.name, err)
			}
			spans[span.key] = span
		}
		e, err := newEntry(t.ref, span)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.name, err)
		}
		if n := uint64(e.nbytes()); n > uint64(span.size) {
			if expanded += n; expanded > MaxBroadcastSize {
				return fmt.Errorf("tensor %q: %w: views larger than their storages (expand()) would materialize more than %d bytes in all",
					t.name, ErrFormat, uint64(MaxBroadcastSize))
			}
		}
		f.entries[t.name] = e
		f.infos = append(f.infos, tensor.Info{Name: t.name, DType: e.dtype, Shape: e.shape})
	}
	return checkDisjoint(spans)
}

// checkDisjoint rejects archives whose storages overlap: an overlapping "zip bomb" could
// otherwise declare far more tensor bytes than the file holds.
func checkDisjoint(spans map[string]storageSpan) error {
	list := make([]storageSpan, 0, len(spans))
	for _, s := range spans {
		if s.size > 0 {
			list = append(list, s)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].offset != list[j].offset {
			return list[i].offset < list[j].offset
		}
		return list[i].key < list[j].key
	})
	for i := 1; i < len(list); i++ {
		prev := list[i-1]
		if prev.offset+prev.size > list[i].offset {
			return fmt.Errorf("%w: storages data/%s and data/%s overlap in the file", ErrFormat, prev.key, list[i].key)
		}
	}
	return nil
}

// newEntry checks a tensor's layout against its storage with overflow-checked arithmetic:
// the storage must hold numel elements of the dtype, exactly, and every element the size,
// stride and offset reach must lie inside it.
func newEntry(ref *tensorRef, span storageSpan) (*entry, error) {
	st := ref.storage
	es := uint64(st.dtype.Size())
	hi, want := bits.Mul64(uint64(st.numel), es)
	if hi != 0 || want != uint64(span.size) {
		return nil, fmt.Errorf("%w: storage data/%s holds %d bytes, but the pickle declares %d %v elements", ErrFormat, st.key, span.size, st.numel, st.dtype)
	}
	e := &entry{dtype: st.dtype, storage: span, shape: make([]int, len(ref.shape)), strides: make([]int, len(ref.stride))}
	numel := uint64(1)
	last := uint64(ref.offset) // index of the furthest element reached
	overflow := false
	for i, n := range ref.shape {
		e.shape[i], e.strides[i] = int(n), int(ref.stride[i])
		h, p := bits.Mul64(numel, uint64(n))
		overflow = overflow || h != 0 || p > uint64(maxInt)
		numel = p
		if n > 0 {
			h, step := bits.Mul64(uint64(n-1), uint64(ref.stride[i]))
			sum, carry := bits.Add64(last, step, 0)
			overflow = overflow || h != 0 || carry != 0
			last = sum
		}
	}
	if overflow {
		return nil, fmt.Errorf("%w: size %v stride %v offset %d overflows", ErrFormat, ref.shape, ref.stride, ref.offset)
	}
	if numel == 0 {
		return e, nil // no element is read, so the offset need not point anywhere
	}
	if h, nbytes := bits.Mul64(numel, es); h != 0 || (nbytes > uint64(span.size) && nbytes > MaxBroadcastSize) {
		return nil, fmt.Errorf("%w: size %v stride %v repeats the %d bytes of storage data/%s into more than %d bytes",
			ErrFormat, ref.shape, ref.stride, span.size, st.key, uint64(MaxBroadcastSize))
	}
	if last >= uint64(st.numel) {
		return nil, fmt.Errorf("%w: size %v stride %v offset %d reaches element %d of storage data/%s, which holds %d %v elements",
			ErrFormat, ref.shape, ref.stride, ref.offset, last, st.key, st.numel, st.dtype)
	}
	e.begin = ref.offset * int64(es)
	e.end = int64(last+1) * int64(es)
	return e, nil
}

const maxInt = int(^uint(0) >> 1)

// nbytes is the size of the tensor once materialized in C order; newEntry checked that it
// does not overflow.
func (e *entry) nbytes() int {
	n, _ := tensor.Numel(e.shape)
	return n * e.dtype.Size()
}

// MaxBroadcastSize caps the total size of the tensors that are larger than their storage:
// a view made by expand() has stride 0 and repeats elements, and Load must materialize it.
// Without a cap, a tiny file could declare expanded views of terabytes, one or many.
const MaxBroadcastSize = 1 << 30

// Tensors lists the tensors in the order the checkpoint stores them.
func (f *File) Tensors() []tensor.Info {
	return tensor.CloneInfos(f.infos)
}

// Metadata returns the checkpoint's plain non-tensor entries (an epoch number, a name) as
// strings under their dotted names. It is never nil.
func (f *File) Metadata() map[string]string { return maps.Clone(f.metadata) }

// Load returns a tensor's elements, C-contiguous. A contiguous tensor of a memory-mapped
// file shares the mapping; a strided one is copied into C order. The storage's CRC-32 is
// checked the first time it is read.
func (f *File) Load(name string) (*tensor.Tensor, error) {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		// The reader may be a view of the unmapped file: reading it would fault.
		return nil, fmt.Errorf("%s: tensor %q: %w", f.name, name, ErrClosed)
	}
	e, ok := f.entries[name]
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q: %w", f.name, name, ErrNotFound)
	}
	if err := f.verify(e.storage); err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", f.name, name, err)
	}
	data, err := f.bytes(e.storage.offset+e.begin, e.end-e.begin)
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", f.name, name, err)
	}
	t := &tensor.Tensor{DType: e.dtype, Shape: append([]int{}, e.shape...), Strides: append([]int{}, e.strides...), Data: data}
	if t.Numel() == 0 || t.IsContiguous() && len(data) == t.Nbytes() {
		// FromBytes also copies a storage that torch's writer did not align in the file.
		return tensor.FromBytes(e.dtype, t.Shape, data[:t.Nbytes()])
	}
	return t.Contiguous(), nil
}

// verify checks a storage's CRC-32 once. torch ≥ 2.2 can be told to skip computing it
// and then writes 0, so a zero CRC is not checked.
func (f *File) verify(span storageSpan) error {
	f.mu.Lock()
	done := f.verified[span.key]
	f.mu.Unlock()
	if done || span.crc == 0 || span.size == 0 {
		return nil
	}
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, io.NewSectionReader(f.r, span.offset, span.size)); err != nil {
		return fmt.Errorf("%w: storage data/%s: %v", ErrFormat, span.key, err)
	}
	if got := h.Sum32(); got != span.crc {
		return fmt.Errorf("%w: storage data/%s fails its CRC-32 check (0x%08x, the archive says 0x%08x)", ErrFormat, span.key, got, span.crc)
	}
	f.mu.Lock()
	f.verified[span.key] = true
	f.mu.Unlock()
	return nil
}

// bytes returns n bytes at off: a slice of the mapping, or a fresh buffer. n was checked
// against the file size when the archive was opened.
func (f *File) bytes(off, n int64) ([]byte, error) {
	if f.mapping != nil {
		return f.mapping[off : off+n : off+n], nil
	}
	buf := make([]byte, n)
	// A ReaderAt may return io.EOF with a full read that ends at the end of its input.
	if got, err := f.r.ReadAt(buf, off); got < len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: reading %d bytes at %d: %v", ErrFormat, n, off, err)
	}
	return buf, nil
}

// Close releases the memory map and the file opened by Open; a File from OpenReader
// leaves its reader open. Load fails afterwards. Close must not run while a Load does.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	f.mapping = nil
	if f.closer == nil {
		return nil
	}
	return f.closer()
}
