// Package mapfile opens a checkpoint for reading and memory-maps it where the platform
// allows, so that readers (safetensors, torch) can give out tensor data as slices of the
// file instead of copies.
package mapfile

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/qscript-dev/qscript/internal/paths"
)

// File is an open regular file and, when mapping succeeded, its whole content mapped
// privately (copy-on-write: writing into the mapping never changes the file). As with any
// memory map, truncating the file while it is open crashes the reader.
type File struct {
	file    *os.File
	size    int64
	mapping []byte // nil when the platform or the file refused to be mapped
}

// Open opens path, refuses anything but a regular file and maps it. A file that cannot be
// mapped (empty, or a platform without mmap) is still opened, for positioned reads.
func Open(path string) (*File, error) {
	f, err := paths.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	mapping, _ := mmap(f, st.Size()) // nil on failure: positioned reads still work
	return &File{file: f, size: st.Size(), mapping: mapping}, nil
}

// Size is the file's length in bytes when it was opened.
func (f *File) Size() int64 { return f.size }

// Mapping returns the mapped content, or nil when the file is not mapped. It is valid
// until Close.
func (f *File) Mapping() []byte { return f.mapping }

// File returns the open file, for positioned reads that leave the mapping alone.
func (f *File) File() *os.File { return f.file }

// ReaderAt reads through the mapping when there is one, and from the file otherwise.
func (f *File) ReaderAt() io.ReaderAt {
	if f.mapping != nil {
		return bytes.NewReader(f.mapping)
	}
	return f.file
}

// Release tells the operating system it may drop the mapped pages that lie wholly inside
// [start, end), so they stop counting as resident memory; they are read from the file
// again when touched. Pages shared with a neighbouring range are kept, so a caller's
// copy-on-write changes there survive. It does nothing for a file that is not mapped.
func (f *File) Release(start, end int64) error {
	if f.mapping == nil {
		return nil
	}
	return release(f.mapping, start, end)
}

// Close unmaps the file and closes it.
func (f *File) Close() error {
	err := munmap(f.mapping)
	f.mapping = nil
	if cerr := f.file.Close(); err == nil {
		err = cerr
	}
	return err
}
