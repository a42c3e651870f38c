package host

import (
	"bytes"
	"context"
	"fmt"
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
