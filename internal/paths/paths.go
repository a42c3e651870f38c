package paths

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrOutsideRoot is wrapped by Confine's error for a path that leaves the root folder.
var ErrOutsideRoot = errors.New("path is outside the allowed folder")

// ErrNotRegular is wrapped by Readable's error for a folder, FIFO, socket or device.
var ErrNotRegular = errors.New("not a regular file")

// ErrInput is wrapped by CheckOutput's error for an output that would replace an input.
var ErrInput = errors.New("that is an input")

// ErrNotOurs is wrapped by Replaceable's error for an existing file qscript did not write.
var ErrNotOurs = errors.New("exists and was not written by qscript")

// Abs returns p as a clean absolute path, relative paths taken against dir (the process's
// folder when dir is empty). It does not touch the file system beyond os.Getwd.
func Abs(p, dir string) (string, error) {
	if p == "" {
		return "", errors.New("empty file path")
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p), nil
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		dir = wd
	}
	return filepath.Join(dir, p), nil
}

// Resolve returns the real location of the absolute path p: symbolic links followed in the
// longest prefix that exists, the rest appended, so a file about to be created is judged by
// the real folder it will land in. Links are followed by the operating system, so a loop
// is an error rather than a hang.
func Resolve(p string) (string, error) {
	var rest []string
	cur := filepath.Clean(p)
	for {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			for i := len(rest) - 1; i >= 0; i-- {
				real = filepath.Join(real, rest[i])
			}
			return real, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return filepath.Clean(p), nil
		}
		rest = append(rest, filepath.Base(cur))
		cur = parent
	}
}

// Within reports whether p is dir or lies below it; both are clean absolute paths.
func Within(dir, p string) bool {
	if p == dir {
		return true
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// Confine checks that the absolute path p lies inside root, both as written and once every
// symbolic link is followed. An empty root confines nothing. name is how errors show p.
func Confine(p, root, name string) error {
	if root == "" {
		return nil
	}
	root = filepath.Clean(root)
	if !Within(root, filepath.Clean(p)) {
		return fmt.Errorf("%q: %w %s", name, ErrOutsideRoot, root)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("root folder: %w", err)
	}
	real, err := Resolve(p)
	if err != nil {
		return fmt.Errorf("%q: %w", name, err)
	}
	if !Within(realRoot, real) {
		return fmt.Errorf("%q: %w %s (through a symbolic link)", name, ErrOutsideRoot, root)
	}
	return nil
}

// Readable checks, without opening it, that p is a regular file (after symbolic links), so
// that opening it cannot block on a FIFO or a device. name is how errors show p.
func Readable(p, name string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w (%s)", name, ErrNotRegular, kind(fi.Mode()))
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0, m&fs.ModeCharDevice != 0:
		return "a device"
	case m.IsRegular():
		return "a regular file"
	}
	return "mode " + m.String()
}

// CheckOutput refuses an output path that resolves to one of inputs (files or folders) or
// lies inside an input folder, naming the input (callers name the output). Paths are absolute; inputs that no longer
// exist are compared by their resolved names.
func CheckOutput(out string, inputs ...string) error {
	realOut, err := Resolve(out)
	if err != nil {
		return err
	}
	outInfo, outErr := os.Stat(realOut)
	for _, in := range inputs {
		if in == "" {
			continue
		}
		realIn, err := Resolve(in)
		if err != nil {
			continue
		}
		inInfo, inErr := os.Stat(realIn)
		same := realIn == realOut || (outErr == nil && inErr == nil && os.SameFile(inInfo, outInfo))
		if same {
			return fmt.Errorf("%w (%s); write to another path", ErrInput, in)
		}
		if inErr == nil && inInfo.IsDir() && Within(realIn, realOut) {
			return fmt.Errorf("it lies inside the input folder %s; write to another folder", in)
		}
	}
	return nil
}

// Replaceable reports whether the file at p may be replaced: it does not exist, or it is
// a regular file that ours recognizes as written by qscript. Anything else (a file of the
// user's, a folder, a FIFO) is refused by name.
func Replaceable(p string, ours func(path string) bool) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if fi, err = os.Stat(p); err != nil {
			return err
		}
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w: refusing to replace %s", p, ErrNotRegular, kind(fi.Mode()))
	}
	if ours != nil && !ours(p) {
		return fmt.Errorf("%s %w; move it away or choose another path", p, ErrNotOurs)
	}
	return nil
}
