package modules

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/qscript-dev/qscript/internal/paths"
)

// ErrOutsideRoot is returned by Env.Resolve for a path that leaves the embedder's root folder.
var ErrOutsideRoot = paths.ErrOutsideRoot

// Env is what a module gets from the host for one run. The host builds a new Env for every
// run (a watch-mode rerun is a new run); everything in it is read-only for modules, except
// Cache, which is safe for concurrent use and outlives the run.
type Env struct {
	// Stdout and Stderr receive everything a module prints (reports, progress bars).
	Stdout io.Writer
	Stderr io.Writer
	// Unsafe lifts the sandbox: file access anywhere, io and os in full.
	Unsafe bool
	// Quiet asks modules to skip progress bars and informational notes.
	Quiet bool
	// Version is the qscript version, for metadata written into outputs.
	Version string
	// RecipeDir is the absolute folder of the recipe being run; empty when the recipe is a
	// built-in embedded in the binary.
	RecipeDir string
	// WorkDir is the absolute folder that relative paths are resolved against.
	WorkDir string
	// Root, when not empty, is the absolute folder that all file access is confined to
	// (unless Unsafe).
	Root string
	// Cache holds values that survive reruns inside one host (loaded models, calibration).
	Cache *Cache

	ctx context.Context
}

// WithContext returns a copy of e whose Context is ctx. The host calls it once per run.
func (e *Env) WithContext(ctx context.Context) *Env {
	c := *e
	c.ctx = ctx
	return &c
}

// Context is the current run's context. Long-running module functions must check it (or
// pass it down) so that timeouts, Ctrl-C and watch-mode reruns stop them promptly.
func (e *Env) Context() context.Context {
	if e.ctx == nil {
		return context.Background()
	}
	return e.ctx
}

// Resolve turns a path given by a recipe into the absolute path a module should open or
// write. Relative paths are taken relative to WorkDir (the folder qscript runs in, as for
// any command-line tool). When Root is set and the run is not unsafe, the path, after
// following symbolic links of the part that exists, must lie inside Root; otherwise Resolve
// returns an error wrapping ErrOutsideRoot.
func (e *Env) Resolve(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty file path")
	}
	p := path
	if !filepath.IsAbs(p) {
		base := e.WorkDir
		if base == "" {
			wd, err := os.Getwd()
			if err != nil {
				return "", err
			}
			base = wd
		}
		p = filepath.Join(base, p)
	}
	p = filepath.Clean(p)
	if err := e.Confine(p, path); err != nil {
		return "", err
	}
	return p, nil
}

// Confine checks that the absolute path p, which a module found on its own (a shard named
// by an index, a file in a folder of images, the config.json beside a model), lies inside
// Root once symbolic links are followed. name is how errors show it. Unsafe runs and hosts
// without a Root confine nothing.
func (e *Env) Confine(p, name string) error {
	if e.Unsafe || e.Root == "" {
		return nil
	}
	return paths.Confine(p, e.Root, name)
}
