package host

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/qscript-dev/qscript/internal/budget"
)

// compileStoppable parses and compiles Lua source on its own goroutine, so that ctx stops
// the wait even when compiling takes long (a huge generated chunk). The compiler shares
// nothing with a Lua state, so abandoning it is safe.
func compileStoppable(ctx context.Context, src []byte, name string) (*lua.FunctionProto, error) {
	type result struct {
		proto *lua.FunctionProto
		err   error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("%v", p)}
			}
		}()
		stmts, err := parse.Parse(bytes.NewReader(src), name)
		if err != nil {
			done <- result{err: err}
			return
		}
		rewriteConcat(stmts)
		proto, err := lua.Compile(stmts, name)
		if err == nil {
			bindConcat(proto)
		}
		done <- result{proto, err}
	}()
	select {
	case r := <-done:
		return r.proto, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// installLoad replaces load and loadstring with versions whose compilation the run can
// stop, and whose source (load's pieces) counts against the memory budget.
func installLoad(L *lua.LState) {
	L.SetGlobal("loadstring", L.NewFunction(func(L *lua.LState) int {
		src := L.CheckString(1)
		return loadChunk(L, src, L.OptString(2, "<string>"))
	}))
	L.SetGlobal("load", L.NewFunction(func(L *lua.LState) int {
		fn := L.CheckFunction(1)
		name := L.OptString(2, "=(load)")
		var b strings.Builder
		for {
			L.Push(fn)
			L.Call(0, 1)
			piece := L.Get(-1)
			L.Pop(1)
			if piece == lua.LNil {
				break
			}
			s, ok := piece.(lua.LString)
			if !ok {
				if n, isNum := piece.(lua.LNumber); isNum {
					s = lua.LString(n.String())
				} else {
					L.Push(lua.LNil)
					L.Push(lua.LString("reader function must return a string"))
					return 2
				}
			}
			if len(s) == 0 {
				break
			}
			need(L, int64(b.Len())+int64(len(s)), "load: the chunk")
			b.WriteString(string(s))
		}
		return loadChunk(L, b.String(), name)
	}))
}

// installFileLoad replaces loadfile and dofile (of an unsafe run) with versions that
// compile as loadstring does: stoppable, budgeted, and with .. checked (concat.go).
// loadfile() without a path, which reads stdin, stays the library's.
func installFileLoad(L *lua.LState) {
	orig, ok := L.GetGlobal("loadfile").(*lua.LFunction)
	if !ok {
		return
	}
	L.SetGlobal("loadfile", L.NewFunction(func(L *lua.LState) int {
		if L.GetTop() < 1 {
			return callOrig(L, orig)
		}
		path := L.CheckString(1)
		src, err := os.ReadFile(path)
		if err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString("can not open file: " + path))
			return 2
		}
		return loadChunk(L, skipShebang(string(src)), path)
	}))
	L.SetGlobal("dofile", L.NewFunction(func(L *lua.LState) int {
		path := L.CheckString(1)
		src, err := os.ReadFile(path)
		if err != nil {
			L.Error(lua.LString(err.Error()), 0) // the library's message
		}
		top := L.GetTop()
		if loadChunk(L, skipShebang(string(src)), path) == 2 {
			L.Error(L.Get(-1), 0)
		}
		L.Call(0, lua.MultRet)
		return L.GetTop() - top
	}))
}

// skipShebang blanks a first line starting with # (a Unix script's), as the library does;
// the line stays, empty, so that line numbers hold.
func skipShebang(src string) string {
	if !strings.HasPrefix(src, "#") {
		return src
	}
	if i := strings.IndexByte(src, '\n'); i >= 0 {
		return src[i:]
	}
	return ""
}

// loadChunk compiles src and pushes the function, or nil and the message as Lua does.
func loadChunk(L *lua.LState, src, name string) int {
	ctx := L.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if err := budget.Check(ctx, 8*int64(len(src)), "loadstring: compiling the chunk"); err != nil {
		L.RaiseError("%v", err)
	}
	proto, err := compileStoppable(ctx, []byte(src), name)
	if ctx.Err() != nil {
		L.RaiseError("stopped: %v", ctx.Err())
	}
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(strings.TrimSpace(err.Error())))
		return 2
	}
	L.Push(L.NewFunctionFromProto(proto))
	return 1
}
