//go:build unix

package mapfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// mmap maps the whole file privately. The pages are writable (copy-on-write) so callers may
// modify a loaded tensor without a fault; the file itself never changes.
func mmap(f *os.File, size int64) ([]byte, error) {
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

func release(mapping []byte, start, end int64) error {
	page := int64(os.Getpagesize())
	first := (start + page - 1) / page * page
	last := end / page * page
	if first >= last {
		return nil
	}
	return unix.Madvise(mapping[first:last], unix.MADV_DONTNEED)
}
