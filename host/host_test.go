package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host"
	"github.com/qscript-dev/qscript/host/modules"
)

// newHost returns a host working in dir that prints into the returned buffers.
func newHost(t *testing.T, dir string, opts host.Options) (*host.Host, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	opts.Dir = dir
	opts.Stdout = &stdout
	opts.Stderr = &stderr
	h, err := host.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, &stdout, &stderr
}

func greeterModule(L *lua.LState) int {
	L.Push(L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"greet": func(L *lua.LState) int {
			L.Push(lua.LString("hello, " + L.CheckString(1)))
			return 1
		},
	}))
	return 1
}

func TestBuiltinHelloGetsArgs(t *testing.T) {
	h, stdout, _ := newHost(t, t.TempDir(), host.Options{})
	res, err := h.RunFile(context.Background(), "recipes/hello.lua", map[string]string{"name": "x", "times": "2", "shout": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stdout.String(), "HELLO, X!\nHELLO, X!\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	want := map[string]any{"greeting": "HELLO, X!", "name": "x", "times": 2}
	if !reflect.DeepEqual(res.Value(), want) {
		t.Errorf("result = %#v, want %#v", res.Value(), want)
	}
	if res.Recipe != "builtin:recipes/hello.lua" {
		t.Errorf("recipe name = %q", res.Recipe)
	}
}

func TestBuiltinNames(t *testing.T) {
	h, _, _ := newHost(t, t.TempDir(), host.Options{})
	for _, name := range []string{"hello", "hello.lua", "recipes/hello.lua", "./recipes/hello.lua"} {
		if _, err := h.RunFile(context.Background(), name, nil); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"nope.lua", "other/hello.lua", "../hello.lua"} {
		_, err := h.RunFile(context.Background(), name, nil)
		if !errors.Is(err, host.ErrRecipeNotFound) {
			t.Errorf("%s: err = %v, want ErrRecipeNotFound", name, err)
		}
	}
	var names []string
	for _, b := range host.Builtins() {
		names = append(names, b.Name)
		if b.Summary == "" {
			t.Errorf("built-in %s has no summary comment", b.Name)
		}
	}
	if !strings.Contains(strings.Join(names, " "), "hello") {
		t.Errorf("Builtins() = %v, want hello among them", names)
	}
}

func TestArgConversion(t *testing.T) {
	h, _, _ := newHost(t, t.TempDir(), host.Options{})
	src := `return type(arg.n), arg.n, type(arg.f), type(arg.b), arg.b, type(arg.s), type(arg.hex), type(arg.inf)`
	res, err := h.RunString(context.Background(), "args.lua", src, map[string]string{
		"n": "150", "f": "0.5e-3", "b": "false", "s": "m.onnx", "hex": "0x10", "inf": "inf",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"number", 150, "number", "boolean", false, "string", "string", "string"}
	if !reflect.DeepEqual(res.Values, want) {
		t.Errorf("values = %#v, want %#v", res.Values, want)
	}
}

func TestResultConversion(t *testing.T) {
	h, _, _ := newHost(t, t.TempDir(), host.Options{})
	src := `return {a = 1, b = {1.5, "x", true}, c = {}, [3] = "three"}, nil, 2^60`
	res, err := h.RunString(context.Background(), "r.lua", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{
		map[string]any{"a": 1, "b": []any{1.5, "x", true}, "c": map[string]any{}, "3": "three"},
		nil,
		float64(1 << 60),
	}
	if !reflect.DeepEqual(res.Values, want) {
		t.Errorf("values = %#v, want %#v", res.Values, want)
	}
	_, err = h.RunString(context.Background(), "cycle.lua", `local t = {}; t.self = t; return t`, nil)
	if err == nil || !strings.Contains(err.Error(), "contains itself") {
		t.Errorf("cyclic table: err = %v", err)
	}
}

func TestBadArgumentNamesFileLineAndFunction(t *testing.T) {
	h, stdout, _ := newHost(t, "testdata", host.Options{})
	h.Register("greeter", greeterModule)
	_, err := h.RunFile(context.Background(), "recipes/greeter_bad.lua", nil)
	var e *host.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *host.Error", err, err)
	}
	want := "recipes/greeter_bad.lua:5: bad argument #1 to 'greet' (string expected, got nil)"
	if e.Error() != want {
		t.Errorf("error = %q\nwant    %q", e.Error(), want)
	}
	if e.File != "recipes/greeter_bad.lua" || e.Line != 5 {
		t.Errorf("File, Line = %q, %d", e.File, e.Line)
	}
	if strings.Contains(e.Error(), "stack traceback") || strings.Contains(e.Error(), "goroutine") {
		t.Errorf("error carries a traceback: %q", e.Error())
	}
	if stdout.String() != "before\n" {
		t.Errorf("stdout = %q", stdout.String())
	}
}

func TestErrorsWithoutPosition(t *testing.T) {
	h, _, _ := newHost(t, t.TempDir(), host.Options{})
	cases := []struct{ src, want string }{
		{"local x = 1\nerror('plain', 0)", "e.lua:2: plain"},
		{"local x = 1\nerror({code = 7})", "e.lua:2: (error object is a table value)"},
		{"error(setmetatable({}, {__tostring = function() return 'custom' end}))", "e.lua:1: custom"},
		{"local t = nil\nreturn t.x", "e.lua:2: attempt to index a non-table object(nil) with key 'x'"},
	}
	for _, c := range cases {
		_, err := h.RunString(context.Background(), "e.lua", c.src, nil)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: err = %v, want %q", c.src, err, c.want)
		}
	}
}

// error's level counts as in the reference Lua: 2 blames the caller, which is what library
// code (and the strict module) relies on.
func TestErrorLevels(t *testing.T) {
	h, _, _ := newHost(t, t.TempDir(), host.Options{})
	cases := []struct{ src, want string }{
		{"local function f()\n  error('x')\nend\nf()", "e.lua:2: x"},
		{"local function f()\n  error('x', 2)\nend\nf()", "e.lua:4: x"},
		{"local function g() error('deep', 3) end\nlocal function f()\n  g()\nend\nf()", "e.lua:5: deep"},
		{"require 'strict'\nlocal model = 1\nprint(modle)", "e.lua:3: undeclared global 'modle'"},
		{"local t = {}\nfor i = 1, 1e5 do t[i] = i end\nerror(select('#', unpack(t)))", "e.lua:3: 100000"},
	}
	for _, c := range cases {
		_, err := h.RunString(context.Background(), "e.lua", c.src, nil)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: err = %v, want %q", c.src, err, c.want)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	h, _, _ := newHost(t, "testdata", host.Options{})
	_, err := h.RunFile(context.Background(), "recipes/syntax.lua", nil)
	var e *host.Error
	if !errors.As(err, &e) || !e.Syntax || e.File != "recipes/syntax.lua" || e.Line != 2 {
		t.Fatalf("err = %#v", err)
	}
	if got, want := err.Error(), "recipes/syntax.lua:2: syntax error near '='"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	res, err := h.RunFile(context.Background(), "recipes/requires_broken.lua", nil)
	if err == nil || !strings.HasPrefix(err.Error(), filepath.Join("recipes", "lib", "broken.lua")+":3: syntax error") {
		t.Errorf("module syntax error = %v", err)
	}
	if len(res.Files) != 2 || filepath.Base(res.Files[1]) != "broken.lua" {
		t.Errorf("files of a run whose module failed to compile = %v", res.Files)
	}
	_, err = h.RunString(context.Background(), "eof.lua", "if true then", nil)
	if err == nil || err.Error() != "eof.lua:1: syntax error at end of file" {
		t.Errorf("EOF syntax error = %v", err)
	}
}

func TestRequireSearchOrder(t *testing.T) {
	h, _, _ := newHost(t, "testdata", host.Options{})
	res, err := h.RunFile(context.Background(), "recipes/uses_lib.lua", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"sum": 6, "twice": 42}; !reflect.DeepEqual(res.Value(), want) {
		t.Errorf("result = %v, want %v", res.Value(), want)
	}
	var base []string
	for _, f := range res.Files {
		if !filepath.IsAbs(f) {
			t.Errorf("file %s is not absolute", f)
		}
		base = append(base, filepath.Base(f))
	}
	if want := []string{"uses_lib.lua", "util.lua", "helpers.lua"}; !reflect.DeepEqual(base, want) {
		t.Errorf("files = %v, want %v (strict is embedded, so not listed)", base, want)
	}
}

func TestRegisteredModuleWinsAndReplaces(t *testing.T) {
	h, _, _ := newHost(t, t.TempDir(), host.Options{
		Modules: []modules.Module{modules.New("strict", func(*modules.Env) lua.LGFunction {
			return func(L *lua.LState) int { L.Push(lua.LString("from go")); return 1 }
		})},
	})
	res, err := h.RunString(context.Background(), "r.lua", `return require "strict"`, nil)
	if err != nil || res.Value() != "from go" {
		t.Fatalf("res = %v, err = %v", res.Values, err)
	}
	h.Register("strict", func(L *lua.LState) int { L.Push(lua.LString("replaced")); return 1 })
	res, err = h.RunString(context.Background(), "r.lua", `return require "strict"`, nil)
	if err != nil || res.Value() != "replaced" {
		t.Fatalf("res = %v, err = %v", res.Values, err)
	}
}

// ctxProbe marks the context given to a run, to find it again in the module's Env (which
// holds a context derived from it: the run's limits and time-out).
type ctxProbe struct{}

func TestModuleEnv(t *testing.T) {
	dir := t.TempDir()
	var got *modules.Env
	h, stdout, _ := newHost(t, dir, host.Options{Quiet: true, Version: "9.9", Modules: []modules.Module{
		modules.New("probe", func(env *modules.Env) lua.LGFunction {
			return func(L *lua.LState) int {
				got = env
				fmt := env.Stdout
				_, _ = fmt.Write([]byte("via env\n"))
				L.Push(lua.LTrue)
				return 1
			}
		}),
	}})
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxProbe{}, "run"))
	defer cancel()
	if _, err := h.RunString(ctx, "p.lua", `require "probe"`, nil); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Context().Value(ctxProbe{}) != "run" || !got.Quiet || got.Version != "9.9" || got.Cache != h.Cache() || got.WorkDir != dir {
		t.Errorf("env = %+v", got)
	}
	if stdout.String() != "via env\n" {
		t.Errorf("stdout = %q", stdout.String())
	}
}

func TestRequireCircularAndMissing(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.lua"), `return require "b"`)
	write(t, filepath.Join(dir, "b.lua"), `return require "a"`)
	write(t, filepath.Join(dir, "main.lua"), `return require "a"`)
	h, _, _ := newHost(t, dir, host.Options{})
	_, err := h.RunFile(context.Background(), "main.lua", nil)
	if err == nil || !strings.Contains(err.Error(), `b.lua:1: require "a": the module requires itself`) {
		t.Errorf("circular require: %v", err)
	}
	_, err = h.RunString(context.Background(), "m.lua", `require "no.such"`, nil)
	if err == nil || !strings.HasPrefix(err.Error(), `m.lua:1: module "no.such" not found; looked for:`) ||
		!strings.Contains(err.Error(), "builtin:no/such.lua") {
		t.Errorf("missing module: %v", err)
	}
}

func TestTimeoutStopsEndlessLoop(t *testing.T) {
	h, _, _ := newHost(t, t.TempDir(), host.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := h.RunString(ctx, "loop.lua", "local n = 0\nwhile true do n = n + 1 end", nil)
	var e *host.Error
	if !errors.As(err, &e) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if e.Error() != "loop.lua:2: stopped: time limit exceeded" {
		t.Errorf("error = %q", e.Error())
	}
	// pcall must not swallow the cancellation.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	_, err = h.RunString(ctx2, "pcall.lua", "while true do pcall(function() while true do end end) end", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("pcall loop: err = %v", err)
	}
}

func TestSandbox(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "recipes", "r.lua"), `return 1`)
	write(t, filepath.Join(dir, "outside.lua"), `return "outside"`)
	h, _, _ := newHost(t, dir, host.Options{})
	cases := []struct{ src, want string }{
		{`os.execute("true")`, "s.lua:1: os.execute is not available in the sandbox"},
		{`io.popen("ls")`, "s.lua:1: io.popen is not available in the sandbox"},
		{`io.open("x", "w")`, "s.lua:1: io.open is not available in the sandbox: recipes write files only through qs.save"},
		{`dofile("x.lua")`, "s.lua:1: dofile is not available in the sandbox"},
		{`loadfile("x.lua")`, "s.lua:1: loadfile is not available in the sandbox"},
		{`os.exit(3)`, "s.lua:1: os.exit is not available in the sandbox"},
		{`local os2 = require "os"; os2.remove("x")`, "s.lua:1: os.remove is not available in the sandbox"},
		{`require "../outside"`, `s.lua:1: require "../outside": a module name is a dotted name`},
		{`require "/etc/passwd"`, `s.lua:1: require "/etc/passwd": a module name is a dotted name`},
		{`require "debug"`, `s.lua:1: module "debug" not found`},
		{`package.path = "../?.lua"; return package.loaders[2]("outside")`, "s.lua:1: package.loaders is not available in the sandbox"},
	}
	for _, c := range cases {
		_, err := h.RunString(context.Background(), "s.lua", c.src, nil)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: err = %v\nwant prefix %q", c.src, err, c.want)
		}
	}
	res, err := h.RunString(context.Background(), "ok.lua",
		`io.write("a", 1, "\n"); return type(os.time()), type(os.clock()), type(os.date("%Y")), os.getenv("QSCRIPT_TEST_UNSET"), (loadstring("return 5"))()`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"number", "number", "string", nil, 5}; !reflect.DeepEqual(res.Values, want) {
		t.Errorf("allowed functions returned %#v", res.Values)
	}
}

func TestSymlinkedModuleCannotEscape(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "secret.lua"), `return "secret"`)
	write(t, filepath.Join(dir, "recipes", "r.lua"), `return require "link"`)
	if err := os.Symlink(filepath.Join(dir, "secret.lua"), filepath.Join(dir, "recipes", "link.lua")); err != nil {
		t.Skip("no symlinks:", err)
	}
	h, _, _ := newHost(t, dir, host.Options{})
	_, err := h.RunFile(context.Background(), "recipes/r.lua", nil)
	if err == nil || !strings.Contains(err.Error(), "leads outside the recipe's folder through a symbolic link") {
		t.Errorf("err = %v", err)
	}
	hu, _, _ := newHost(t, dir, host.Options{Unsafe: true})
	if res, err := hu.RunFile(context.Background(), "recipes/r.lua", nil); err != nil || res.Value() != "secret" {
		t.Errorf("unsafe: %v %v", res.Values, err)
	}
}

func TestUnsafeLiftsSandbox(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "shared", "lib.lua"), `return "shared"`)
	write(t, filepath.Join(dir, "recipes", "r.lua"), `
		local ok = os.execute("exit 0")
		local f = assert(io.open(arg.out, "w")); f:write("x"); f:close()
		return ok, require "../shared/lib"`)
	h, _, _ := newHost(t, dir, host.Options{Unsafe: true})
	// io.open resolves relative paths against the process's folder, not Options.Dir: pass
	// an absolute one so the test never writes into the source tree.
	out := filepath.Join(dir, "written.txt")
	res, err := h.RunFile(context.Background(), "recipes/r.lua", map[string]string{"out": out})
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{0, "shared"}; !reflect.DeepEqual(res.Values, want) {
		t.Errorf("values = %#v, want %#v", res.Values, want)
	}
	if got, err := os.ReadFile(out); err != nil || string(got) != "x" {
		t.Errorf("io.open under Unsafe wrote %q, %v", got, err)
	}
}

// Two hosts run different recipes at the same time, each with its own module and output;
// run under -race this also proves that they share no mutable state.
func TestConcurrentHosts(t *testing.T) {
	const rounds = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			h, err := host.New(host.Options{Dir: "testdata", Stdout: &out})
			if err != nil {
				errs <- err
				return
			}
			defer h.Close()
			tag := fmt.Sprintf("host%d", i)
			h.Register("tag", func(L *lua.LState) int { L.Push(lua.LString(tag)); return 1 })
			for n := range rounds {
				out.Reset()
				var res host.Result
				if i == 0 {
					res, err = h.RunFile(context.Background(), "recipes/uses_lib.lua", nil)
					if err == nil && !reflect.DeepEqual(res.Value(), map[string]any{"sum": 6, "twice": 42}) {
						err = fmt.Errorf("%s: result %v", tag, res.Value())
					}
				} else {
					res, err = h.RunString(context.Background(), "t.lua", `local t = require "tag"; x = (x or 0) + 1; print(t, x); return t`, map[string]string{"n": fmt.Sprint(n)})
					if err == nil && (res.Value() != tag || out.String() != tag+"\t1\n") {
						err = fmt.Errorf("%s: result %v, output %q", tag, res.Value(), out.String())
					}
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
