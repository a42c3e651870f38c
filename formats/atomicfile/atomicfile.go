// Package atomicfile writes a file so that readers see either the old file or the complete
// new one, never a partial write: data goes to a temporary file in the destination folder,
// which is fsync'd and renamed over the destination only on Commit. Every qscript writer
// (safetensors, npy/npz, torch, onnx) uses it.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qscript-dev/qscript/internal/paths"
)

// ErrDone is returned by Commit when the file was already committed or aborted.
var ErrDone = errors.New("atomicfile: already committed or aborted")

// File is a temporary file that becomes Path on Commit. It embeds *os.File, so it supports
// Write, WriteAt, Seek and Truncate; do not Close it directly, call Commit or Abort.
type File struct {
	*os.File
	path string
	done bool
}

// Create opens a temporary file next to path (same folder, so the final rename stays on
// one filesystem). Nothing appears at path until Commit. The temporary file's name carries
// this process's id (paths.TempPattern); temporary files that a dead process left in the
// folder are removed first.
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	paths.CleanStale(dir)
	f, err := os.CreateTemp(dir, paths.TempPattern(base))
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	return &File{File: f, path: path}, nil
}

// Path returns the destination path.
func (f *File) Path() string { return f.path }

// Commit flushes the data to disk, closes the temporary file, gives it mode 0644 and renames
// it to the destination. On failure the temporary file is removed and the destination is
// left as it was.
func (f *File) Commit() error {
	if f.done {
		return ErrDone
	}
	f.done = true
	tmp := f.File.Name()
	err := f.File.Sync()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// CreateTemp makes the file 0600; a model file is as readable as any other output.
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: %w", err)
	}
	SyncDir(filepath.Dir(f.path))
	return nil
}

// Abort closes and removes the temporary file. It is safe to call after Commit (then it
// does nothing), so `defer f.Abort()` is the usual cleanup.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	tmp := f.File.Name()
	f.File.Close()
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("atomicfile: %w", err)
	}
	return nil
}

// SyncDir makes the renames into dir durable. Some filesystems refuse to fsync a directory;
// the rename has happened either way, so that error is not the caller's concern.
func SyncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
