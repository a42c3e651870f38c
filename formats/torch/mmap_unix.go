//go:build unix

package torch

import (
	"os"

	"golang.org/x/sys/unix"
)

// mmapFile maps the whole file privately (copy-on-write), so loaded tensors can be slices
// of it that callers may even modify without touching the file.
func mmapFile(f *os.File, size int64) ([]byte, error) {
	if size <= 0 || size != int64(int(size)) {
		return nil, os.ErrInvalid
	}
	return unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
}

func munmap(b []byte) error {
	if b == nil {
		return nil
	}
	return unix.Munmap(b)
}
