// Package scripts holds the Lua side of qscript, embedded in the binary: library modules
// (scripts/*.lua, required as `require "name"`; `a.b` is a/b.lua) and the built-in recipes
// (scripts/recipes/*.lua, run as `qscript recipes/NAME.lua` when no such file is on disk).
package scripts

import "embed"

// FS is the embedded library: *.lua at its root and recipes/*.lua.
//
//go:embed *.lua recipes/*.lua
var FS embed.FS
