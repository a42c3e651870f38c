package host

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/pm"

	"github.com/qscript-dev/qscript/internal/budget"
)

// The string library's pattern functions, rebuilt on gopher-lua's matcher (pm) so that a
// run can be stopped inside them: a backtracking pattern such as ("a*"):rep(20).."b" on a
// long subject takes longer than anyone will wait, and pm cannot be interrupted, so it runs
// on its own goroutine that the run abandons when its context ends. Results follow Lua 5.1.
//
// An abandoned match keeps running until it ends on its own; it touches nothing of the
// run (its subject is an immutable string), so it is safe, only wasteful, and the CLI
// exits at once anyway.

// matchCost is the memory one match's record takes, for the budget of gsub and gmatch,
// which collect every match first.
const matchCost = 96

// installPatterns replaces string.find, match, gmatch and gsub.
func installPatterns(L *lua.LState) {
	t, ok := L.GetGlobal(lua.StringLibName).(*lua.LTable)
	if !ok {
		return
	}
	t.RawSetString("find", L.NewFunction(strFind))
	t.RawSetString("match", L.NewFunction(strMatch))
	t.RawSetString("gmatch", L.NewFunction(strGmatch))
	t.RawSetString("gsub", L.NewFunction(strGsub))
}

// findAll runs pm.Find where the run can abandon it, and raises its pattern errors.
func findAll(L *lua.LState, pattern, subject string, init, limit int) []*pm.MatchData {
	type result struct {
		mds []*pm.MatchData
		err error
	}
	ctx := L.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if limit != 1 {
		need(L, budget.Mul(int64(len(subject))+1, matchCost), "the matches of a pattern")
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("%v", p)}
			}
		}()
		mds, err := pm.Find(pattern, []byte(subject), init, limit)
		done <- result{mds, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			L.RaiseError("%s", r.err.Error())
		}
		return r.mds
	case <-ctx.Done():
		L.RaiseError("stopped: %v", ctx.Err())
		return nil
	}
}

// startIndex turns Lua's 1-based init (negative from the end) into a 0-based offset
// clamped to the subject.
func startIndex(n, init int) int {
	switch {
	case init < 0:
		init = n + init + 1
		if init < 1 {
			init = 1
		}
	case init == 0:
		init = 1
	}
	return min(init-1, n)
}

// pushCaptures pushes a match's captures, or the whole match when it has none (and
// whole is true); it returns how many it pushed.
func pushCaptures(L *lua.LState, md *pm.MatchData, s string, whole bool) int {
	if md.CaptureLength() == 2 {
		if !whole {
			return 0
		}
		L.Push(lua.LString(s[md.Capture(0):md.Capture(1)]))
		return 1
	}
	for i := 2; i < md.CaptureLength(); i += 2 {
		L.Push(capture(md, s, i))
	}
	return md.CaptureLength()/2 - 1
}

func capture(md *pm.MatchData, s string, i int) lua.LValue {
	if md.IsPosCapture(i) {
		return lua.LNumber(md.Capture(i))
	}
	return lua.LString(s[md.Capture(i):md.Capture(i+1)])
}

// hasSpecials reports whether a pattern uses any magic character.
func hasSpecials(p string) bool {
	return strings.ContainsAny(p, "^$*+?.([%-")
}

// string.find(s, pattern [, init [, plain]])
func strFind(L *lua.LState) int {
	s := L.CheckString(1)
	p := L.CheckString(2)
	init := startIndex(len(s), L.OptInt(3, 1))
	if lua.LVAsBool(L.Get(4)) || !hasSpecials(p) {
		i := strings.Index(s[init:], p)
		if i < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(init + i + 1))
		L.Push(lua.LNumber(init + i + len(p)))
		return 2
	}
	mds := findAll(L, p, s, init, 1)
	if len(mds) == 0 {
		L.Push(lua.LNil)
		return 1
	}
	md := mds[0]
	L.Push(lua.LNumber(md.Capture(0) + 1))
	L.Push(lua.LNumber(md.Capture(1)))
	return 2 + pushCaptures(L, md, s, false)
}

// string.match(s, pattern [, init])
func strMatch(L *lua.LState) int {
	s := L.CheckString(1)
	p := L.CheckString(2)
	mds := findAll(L, p, s, startIndex(len(s), L.OptInt(3, 1)), 1)
	if len(mds) == 0 {
		L.Push(lua.LNil)
		return 1
	}
	return pushCaptures(L, mds[0], s, true)
}

// string.gmatch(s, pattern): an iterator over the matches, found when it is created.
func strGmatch(L *lua.LState) int {
	s := L.CheckString(1)
	p := L.CheckString(2)
	mds := findAll(L, p, s, 0, -1)
	next := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		if next >= len(mds) {
			return 0
		}
		md := mds[next]
		next++
		return pushCaptures(L, md, s, true)
	}))
	return 1
}

// string.gsub(s, pattern, repl [, n])
func strGsub(L *lua.LState) int {
	s := L.CheckString(1)
	p := L.CheckString(2)
	L.CheckTypes(3, lua.LTString, lua.LTNumber, lua.LTTable, lua.LTFunction)
	repl := L.Get(3)
	limit := L.OptInt(4, -1)
	if limit == 0 {
		L.Push(lua.LString(s))
		L.Push(lua.LNumber(0))
		return 2
	}
	mds := findAll(L, p, s, 0, limit)
	if str, ok := repl.(lua.LNumber); ok {
		repl = lua.LString(str.String())
	}
	if str, ok := repl.(lua.LString); ok {
		need(L, gsubSize(L, s, string(str), mds), "string.gsub: the string")
	}
	var b strings.Builder
	last := 0
	for _, md := range mds {
		start, end := md.Capture(0), md.Capture(1)
		b.WriteString(s[last:start])
		last = end
		var out lua.LValue
		switch r := repl.(type) {
		case lua.LString:
			expand(L, &b, string(r), md, s)
			continue
		case *lua.LTable:
			key := lua.LValue(lua.LString(s[start:end]))
			if md.CaptureLength() > 2 {
				key = capture(md, s, 2)
			}
			out = L.GetTable(r, key)
		case *lua.LFunction:
			L.Push(r)
			L.Call(pushCaptures(L, md, s, true), 1)
			out = L.Get(-1)
			L.Pop(1)
		}
		switch v := out.(type) {
		case lua.LString, lua.LNumber:
			if int64(b.Len())+int64(len(v.String())) > 0 {
				need(L, int64(b.Len())+int64(len(v.String()))+int64(len(s)-end), "string.gsub: the string")
			}
			b.WriteString(v.String())
		default:
			if lua.LVIsFalse(out) {
				b.WriteString(s[start:end])
			} else {
				L.RaiseError("invalid replacement value (a %s)", out.Type())
			}
		}
	}
	b.WriteString(s[last:])
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(len(mds)))
	return 2
}

// gsubSize is the length of gsub's result for a string replacement, computed before
// building it.
func gsubSize(L *lua.LState, s, repl string, mds []*pm.MatchData) int64 {
	size := int64(len(s))
	for _, md := range mds {
		size -= int64(md.Capture(1) - md.Capture(0))
		for i := 0; i < len(repl); i++ {
			if repl[i] != '%' || i+1 == len(repl) {
				size++
				continue
			}
			i++
			if c := repl[i]; '0' <= c && c <= '9' {
				size += int64(len(captureText(L, md, s, int(c-'0'))))
			} else {
				size++
			}
		}
		if size < 0 {
			return -1
		}
	}
	return size
}

// expand writes a string replacement: %0 the whole match, %1-%9 the captures (%1 is the
// whole match when there are none), %% a percent sign.
func expand(L *lua.LState, b *strings.Builder, repl string, md *pm.MatchData, s string) {
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '%' || i+1 == len(repl) {
			b.WriteByte(c)
			continue
		}
		i++
		c = repl[i]
		if '0' <= c && c <= '9' {
			b.WriteString(captureText(L, md, s, int(c-'0')))
		} else {
			b.WriteByte(c)
		}
	}
}

// captureText is capture n of a match as text (n = 0: the whole match).
func captureText(L *lua.LState, md *pm.MatchData, s string, n int) string {
	if n == 0 || (n == 1 && md.CaptureLength() == 2) {
		return s[md.Capture(0):md.Capture(1)]
	}
	if 2*n >= md.CaptureLength() {
		L.RaiseError("invalid capture index %%%d", n)
	}
	if md.IsPosCapture(2 * n) {
		return strconv.Itoa(md.Capture(2 * n))
	}
	return s[md.Capture(2*n):md.Capture(2*n+1)]
}
