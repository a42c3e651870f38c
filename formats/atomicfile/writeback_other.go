//go:build !linux

package atomicfile

// StartWriteback does nothing here: only Linux has sync_file_range. Commit's fsync makes
// the data durable either way.
func (f *File) StartWriteback(off, n int64) {}
