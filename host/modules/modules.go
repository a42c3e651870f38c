// Package modules is the seam between the qscript host and the Lua modules it offers to
// recipes. A binding implements Module; the host calls its Loader once per run with that
// run's Env (context, output, file policy, caches) when a recipe requires the module.
// Bindings import this package, never the host, so the host can depend on them.
package modules

import lua "github.com/yuin/gopher-lua"

// Module is one require-able Lua module implemented in Go.
//
//	local qs = require "qs"   -- Name() == "qs"
type Module interface {
	// Name is the name recipes pass to require.
	Name() string
	// Loader returns the function that require calls to build the module's table for one
	// run. It pushes the module table and returns 1, like any gopher-lua loader.
	Loader(env *Env) lua.LGFunction
}

// New wraps a name and a loader constructor into a Module, for modules that need no type
// of their own.
func New(name string, loader func(env *Env) lua.LGFunction) Module {
	return funcModule{name: name, loader: loader}
}

type funcModule struct {
	name   string
	loader func(env *Env) lua.LGFunction
}

func (m funcModule) Name() string                   { return m.name }
func (m funcModule) Loader(env *Env) lua.LGFunction { return m.loader(env) }

var _ Module = funcModule{}
