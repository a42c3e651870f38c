package host

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/bindings"
	"github.com/qscript-dev/qscript/host/modules"
	"github.com/qscript-dev/qscript/scripts"
)

// DefaultVersion is reported to modules when Options.Version is empty.
const DefaultVersion = "0.1.0-dev"

// Options configure a Host. The zero value is ready to use: the current folder, the process's
// stdout and stderr, the sandbox on, and every default module registered.
type Options struct {
	// Dir is the working folder: relative recipe paths and the file paths that recipes pass
	// to modules are resolved against it. Default: the current folder.
	Dir string
	// Root, when not empty, confines the files that recipes read and write (through modules)
	// to this folder, unless Unsafe. The recipe path given to RunFile is not confined.
	Root string
	// Stdout receives print() and reports; Stderr receives progress and notes.
	// Default: os.Stdout and os.Stderr.
	Stdout io.Writer
	Stderr io.Writer
	// Unsafe lifts the sandbox: the io and os libraries in full, dofile and loadfile,
	// require from any path, and file access outside Root.
	Unsafe bool
	// Quiet asks modules to leave out progress bars and informational notes.
	Quiet bool
	// RunTimeout, when positive, stops every run (RunFile, RunString, each run of Watch)
	// that takes longer; its error wraps context.DeadlineExceeded.
	RunTimeout time.Duration
	// Version is passed to modules for the metadata they write. Default: DefaultVersion.
	Version string
	// Modules are registered after the default modules (bindings.Modules()); a module with
	// the same name replaces the default one.
	Modules []modules.Module
	// NoDefaultModules leaves out bindings.Modules().
	NoDefaultModules bool
	// Library is the file system that `require` searches after the recipe's folder, and
	// where built-in recipes live (recipes/NAME.lua). Default: the embedded scripts.FS.
	Library fs.FS
	// MaxMemory bounds the memory of a run, in bytes: tensors, strings and tables a recipe
	// builds through the API, and the large allocations that modules plan (they check
	// budget.Check with the run's context), are refused with an error naming what needed
	// it; a watchdog stops the run when the process's live heap grows over it otherwise.
	// 0 means the default, a quarter of physical memory; a negative value means no limit.
	MaxMemory int64
	// CacheEntries bounds the cache that survives reruns (modules.DefaultCacheEntries
	// when 0).
	CacheEntries int
}

// Host runs recipes. Create it with New and release it with Close.
type Host struct {
	opts    Options
	workDir string
	library fs.FS
	cache   *modules.Cache
	protos  *protoCache

	runMu sync.Mutex // one run at a time: runs share the cache and Sweep needs quiet

	modMu   sync.Mutex
	modules []modules.Module // registration order; later entries win
	closed  bool
}

// New returns a Host configured by opts.
func New(opts Options) (*Host, error) {
	dir := opts.Dir
	if dir == "" {
		dir = "."
	}
	workDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("host: working folder: %w", err)
	}
	if fi, err := os.Stat(workDir); err != nil {
		return nil, fmt.Errorf("host: working folder: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("host: working folder %s is not a folder", workDir)
	}
	if opts.Root != "" {
		root := opts.Root
		if !filepath.IsAbs(root) {
			root = filepath.Join(workDir, root)
		}
		opts.Root = filepath.Clean(root)
		if fi, err := os.Stat(opts.Root); err != nil {
			return nil, fmt.Errorf("host: root folder: %w", err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("host: root folder %s is not a folder", opts.Root)
		}
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	library := opts.Library
	if library == nil {
		library = scripts.FS
	}
	h := &Host{
		opts:    opts,
		workDir: workDir,
		library: library,
		cache:   modules.NewCache(opts.CacheEntries),
		protos:  newProtoCache(),
	}
	if !opts.NoDefaultModules {
		for _, m := range bindings.Modules() {
			h.RegisterModule(m)
		}
	}
	for _, m := range opts.Modules {
		h.RegisterModule(m)
	}
	return h, nil
}

// Register adds a Lua module that recipes load with require(name). loader builds the
// module's table, like any gopher-lua loader:
//
//	h.Register("mylib", func(L *lua.LState) int {
//		L.Push(L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{"greet": greet}))
//		return 1
//	})
//
// A module registered under an existing name replaces it from the next run on.
func (h *Host) Register(name string, loader lua.LGFunction) {
	h.RegisterModule(modules.New(name, func(*modules.Env) lua.LGFunction { return loader }))
}

// RegisterModule adds a module that needs the run's environment (context, output, file
// policy, cache).
func (h *Host) RegisterModule(m modules.Module) {
	h.modMu.Lock()
	defer h.modMu.Unlock()
	h.modules = append(h.modules, m)
}

// Cache is the host's cache that survives reruns; modules reach it as Env.Cache.
func (h *Host) Cache() *modules.Cache { return h.cache }

// Close releases the cache's values. It waits for a run in progress to finish; cancel its
// context first to stop it.
func (h *Host) Close() error {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	h.modMu.Lock()
	if h.closed {
		h.modMu.Unlock()
		return nil
	}
	h.closed = true
	h.modMu.Unlock()
	return h.cache.Close()
}

// ErrClosed is returned by runs on a closed Host.
var ErrClosed = errors.New("host: closed")

// moduleList returns the registered modules, the last registration of each name winning,
// in the order they were first registered.
func (h *Host) moduleList() ([]modules.Module, error) {
	h.modMu.Lock()
	defer h.modMu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	index := map[string]int{}
	var list []modules.Module
	for _, m := range h.modules {
		if i, ok := index[m.Name()]; ok {
			list[i] = m
			continue
		}
		index[m.Name()] = len(list)
		list = append(list, m)
	}
	return list, nil
}
