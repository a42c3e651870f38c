package bindings_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host"
	"github.com/qscript-dev/qscript/host/modules"
)

// repoRoot is where recipes run in the README: paths such as examples/models/digits_cnn.pt
// are relative to it.
const repoRoot = ".."

// TestLua runs every global function TestXxx(t) of testdata/*_test.lua as a subtest, each
// in a fresh host with the real bindings, the working folder at the repository root.
// The Lua side reports failures through t (see luaT) with its file and line.
func TestLua(t *testing.T) {
	files, err := filepath.Glob("testdata/*_test.lua")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Lua test files: %v", err)
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		chunk := "bindings/" + filepath.ToSlash(file)
		for _, name := range luaTestNames(t, chunk, string(src)) {
			t.Run(strings.TrimSuffix(filepath.Base(file), "_test.lua")+"/"+name, func(t *testing.T) {
				runLuaTest(t, chunk, string(src), name)
			})
		}
	}
}

// luaTestNames loads a test file and lists its global TestXxx functions, sorted.
func luaTestNames(t *testing.T, chunk, src string) []string {
	h := newTestHost(t, nil)
	res, err := h.RunString(context.Background(), chunk, src+`
local names = {}
for k, v in pairs(_G) do
  if type(k) == "string" and k:match("^Test") and type(v) == "function" then names[#names + 1] = k end
end
table.sort(names)
return names`, nil)
	if err != nil {
		t.Fatalf("%s: %v", chunk, err)
	}
	var names []string
	list, _ := res.Value().([]any)
	for _, n := range list {
		names = append(names, n.(string))
	}
	if len(names) == 0 {
		t.Fatalf("%s defines no TestXxx functions", chunk)
	}
	return names
}

func newTestHost(t *testing.T, extra []modules.Module) *host.Host {
	t.Helper()
	h, err := host.New(host.Options{Dir: repoRoot, Stdout: &testWriter{t: t}, Stderr: &testWriter{t: t}, Quiet: true, Modules: extra})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// testWriter sends a run's output to the test log.
type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// runLuaTest runs one TestXxx(t) in a fresh host.
func runLuaTest(t *testing.T, chunk, src, name string) {
	dir := t.TempDir()
	h := newTestHost(t, []modules.Module{modules.New("qstest", func(env *modules.Env) lua.LGFunction {
		return func(L *lua.LState) int {
			L.Push(luaT(L, t, dir))
			return 1
		}
	})})
	// The driver goes on the file's last line so that the file's own lines keep their numbers.
	driver := fmt.Sprintf(" ; %s(require 'qstest')", name)
	if _, err := h.RunString(context.Background(), chunk, src+driver, map[string]string{"tmp": dir}); err != nil {
		t.Fatalf("%v", err)
	}
}

// luaT is the t a Lua test receives:
//
//	t:error(msg)              fail, go on
//	t:fatal(msg)              fail, stop the test
//	t:eq(got, want [, msg])   fail unless got == want (numbers, strings, booleans, nil)
//	t:near(got, want, tol [, msg])
//	t:raises(fn, substring)   fail unless fn() raises an error containing substring; returns it
//	t:log(...)                log
//	t.tmp                     a temporary folder for outputs
func luaT(L *lua.LState, t *testing.T, tmp string) *lua.LTable {
	where := func(L *lua.LState) string {
		// Level 1 is the Lua function that called the t method.
		return strings.TrimSuffix(L.Where(1), " ")
	}
	fail := func(L *lua.LState, msg string) {
		t.Helper()
		t.Errorf("%s %s", where(L), msg)
	}
	msgAt := func(L *lua.LState, n int) string {
		if L.GetTop() >= n {
			return ": " + L.ToStringMeta(L.Get(n)).String()
		}
		return ""
	}
	tbl := L.NewTable()
	tbl.RawSetString("tmp", lua.LString(tmp))
	L.SetFuncs(tbl, map[string]lua.LGFunction{
		"error": func(L *lua.LState) int {
			fail(L, L.ToStringMeta(L.Get(2)).String())
			return 0
		},
		"fatal": func(L *lua.LState) int {
			fail(L, L.ToStringMeta(L.Get(2)).String())
			L.RaiseError("test stopped by t:fatal")
			return 0
		},
		"log": func(L *lua.LState) int {
			var parts []string
			for i := 2; i <= L.GetTop(); i++ {
				parts = append(parts, L.ToStringMeta(L.Get(i)).String())
			}
			t.Logf("%s %s", where(L), strings.Join(parts, "\t"))
			return 0
		},
		"eq": func(L *lua.LState) int {
			got, want := L.Get(2), L.Get(3)
			if !L.Equal(got, want) || got.Type() != want.Type() {
				fail(L, fmt.Sprintf("got %s, want %s%s", describe(L, got), describe(L, want), msgAt(L, 4)))
			}
			return 0
		},
		"near": func(L *lua.LState) int {
			got, want, tol := L.CheckNumber(2), L.CheckNumber(3), L.CheckNumber(4)
			d := float64(got - want)
			if d < 0 {
				d = -d
			}
			if !(d <= float64(tol)) {
				fail(L, fmt.Sprintf("got %v, want %v ± %v%s", float64(got), float64(want), float64(tol), msgAt(L, 5)))
			}
			return 0
		},
		"raises": func(L *lua.LState) int {
			fn := L.CheckFunction(2)
			want := L.CheckString(3)
			err := L.CallByParam(lua.P{Fn: fn, NRet: 0, Protect: true})
			if err == nil {
				fail(L, fmt.Sprintf("no error raised, want one containing %q", want))
				L.Push(lua.LNil)
				return 1
			}
			msg := err.Error()
			if api, ok := err.(*lua.ApiError); ok {
				msg = L.ToStringMeta(api.Object).String()
			}
			if !strings.Contains(msg, want) {
				fail(L, fmt.Sprintf("error %q does not contain %q", msg, want))
			}
			L.Push(lua.LString(msg))
			return 1
		},
	})
	return tbl
}

func describe(L *lua.LState, v lua.LValue) string {
	if s, ok := v.(lua.LString); ok {
		return fmt.Sprintf("%q", string(s))
	}
	return L.ToStringMeta(v).String()
}
