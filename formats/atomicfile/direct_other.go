//go:build !linux

package atomicfile

import "errors"

// Direct is O_DIRECT writing, which only the Linux build has (see direct_linux.go).
type Direct struct{}

// DirectBlock is the size of Direct's blocks.
const DirectBlock = 2 << 20

// OpenDirect always fails here: callers write through File.
func (f *File) OpenDirect() (*Direct, error) {
	return nil, errors.New("atomicfile: O_DIRECT is not supported on this platform")
}

// WriteAt is never called: OpenDirect never succeeds here.
func (d *Direct) WriteAt(p []byte, off int64) (int, error) {
	return 0, errors.New("atomicfile: no O_DIRECT")
}

// Close does nothing.
func (d *Direct) Close() error { return nil }
