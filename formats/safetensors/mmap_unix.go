//go:build unix

package safetensors

import (
	"os"

	"golang.org/x/sys/unix"
)

// mmapFile maps the whole file privately (copy-on-write) so tensor data can be handed out
// as slices. Writable pages let callers modify a loaded tensor without a fault; the file
// itself never changes.
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
