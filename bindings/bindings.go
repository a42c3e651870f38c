// Package bindings gathers the Lua modules that every qscript host offers to recipes (the
// `qs` API: tensors, observers, models, quantize, calibrate, data, report, save). Each
// module lives in its own file and implements modules.Module; the host registers Modules()
// in every new host, so `host.New(host.Options{})` gives recipes the whole API.
//
// Recipes use the umbrella module:
//
//	local qs = require "qs"
//
// which gathers the parts (qs.tensor, qs.observer, qs.model, qs.report, qs.quantize,
// qs.data, qs.io) into one table; each part can also be required on its own. The Lua API
// is documented in docs/lua-api.md, with LuaLS annotations in scripts/qs.d.lua.
//
// The bindings are thin: the work is done by the Go packages (tensor, quant, formats,
// quantize, data, calib, static, report), which embedders can call directly.
package bindings

import (
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host/modules"
	"github.com/qscript-dev/qscript/internal/suggest"
)

// part is one module and where its table goes in `qs`: merged into the top level (field
// "") or under a field of its own (qs.observer, qs.data).
type part struct {
	module modules.Module
	field  string
}

// parts are the modules `qs` gathers, in order; a later part's names win.
var parts = []part{
	{TensorModule, ""},
	{ObserverModule, "observer"},
	{ModelModule, ""},
	{ReportModule, "report"},
	{QuantizeModule, ""},
	{DataModule, "data"},
	{IOModule, ""},
	{GGUFModule, "gguf"},
}

// apiModule is a module whose table holds api's functions; types registers the userdata
// types (metatables) its functions return, before the table is made.
func apiModule(name string, api map[string]lua.LGFunction, types ...func(*lua.LState)) modules.Module {
	return modules.New(name, func(env *modules.Env) lua.LGFunction {
		return func(L *lua.LState) int {
			registrySet(L, envKey, env)
			for _, register := range types {
				register(L)
			}
			L.Push(L.SetFuncs(L.NewTable(), api))
			return 1
		}
	})
}

// QSModule is `require "qs"`: every part in one table.
var QSModule modules.Module = modules.New("qs", qsLoader)

// PreloadQS makes the whole API available to a bare Lua state (outside a host):
//
//	local qs = require "qs"
func PreloadQS(L *lua.LState, env *modules.Env) {
	for _, p := range parts {
		L.PreloadModule(p.module.Name(), p.module.Loader(env))
	}
	L.PreloadModule("qs", qsLoader(env))
}

func qsLoader(env *modules.Env) lua.LGFunction {
	return func(L *lua.LState) int {
		registrySet(L, envKey, env)
		qs := L.NewTable()
		for _, p := range parts {
			L.Push(L.NewFunction(p.module.Loader(env)))
			L.Push(lua.LString(p.module.Name()))
			L.Call(1, 1)
			tbl, ok := L.Get(-1).(*lua.LTable)
			L.Pop(1)
			if !ok {
				L.RaiseError("module %s did not return a table", p.module.Name())
			}
			if p.field != "" {
				L.SetMetatable(tbl, unknownField(L, "qs."+p.field, tbl))
				qs.RawSetString(p.field, tbl)
				continue
			}
			tbl.ForEach(func(k, v lua.LValue) { qs.RawSet(k, v) })
		}
		L.SetMetatable(qs, unknownField(L, "qs", qs))
		L.Push(qs)
		return 1
	}
}

// unknownField returns a metatable whose __index raises an error for a name that module
// (named name) does not have, suggesting the closest: `qs.laod(...)` says "did you mean
// load?" instead of gopher-lua's "attempt to call a non-function object".
func unknownField(L *lua.LState, name string, module *lua.LTable) *lua.LTable {
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		key := L.Get(2)
		var names []string
		module.ForEach(func(k, _ lua.LValue) { names = append(names, k.String()) })
		slices.Sort(names)
		L.RaiseError("%s has no field %q%s; it has: %s", name, key.String(), suggest.DidYouMean(key.String(), names), strings.Join(names, ", "))
		return 0
	}))
	return mt
}

// Modules returns the default modules in registration order. The list is explicit and
// ordered (never built by ranging over a map) so that every host is set up the same way.
func Modules() []modules.Module {
	out := make([]modules.Module, 0, len(parts)+1)
	for _, p := range parts {
		out = append(out, p.module)
	}
	return append(out, QSModule)
}
