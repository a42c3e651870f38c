package atomicfile

import "golang.org/x/sys/unix"

// StartWriteback asks the kernel to start writing bytes [off, off+n) of the file to disk now,
// without waiting for it (sync_file_range with SYNC_FILE_RANGE_WRITE). A writer that calls
// it as it goes overlaps the disk writes with its own work, and Commit's fsync, which still
// makes everything durable, finds little left to do. It is only a hint: errors are ignored.
func (f *File) StartWriteback(off, n int64) {
	if n <= 0 {
		return
	}
	rc, err := f.File.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
