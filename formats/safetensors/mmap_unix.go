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

// release tells the kernel it may drop the mapped pages that lie wholly inside b. Pages
// shared with a neighbouring tensor are kept, so a caller's copy-on-write changes to that
// neighbour survive.
func release(mapping []byte, start, end int64) error {
	page := int64(os.Getpagesize())
	first := (start + page - 1) / page * page
	last := end / page * page
	if mapping == nil || first >= last {
		return nil
	}
	return unix.Madvise(mapping[first:last], unix.MADV_DONTNEED)
}
