package bindings

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host/modules"
)

// envKey is the registry field that holds the run's *modules.Env. Every module's loader
// stores it there, so functions in static api tables find the run they belong to.
const envKey = "qs.env"

// registryGet returns the value of type T stored under key in L's registry.
func registryGet[T any](L *lua.LState, key string) (v T, ok bool) {
	if ud, isUD := L.GetField(L.Get(lua.RegistryIndex), key).(*lua.LUserData); isUD {
		v, ok = ud.Value.(T)
	}
	return v, ok
}

// registrySet stores v under key in L's registry.
func registrySet(L *lua.LState, key string, v any) {
	ud := L.NewUserData()
	ud.Value = v
	L.SetField(L.Get(lua.RegistryIndex), key, ud)
}

// envOf returns the run's environment. A state built outside a host (a bare Preload in a
// Go test, or one given a nil Env) gets a default Env whose relative paths resolve against
// the process's folder.
func envOf(L *lua.LState) *modules.Env {
	if env, ok := registryGet[*modules.Env](L, envKey); ok && env != nil {
		return env
	}
	env := (&modules.Env{Cache: modules.NewCache(0)}).WithContext(context.Background())
	registrySet(L, envKey, env)
	return env
}

// ctxOf is the run's context: the host's (through L.SetContext) when there is one.
func ctxOf(L *lua.LState) context.Context {
	if ctx := L.Context(); ctx != nil {
		return ctx
	}
	return envOf(L).Context()
}

// resolve turns a path given by a recipe into an absolute one, raising an argument error
// (for argument n) when the sandbox refuses it.
func resolve(L *lua.LState, n int, path string) string {
	abs, err := envOf(L).Resolve(path)
	if err != nil {
		L.ArgError(n, err.Error())
	}
	return abs
}

// writeOutput runs write, which writes the file abs (given as path in argument n), after
// creating the folders it needs as `mkdir -p` does: recipes cannot create folders
// themselves. When write fails, the folders created here are removed again, so that a
// failed save leaves nothing behind.
func writeOutput(L *lua.LState, n int, abs, path string, write func() error) error {
	var created []string // deepest first
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		created = append(created, dir)
	}
	if len(created) > 0 {
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			L.ArgError(n, fmt.Sprintf("cannot create the folder of %s: %v", path, err))
		}
	}
	err := write()
	if err != nil {
		for _, dir := range created {
			_ = os.Remove(dir) // only empty folders go; a failure here leaves an empty folder
		}
	}
	return err
}

// raise raises err as a Lua error at the recipe's line. A run stopped by its context keeps
// that cause, so the host reports "interrupted" rather than a module's wording of it.
func raise(L *lua.LState, err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		L.RaiseError("stopped: %v", err)
	}
	L.RaiseError("%s", err.Error())
}

// checkOptions returns the option table at argument n (an empty table when it is absent)
// after checking that its keys are all in valid; an unknown key raises an argument error
// that suggests the closest valid key and lists them all.
func checkOptions(L *lua.LState, n int, valid []string) *lua.LTable {
	opts := L.OptTable(n, L.NewTable())
	checkKeys(L, n, opts, "", valid)
	return opts
}

// checkKeys raises an argument error for the first key of t that is not in valid. table
// names t inside the argument ("weights") or is empty for the argument itself.
func checkKeys(L *lua.LState, n int, t *lua.LTable, table string, valid []string) {
	var keys []string
	var bad lua.LValue = lua.LNil
	t.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); ok {
			keys = append(keys, string(s))
		} else if bad == lua.LNil {
			bad = k
		}
	})
	if bad != lua.LNil {
		L.ArgError(n, fmt.Sprintf("option keys must be names, got %s %s", bad.Type(), bad.String()))
	}
	if err := optionKeysError(table, keys, valid); err != nil {
		L.ArgError(n, err.Error())
	}
}

// optField returns field key of option table t, checked against the Lua type want (nil
// when absent). A wrong type raises an argument error for argument n naming the option.
func optField(L *lua.LState, n int, t *lua.LTable, key string, want lua.LValueType) lua.LValue {
	if luaOption(L, n, t, key).get(key, want) == nil {
		return lua.LNil
	}
	return t.RawGetString(key)
}

// The opt functions read one field of a Lua option table with optionMap, the reader of
// converted option tables, so that both give the same errors.

func optString(L *lua.LState, n int, t *lua.LTable, key, def string) string {
	return luaOption(L, n, t, key).string(key, def)
}

func optBool(L *lua.LState, n int, t *lua.LTable, key string, def bool) bool {
	return luaOption(L, n, t, key).bool(key, def)
}

func optNumber(L *lua.LState, n int, t *lua.LTable, key string, def float64) float64 {
	return luaOption(L, n, t, key).number(key, def)
}

func optInt(L *lua.LState, n int, t *lua.LTable, key string, def int) int {
	return luaOption(L, n, t, key).int(key, def)
}

// optChoice returns a string option that must be one of choices; a value that is not
// raises an argument error suggesting the closest.
func optChoice(L *lua.LState, n int, t *lua.LTable, key, def string, choices []string) string {
	return luaOption(L, n, t, key).choice(key, def, choices)
}

// luaIntList reads a table of integers (a shape, an index list).
func luaIntList(L *lua.LState, n int, t *lua.LTable, what string) []int {
	size := t.Len()
	out := make([]int, 0, size)
	for i := 1; i <= size; i++ {
		v, ok := t.RawGetInt(i).(lua.LNumber)
		f := float64(v)
		if !ok || f != math.Trunc(f) || f < 0 || f > math.MaxInt32 {
			L.ArgError(n, fmt.Sprintf("%s[%d]: non-negative integer expected, got %s", what, i, t.RawGetInt(i).String()))
		}
		out = append(out, int(f))
	}
	return out
}

// stringList returns a Lua list of strings.
func stringList(L *lua.LState, xs []string) *lua.LTable {
	t := L.CreateTable(len(xs), 0)
	for _, x := range xs {
		t.Append(lua.LString(x))
	}
	return t
}

// numberList returns a Lua list of numbers (a shape, scales).
func numberList[T int | int32 | uint64 | float32 | float64](L *lua.LState, xs []T) *lua.LTable {
	t := L.CreateTable(len(xs), 0)
	for _, x := range xs {
		t.Append(lua.LNumber(x))
	}
	return t
}

// stringMap turns a Go map into a Lua table.
func stringMap(L *lua.LState, m map[string]string) *lua.LTable {
	t := L.CreateTable(0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		t.RawSetString(k, lua.LString(m[k]))
	}
	return t
}

// goValue converts a Lua option value to the Go values the packages' option parsers take
// (modules.ToGo: numbers as float64, functions through fn, nil dropping them). A cyclic,
// too deep or too large table raises an error.
func goValue(L *lua.LState, v lua.LValue, fn func(*lua.LFunction) any) any {
	out, err := modules.ToGo(v, modules.Convert{Func: fn})
	if err != nil {
		L.RaiseError("option table: %v", err)
	}
	return out
}
