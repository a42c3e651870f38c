package host

import (
	"context"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The string library's pattern functions on the stoppable matcher of pattern.go: a
// backtracking pattern such as ("a*"):rep(20).."b" on a long subject takes longer than
// anyone will wait, and timeouts, Ctrl-C and watch-mode saves must still stop it. Results
// follow Lua 5.1's string library.

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

func newMatcher(L *lua.LState, src, pat string) *matcher {
	ctx := L.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return &matcher{src: src, pat: pat, ctx: ctx}
}

// matchAt runs one match of m's pattern (from p) at s, raising pattern errors and stops
// as Lua errors.
func matchAt(L *lua.LState, m *matcher, s, p int) int {
	res := -1
	if err := m.run(func() {
		m.level, m.depth = 0, 0
		res = m.match(s, p)
	}); err != nil {
		if m.ctx.Err() != nil {
			L.RaiseError("stopped: %v", m.ctx.Err())
		}
		L.RaiseError("%s", err.Error())
	}
	return res
}

// captureValue is capture i of the match src[s:e] (the whole match when the pattern has
// no captures and i is 0).
func captureValue(L *lua.LState, m *matcher, i, s, e int) lua.LValue {
	if i >= m.level {
		if i != 0 {
			L.RaiseError("invalid capture index")
		}
		return lua.LString(m.src[s:e])
	}
	c := m.capture[i]
	switch c.len {
	case capUnfinished:
		L.RaiseError("unfinished capture")
	case capPosition:
		return lua.LNumber(c.init + 1)
	}
	return lua.LString(m.src[c.init : c.init+c.len])
}

// pushCaptures pushes the captures of the match src[s:e], or the whole match when there
// are none and whole is set; it returns how many it pushed.
func pushCaptures(L *lua.LState, m *matcher, s, e int, whole bool) int {
	n := m.level
	if n == 0 && whole {
		n = 1
	}
	for i := 0; i < n; i++ {
		L.Push(captureValue(L, m, i, s, e))
	}
	return n
}

// startIndex turns Lua's 1-based init (negative from the end) into a 0-based offset
// clamped to the subject.
func startIndex(n, init int) int {
	if init < 0 {
		init += n + 1
	}
	init--
	return max(0, min(init, n))
}

// hasSpecials reports whether a pattern uses any magic character.
func hasSpecials(p string) bool {
	return strings.ContainsAny(p, "^$*+?.([%-")
}

// findAux is string.find (find) and string.match.
func findAux(L *lua.LState, find bool) int {
	s := L.CheckString(1)
	p := L.CheckString(2)
	init := startIndex(len(s), L.OptInt(3, 1))
	if find && (lua.LVAsBool(L.Get(4)) || !hasSpecials(p)) {
		i := strings.Index(s[init:], p)
		if i < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(init + i + 1))
		L.Push(lua.LNumber(init + i + len(p)))
		return 2
	}
	m := newMatcher(L, s, p)
	pi := 0
	anchor := len(p) > 0 && p[0] == '^'
	if anchor {
		pi = 1
	}
	for s1 := init; ; s1++ {
		if e := matchAt(L, m, s1, pi); e >= 0 {
			if find {
				L.Push(lua.LNumber(s1 + 1))
				L.Push(lua.LNumber(e))
				return 2 + pushCaptures(L, m, s1, e, false)
			}
			return pushCaptures(L, m, s1, e, true)
		}
		if anchor || s1 >= len(s) {
			break
		}
	}
	L.Push(lua.LNil)
	return 1
}

// string.find(s, pattern [, init [, plain]])
func strFind(L *lua.LState) int { return findAux(L, true) }

// string.match(s, pattern [, init])
func strMatch(L *lua.LState) int { return findAux(L, false) }

// string.gmatch(s, pattern): an iterator over the matches. As in Lua 5.1, '^' is not an
// anchor here.
func strGmatch(L *lua.LState) int {
	s := L.CheckString(1)
	p := L.CheckString(2)
	m := newMatcher(L, s, p)
	pos := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		for src := pos; src <= len(s); src++ {
			if e := matchAt(L, m, src, 0); e >= 0 {
				pos = e
				if e == src {
					pos++ // an empty match: go on one position further
				}
				return pushCaptures(L, m, src, e, true)
			}
		}
		pos = len(s) + 1
		return 0
	}))
	return 1
}

// string.gsub(s, pattern, repl [, n])
func strGsub(L *lua.LState) int {
	s := L.CheckString(1)
	p := L.CheckString(2)
	L.CheckTypes(3, lua.LTString, lua.LTNumber, lua.LTTable, lua.LTFunction)
	repl := L.Get(3)
	if n, ok := repl.(lua.LNumber); ok {
		repl = lua.LString(n.String())
	}
	maxN := L.OptInt(4, len(s)+1)
	m := newMatcher(L, s, p)
	pi := 0
	anchor := len(p) > 0 && p[0] == '^'
	if anchor {
		pi = 1
	}
	out := &budgetedBuilder{L: L}
	src, n := 0, 0
	for n < maxN {
		e := matchAt(L, m, src, pi)
		if e >= 0 {
			n++
			addValue(L, out, m, repl, src, e)
		}
		switch {
		case e > src:
			src = e
		case src < len(s):
			out.WriteString(s[src : src+1])
			src++
		default:
			src = len(s) + 1
		}
		if src > len(s) || anchor {
			break
		}
	}
	if src < len(s) {
		out.WriteString(s[src:])
	}
	L.Push(lua.LString(out.b.String()))
	L.Push(lua.LNumber(n))
	return 2
}

// addValue writes the replacement of the match src[s:e].
func addValue(L *lua.LState, out *budgetedBuilder, m *matcher, repl lua.LValue, s, e int) {
	var v lua.LValue
	switch r := repl.(type) {
	case lua.LString:
		expand(L, out, m, string(r), s, e)
		return
	case *lua.LTable:
		v = L.GetTable(r, captureValue(L, m, 0, s, e))
	case *lua.LFunction:
		L.Push(r)
		L.Call(pushCaptures(L, m, s, e, true), 1)
		v = L.Get(-1)
		L.Pop(1)
	}
	switch x := v.(type) {
	case lua.LString, lua.LNumber:
		out.WriteString(x.String())
	default:
		if !lua.LVAsBool(v) {
			out.WriteString(m.src[s:e]) // nil or false: keep the original
			return
		}
		L.RaiseError("invalid replacement value (a %s)", v.Type().String())
	}
}

// expand writes a string replacement: %0 the whole match, %1-%9 the captures (%1 is the
// whole match when there are none), %x the character x (so %% is a percent sign).
func expand(L *lua.LState, out *budgetedBuilder, m *matcher, repl string, s, e int) {
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != escape || i+1 == len(repl) {
			out.WriteString(repl[i : i+1])
			continue
		}
		i++
		switch c = repl[i]; {
		case c == '0':
			out.WriteString(m.src[s:e])
		case '1' <= c && c <= '9':
			v := captureValue(L, m, int(c-'1'), s, e)
			if n, ok := v.(lua.LNumber); ok {
				out.WriteString(strconv.Itoa(int(n)))
			} else {
				out.WriteString(string(v.(lua.LString)))
			}
		default:
			out.WriteString(repl[i : i+1])
		}
	}
}

// budgetedBuilder is gsub's result, checked against the run's memory budget each time it
// doubles.
type budgetedBuilder struct {
	L       *lua.LState
	b       strings.Builder
	checked int64
}

func (o *budgetedBuilder) WriteString(s string) {
	if n := int64(o.b.Len()) + int64(len(s)); n > o.checked {
		o.checked = max(2*n, 1<<16)
		need(o.L, o.checked, "string.gsub: the string")
	}
	o.b.WriteString(s)
}
