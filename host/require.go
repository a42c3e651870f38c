package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// require loads a module once per run, looking in this order:
//  1. modules registered in Go (package.preload);
//  2. the folder of the file that calls require;
//  3. the recipe's folder;
//  4. the embedded scripts library;
//  5. with Unsafe only: the working folder, and any relative or absolute path.
//
// Module "a.b" is the file a/b.lua (or a/b/init.lua). Every file loaded is recorded, so
// that watch mode can watch its folder.
func (r *run) require(L *lua.LState) int {
	name := L.CheckString(1)
	loaded := L.GetField(L.Get(lua.RegistryIndex), "_LOADED").(*lua.LTable)
	if v := loaded.RawGetString(name); lua.LVAsBool(v) {
		if v == r.loading {
			L.RaiseError("require %q: the module requires itself (through the modules it requires)", name)
		}
		L.Push(v)
		return 1
	}
	loader := r.findModule(L, name)
	loaded.RawSetString(name, r.loading)
	L.Push(loader)
	L.Push(lua.LString(name))
	if err := L.PCall(1, 1, nil); err != nil {
		loaded.RawSetString(name, lua.LNil)
		var api *lua.ApiError
		if errors.As(err, &api) {
			L.Error(api.Object, 0)
		}
		L.Error(lua.LString(err.Error()), 0)
	}
	ret := L.Get(-1)
	L.Pop(1)
	if ret != lua.LNil {
		loaded.RawSetString(name, ret)
	} else if loaded.RawGetString(name) == r.loading {
		loaded.RawSetString(name, lua.LTrue)
	}
	L.Push(loaded.RawGetString(name))
	return 1
}

// findModule returns the loader function for module name, or raises an error that lists
// where it looked.
func (r *run) findModule(L *lua.LState, name string) lua.LValue {
	if pkg, ok := L.GetGlobal(lua.LoadLibName).(*lua.LTable); ok {
		if preload, ok := pkg.RawGetString("preload").(*lua.LTable); ok {
			if fn, ok := preload.RawGetString(name).(*lua.LFunction); ok {
				return fn
			}
		}
	}
	caller := r.callerChunk(L)
	rel, plain := moduleFile(name)
	if !plain {
		if !r.env.Unsafe {
			L.RaiseError("require %q: a module name is a dotted name such as \"lib.util\", looked up in the recipe's folder and the qscript library; loading a file by path, or from outside those folders, needs --unsafe", name)
		}
		return r.loadPathModule(L, name, caller)
	}
	var tried []string
	for _, loc := range r.searchLocations(caller) {
		for _, candidate := range []string{rel + ".lua", rel + "/init.lua"} {
			c, where, err := r.findIn(loc, candidate)
			if err != nil {
				L.RaiseError("require %q: %v", name, err)
			}
			if c != nil {
				return r.compileModule(L, c)
			}
			tried = append(tried, where)
		}
	}
	L.RaiseError("module %q not found; looked for:\n\t%s", name, strings.Join(tried, "\n\t"))
	return lua.LNil
}

// location is a folder that require searches: on disk, or in the embedded library.
type location struct {
	dir     string
	library bool
}

func (r *run) searchLocations(caller *chunk) []location {
	var locs []location
	add := func(l location) {
		for _, have := range locs {
			if have == l {
				return
			}
		}
		locs = append(locs, l)
	}
	if caller != nil {
		add(location{caller.dir, caller.library})
	}
	add(location{r.recipe.dir, r.recipe.library})
	add(location{".", true})
	if r.env.Unsafe {
		add(location{r.h.workDir, false})
	}
	return locs
}

// findIn looks for the slash path rel inside loc. It returns the chunk when found, and
// otherwise how to describe the place it looked.
func (r *run) findIn(loc location, rel string) (*chunk, string, error) {
	if loc.library {
		p := path.Join(loc.dir, rel)
		src, err := fs.ReadFile(r.h.library, p)
		if err != nil {
			return nil, builtinPrefix + p, nil
		}
		return &chunk{name: builtinPrefix + p, dir: path.Dir(p), library: true, src: src}, "", nil
	}
	p := filepath.Join(loc.dir, filepath.FromSlash(rel))
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, r.h.displayName(p), nil
	}
	if !r.env.Unsafe {
		if err := r.checkInsideRecipeDir(p); err != nil {
			return nil, "", err
		}
	}
	c, err := r.h.diskChunk(p)
	return c, "", err
}

// checkInsideRecipeDir refuses a module file that a symbolic link leads out of the recipe's
// folder.
func (r *run) checkInsideRecipeDir(p string) error {
	if r.recipe.library {
		return fmt.Errorf("%s is outside the qscript library (needs --unsafe)", r.h.displayName(p))
	}
	realDir, err := filepath.EvalSymlinks(r.recipe.dir)
	if err != nil {
		return err
	}
	realFile, err := filepath.EvalSymlinks(p)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(realDir, realFile); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%s leads outside the recipe's folder through a symbolic link (needs --unsafe)", r.h.displayName(p))
	}
	return nil
}

// loadPathModule is require of a path ("../shared/lib", "/opt/lua/x.lua"), allowed only
// with Unsafe: relative to the caller's folder, or to the working folder.
func (r *run) loadPathModule(L *lua.LState, name string, caller *chunk) lua.LValue {
	p := filepath.FromSlash(name)
	if !strings.HasSuffix(p, ".lua") {
		p += ".lua"
	}
	if !filepath.IsAbs(p) {
		base := r.h.workDir
		if caller != nil && !caller.library && caller.path != "" {
			base = caller.dir
		}
		p = filepath.Join(base, p)
	}
	c, err := r.h.diskChunk(p)
	if err != nil {
		L.RaiseError("require %q: %v", name, err)
	}
	return r.compileModule(L, c)
}

// compileModule records the module and compiles it; a syntax error is raised with the
// module's own file:line.
func (r *run) compileModule(L *lua.LState, c *chunk) lua.LValue {
	r.record(c)
	proto, err := r.h.protos.compile(r.env.Context(), c)
	if err != nil {
		L.Error(lua.LString(err.Error()), 0)
	}
	return L.NewFunctionFromProto(proto)
}

// callerChunk is the chunk of the Lua function that called require, if it is one of ours.
func (r *run) callerChunk(L *lua.LState) *chunk {
	dbg, ok := L.GetStack(1)
	if !ok {
		return nil
	}
	if _, err := L.GetInfo("S", dbg, lua.LNil); err != nil {
		return nil
	}
	return r.chunks[dbg.Source]
}

// moduleFile maps a module name to a slash path without extension ("a.b" → "a/b"). plain is
// false for names that are not dotted names: paths, "..", absolute names, empty parts.
func moduleFile(name string) (rel string, plain bool) {
	if name == "" || strings.ContainsAny(name, `/\:`) {
		return "", false
	}
	parts := strings.Split(name, ".")
	for _, p := range parts {
		if p == "" {
			return "", false
		}
	}
	return strings.Join(parts, "/"), true
}
