package host

import (
	"fmt"
	"io"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host/modules"
)

// Lua state sizes: the registry may grow to hold large unpack() results and deep
// recursion, up to a bound that keeps a runaway recipe from eating the machine. It grows in
// large steps because every step copies it.
const (
	callStackSize    = 1024
	registrySize     = 1024 * 20
	registryMaxSize  = 1024 * 1024
	registryGrowStep = 1024 * 16
)

// sandboxedOS lists the os functions a sandboxed recipe keeps (SPEC §7).
var sandboxedOS = []string{"time", "clock", "date", "getenv"}

// sandboxedBase lists the base functions removed from a sandboxed recipe, with the hint
// shown when one is called anyway.
var sandboxedBase = []struct{ name, hint string }{
	{"dofile", "load Lua code with require"},
	{"loadfile", "load Lua code with require"},
	{"_printregs", "it is a debugging aid"},
}

// newState builds a fresh Lua state for one run: libraries (sandboxed unless Unsafe), print
// and require bound to this run, the registered modules in package.preload, and `arg`.
func (r *run) newState(mods []modules.Module, args map[string]string) *lua.LState {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:     true,
		CallStackSize:    callStackSize,
		RegistrySize:     registrySize,
		RegistryMaxSize:  registryMaxSize,
		RegistryGrowStep: registryGrowStep,
	})
	if r.env.Unsafe {
		L.OpenLibs()
	} else {
		openSandboxedLibs(L, r.env.Stdout)
	}
	L.SetGlobal("print", L.NewFunction(r.print))
	L.SetGlobal("error", L.NewFunction(luaError))
	L.SetGlobal("require", L.NewFunction(r.require))
	if os, ok := L.GetGlobal("os").(*lua.LTable); ok {
		os.RawSetString("exit", L.NewFunction(disabled("os.exit", "return from the recipe, or raise an error with error()")))
	}
	for _, m := range mods {
		L.PreloadModule(m.Name(), m.Loader(r.env))
	}
	r.installLimits(L)
	L.SetGlobal("arg", argTable(L, args))
	return L
}

// openSandboxedLibs opens base, package, table, string, math and coroutine; a restricted os;
// and an io that only writes to stdout. Every removed function raises an error that says it
// is disabled, instead of the puzzling "attempt to call a nil value".
func openSandboxedLibs(L *lua.LState, stdout io.Writer) {
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
		{lua.OsLibName, lua.OpenOs},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, f := range sandboxedBase {
		L.SetGlobal(f.name, L.NewFunction(disabled(f.name, f.hint)))
	}
	if pkg, ok := L.GetGlobal(lua.LoadLibName).(*lua.LTable); ok {
		pkg.RawSetString("path", lua.LString(""))
		pkg.RawSetString("cpath", lua.LString(""))
		// Our require never uses package.loaders, but gopher-lua's file loader in it would
		// compile any .lua file on package.path, which a recipe may set: remove them.
		pkg.RawSetString("loaders", lua.LNil)
		pkg.RawSetString("loadlib", lua.LNil)
		L.SetMetatable(pkg, disabledFields(L, "package", "load modules with require"))
	}

	fullOS := L.GetGlobal(lua.OsLibName).(*lua.LTable)
	os := L.NewTable()
	for _, name := range sandboxedOS {
		os.RawSetString(name, fullOS.RawGetString(name))
	}
	L.SetMetatable(os, disabledFields(L, "os", "the sandbox keeps only os.time, os.clock, os.date and os.getenv"))

	io := L.NewTable()
	io.RawSetString("write", L.NewFunction(func(L *lua.LState) int { return writeArgs(L, stdout) }))
	L.SetMetatable(io, disabledFields(L, "io", "recipes write files only through qs.save"))

	// require "os" must not hand back the full library that OpenOs registered.
	loaded := L.GetField(L.Get(lua.RegistryIndex), "_LOADED").(*lua.LTable)
	loaded.RawSetString(lua.OsLibName, os)
	loaded.RawSetString(lua.IoLibName, io)
	L.SetGlobal(lua.OsLibName, os)
	L.SetGlobal(lua.IoLibName, io)
}

// disabled returns a function that raises "NAME is not available in the sandbox".
func disabled(name, hint string) lua.LGFunction {
	return func(L *lua.LState) int {
		L.RaiseError("%s is not available in the sandbox: %s (run with --unsafe to allow it)", name, hint)
		return 0
	}
}

// disabledFields returns a metatable whose __index raises for any field the sandbox removed.
func disabledFields(L *lua.LState, lib, hint string) *lua.LTable {
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		field := L.CheckString(2)
		L.RaiseError("%s.%s is not available in the sandbox: %s (run with --unsafe to allow it)", lib, field, hint)
		return 0
	}))
	mt.RawSetString("__metatable", lua.LFalse)
	return mt
}

// print writes its arguments to the run's stdout, tab-separated, as Lua's print does.
func (r *run) print(L *lua.LState) int {
	var b strings.Builder
	for i := 1; i <= L.GetTop(); i++ {
		if i > 1 {
			b.WriteByte('\t')
		}
		b.WriteString(L.ToStringMeta(L.Get(i)).String())
	}
	b.WriteByte('\n')
	_, _ = io.WriteString(r.env.Stdout, b.String())
	return 0
}

// writeArgs is io.write for the sandbox: strings and numbers, no separators, to stdout.
func writeArgs(L *lua.LState, w io.Writer) int {
	var b strings.Builder
	for i := 1; i <= L.GetTop(); i++ {
		b.WriteString(L.CheckString(i))
	}
	_, _ = io.WriteString(w, b.String())
	return 0
}

// luaError is Lua's error(message [, level]) with the level counted as in the reference
// implementation: 1 (the default) is the function that called error, 2 its caller, and so
// on. gopher-lua's own error is off by one level, so a library function that blames its
// caller with level 2 would point at itself.
func luaError(L *lua.LState) int {
	obj := L.CheckAny(1)
	level := L.OptInt(2, 1)
	if msg, ok := obj.(lua.LString); ok && level > 0 {
		if dbg, ok := L.GetStack(level); ok {
			if _, err := L.GetInfo("Sl", dbg, lua.LNil); err == nil && dbg.CurrentLine > 0 {
				obj = lua.LString(fmt.Sprintf("%s:%d: %s", dbg.Source, dbg.CurrentLine, string(msg)))
			}
		}
	}
	L.Error(obj, 0)
	return 0
}
