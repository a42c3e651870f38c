package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host/modules"
	"github.com/qscript-dev/qscript/internal/paths"
)

// Result is the outcome of one run.
type Result struct {
	// Recipe is the recipe's name as errors show it: its path relative to the working
	// folder, or builtin:recipes/NAME.lua.
	Recipe string
	// Values are the recipe's return values converted to Go: nil, bool, string, int (for
	// integral numbers up to 2^53), float64, []any (for sequences), map[string]any (other
	// tables), or a userdata's Value.
	Values []any
	// Files are the absolute paths of the recipe and of every module it required from disk,
	// in load order, including a file that failed to compile.
	Files []string
	// Err is the run's error (also returned by RunFile), usually an *Error.
	Err error
	// Started and Duration time the run.
	Started  time.Time
	Duration time.Duration
	// Run counts the runs of one Watch, from 1; Changed lists the files whose change
	// started this run (empty for the first).
	Run     int
	Changed []string
}

// Value returns the first return value, or nil.
func (r Result) Value() any {
	if len(r.Values) == 0 {
		return nil
	}
	return r.Values[0]
}

// RunFile runs the recipe at path (relative to Options.Dir) with args as the global `arg`
// table. When no such file exists but path names a built-in recipe ("recipes/hello.lua",
// "hello.lua" or "hello"), the built-in runs. ctx stops the run, even inside an endless
// loop. A failed run returns an *Error (file:line and message) or, for a missing recipe, an
// error wrapping ErrRecipeNotFound.
func (h *Host) RunFile(ctx context.Context, path string, args map[string]string) (Result, error) {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	c, err := h.loadRecipe(path)
	if err != nil {
		return Result{Recipe: path, Err: err, Run: 1}, err
	}
	return h.runChunk(ctx, c, args, nil)
}

// RunString runs Lua source as a recipe named name (the name errors show). Its requires
// are resolved from Options.Dir and the scripts library.
func (h *Host) RunString(ctx context.Context, name, source string, args map[string]string) (Result, error) {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	c := &chunk{name: name, dir: h.workDir, src: []byte(source)}
	return h.runChunk(ctx, c, args, nil)
}

// run is the state of one run of a recipe.
type run struct {
	h       *Host
	env     *modules.Env
	recipe  *chunk
	chunks  map[string]*chunk // every chunk loaded, by name
	files   []string          // absolute disk paths, in load order
	loading lua.LValue        // marks a module whose loader is running (circular require)
}

func (h *Host) newRun(ctx context.Context, recipe *chunk) *run {
	env := &modules.Env{
		Stdout:  h.opts.Stdout,
		Stderr:  h.opts.Stderr,
		Unsafe:  h.opts.Unsafe,
		Quiet:   h.opts.Quiet,
		Version: h.opts.Version,
		WorkDir: h.workDir,
		Root:    h.opts.Root,
		Cache:   h.cache,
	}
	if !recipe.library {
		env.RecipeDir = recipe.dir
	}
	return &run{
		h:       h,
		env:     env.WithContext(ctx),
		recipe:  recipe,
		chunks:  map[string]*chunk{},
		loading: &lua.LUserData{},
	}
}

func (r *run) record(c *chunk) {
	if _, ok := r.chunks[c.name]; ok {
		return
	}
	r.chunks[c.name] = c
	if c.path != "" {
		r.files = append(r.files, c.path)
	}
}

// runChunk compiles and runs a recipe in a fresh Lua state. The caller holds runMu.
func (h *Host) runChunk(ctx context.Context, c *chunk, args map[string]string, changed []string) (res Result, err error) {
	res = Result{Recipe: c.name, Started: time.Now(), Run: 1, Changed: changed}
	if h.opts.RunTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.opts.RunTimeout)
		defer cancel()
	}
	ctx, stopWatch := watchMemory(ctx, h.memoryLimit())
	defer stopWatch()
	r := h.newRun(ctx, c)
	var L *lua.LState
	defer func() {
		if p := recover(); p != nil {
			err = internalError(p, L, r.chunks)
			res.Values = nil
		}
		res.Duration = time.Since(res.Started)
		res.Files = r.files
		res.Err = err
	}()
	mods, err := h.moduleList()
	if err != nil {
		return res, err
	}
	_ = h.cache.Sweep() // values that left the cache in an earlier run; closing them is best effort
	r.record(c)
	proto, err := h.protos.compile(ctx, c)
	if err != nil {
		return res, err
	}
	L = r.newState(mods, args)
	defer L.Close()
	L.SetContext(ctx)
	base := L.GetTop()
	L.Push(L.NewFunctionFromProto(proto))
	if perr := L.PCall(0, lua.MultRet, nil); perr != nil {
		return res, runError(ctx, L, perr, r.chunks)
	}
	for i := base + 1; i <= L.GetTop(); i++ {
		// Integral numbers become int, functions nil.
		v, cerr := modules.ToGo(L.Get(i), modules.Convert{Ints: true})
		if cerr != nil {
			return res, &Error{File: c.name, Message: "return value: " + cerr.Error()}
		}
		res.Values = append(res.Values, v)
	}
	return res, nil
}

// loadRecipe reads the recipe from disk, or from the built-ins when no such file exists.
func (h *Host) loadRecipe(p string) (*chunk, error) {
	abs := p
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(h.workDir, p)
	}
	fi, err := os.Stat(abs)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("recipe %s is a folder, not a .lua file", p)
	case err == nil:
		return h.diskChunk(abs)
	case !os.IsNotExist(err):
		return nil, fmt.Errorf("recipe %s: %w", p, err)
	}
	hint := ""
	if name, ok := builtinName(p); ok {
		if c, err := h.builtinChunk(name); err == nil {
			return c, nil
		}
		if near := h.nearestBuiltin(name); near != "" {
			hint = fmt.Sprintf("; did you mean %s?", near)
		}
	}
	return nil, fmt.Errorf("%w: %s is not a file, nor the name of a built-in recipe%s (list them with `qscript recipes`)", ErrRecipeNotFound, p, hint)
}

// diskChunk reads a Lua file from disk.
func (h *Host) diskChunk(abs string) (*chunk, error) {
	abs = filepath.Clean(abs)
	src, err := paths.ReadFile(abs) // refuses a FIFO or device without blocking on it
	if err != nil {
		return nil, err
	}
	return &chunk{name: h.displayName(abs), path: abs, dir: filepath.Dir(abs), src: src}, nil
}

// displayName is how errors name a file: relative to the working folder when inside it.
func (h *Host) displayName(abs string) string {
	rel, err := filepath.Rel(h.workDir, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return abs
	}
	return rel
}
