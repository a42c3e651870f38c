package host

import (
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/internal/budget"
)

// Limits of one run, beyond the memory budget. A coroutine's state is small (its stacks
// start small and grow), but each nested resume runs on the Go stack, so nesting is bounded
// much lower than the number of coroutines.
const (
	maxCoroutines     = 10000 // alive at once
	maxCoroutineDepth = 200   // coroutines resumed inside one another
	threadRegistry    = 256   // initial registry slots of a coroutine; it grows on demand
)

// limits counts a run's coroutines.
type limits struct {
	live  atomic.Int64 // created and not yet collected
	depth int          // resumes in progress, nested (only the run's goroutine changes it)
}

// installLimits replaces the Lua functions that can allocate without bound or nest
// without bound with checked versions: string.rep, string.format, table.concat,
// coroutine.create/wrap/resume, and math.random (whose empty interval would panic).
func (r *run) installLimits(L *lua.LState) {
	// Coroutines copy the main state's options: start them small.
	L.Options.RegistrySize = threadRegistry
	L.Options.MinimizeStackMemory = true
	lim := &limits{}
	installPatterns(L)
	installLoad(L)
	if r.env.Unsafe { // the sandbox has no loadfile and dofile
		installFileLoad(L)
	}
	wrapLib(L, lua.StringLibName, "rep", checkedRep)
	wrapLib(L, lua.StringLibName, "format", checkedFormat)
	wrapLib(L, lua.TabLibName, "concat", checkedConcat)
	wrapLib(L, lua.MathLibName, "random", checkedRandom)
	wrapLib(L, lua.CoroutineLibName, "create", lim.create)
	wrapLib(L, lua.CoroutineLibName, "resume", lim.resume)
	wrapLib(L, lua.CoroutineLibName, "wrap", lim.wrap)
}

// wrapLib replaces lib.name with check(original).
func wrapLib(L *lua.LState, lib, name string, check func(orig *lua.LFunction) lua.LGFunction) {
	t, ok := L.GetGlobal(lib).(*lua.LTable)
	if !ok {
		return
	}
	orig, ok := t.RawGetString(name).(*lua.LFunction)
	if !ok {
		return
	}
	t.RawSetString(name, L.NewFunction(check(orig)))
}

// callOrig calls the original library function with this call's arguments and returns its
// results, as if it had been called directly.
func callOrig(L *lua.LState, orig *lua.LFunction) int {
	top := L.GetTop()
	L.Insert(orig, 1)
	L.Call(top, lua.MultRet)
	return L.GetTop()
}

// need raises the memory-limit error when n bytes do not fit the run's budget.
func need(L *lua.LState, n int64, what string) {
	if err := budget.Check(L.Context(), n, what); err != nil {
		L.RaiseError("%v", err)
	}
}

func checkedRep(orig *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		s := L.CheckString(1)
		n := L.CheckInt(2)
		if n > 0 {
			need(L, budget.Mul(int64(len(s)), int64(n)), "string.rep: the string")
		}
		return callOrig(L, orig)
	}
}

func checkedConcat(orig *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		t := L.CheckTable(1)
		sep := L.OptString(2, "")
		i, j := L.OptInt(3, 1), L.OptInt(4, t.Len())
		i, j = max(i, 1), min(j, t.Len())
		var total int64
		for k := i; k <= j; k++ {
			switch v := t.RawGetInt(k).(type) {
			case lua.LString:
				total += int64(len(v))
			case lua.LNumber:
				total += 24
			}
			if k < j {
				total += int64(len(sep))
			}
			if total < 0 {
				total = -1
				break
			}
		}
		need(L, total, "table.concat: the string")
		return callOrig(L, orig)
	}
}

// checkedFormat bounds string.format's output before formatting: the format's own text,
// each directive's width and precision, and its argument's length.
func checkedFormat(orig *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		f := L.CheckString(1)
		total := int64(len(f))
		arg := 2
		for i := 0; i < len(f); i++ {
			if f[i] != '%' {
				continue
			}
			i++
			if i < len(f) && f[i] == '%' {
				continue
			}
			var width, prec int64
			for i < len(f) && (f[i] == '-' || f[i] == '+' || f[i] == ' ' || f[i] == '#' || f[i] == '0') {
				i++
			}
			width, i = digits(f, i)
			if i < len(f) && f[i] == '.' {
				prec, i = digits(f, i+1)
			}
			item := int64(330) // the longest %f of a float64, and then some
			if s, ok := L.Get(arg).(lua.LString); ok {
				item = 2*int64(len(s)) + 2 // %q may escape every byte
			}
			total += width + prec + item
			arg++
		}
		need(L, total, "string.format: the string")
		return callOrig(L, orig)
	}
}

// digits reads a decimal number at f[i:], saturating far above any real width.
func digits(f string, i int) (int64, int) {
	var n int64
	for i < len(f) && '0' <= f[i] && f[i] <= '9' {
		if n < 1<<40 {
			n = n*10 + int64(f[i]-'0')
		}
		i++
	}
	return n, i
}

// checkedRandom is math.random with Lua 5.1's argument checks: an empty interval is an
// error at the caller's line, not a panic in the runtime.
func checkedRandom(orig *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		switch L.GetTop() {
		case 0:
		case 1:
			if m := L.CheckInt(1); m < 1 {
				L.ArgError(1, "interval is empty (math.random(m) needs m >= 1, got "+strconv.Itoa(m)+")")
			}
		default:
			if m, n := L.CheckInt(1), L.CheckInt(2); m > n {
				L.ArgError(2, fmt.Sprintf("interval is empty (math.random(m, n) needs m <= n, got %d, %d)", m, n))
			}
		}
		return callOrig(L, orig)
	}
}

// create counts a new coroutine, which is uncounted when the collector frees it.
func (lim *limits) create(orig *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		lim.admit(L)
		n := callOrig(L, orig)
		lim.track(L.Get(-1))
		return n
	}
}

func (lim *limits) admit(L *lua.LState) {
	if lim.live.Load() >= maxCoroutines {
		// Coroutines that ended are only uncounted once collected: give them the chance.
		runtime.GC()
		for i := 0; i < 50 && lim.live.Load() >= maxCoroutines; i++ {
			time.Sleep(time.Millisecond)
		}
		if lim.live.Load() >= maxCoroutines {
			L.RaiseError("too many coroutines: %d are alive at once (the limit)", maxCoroutines)
		}
	}
}

func (lim *limits) track(v lua.LValue) {
	th, ok := v.(*lua.LState)
	if !ok {
		return
	}
	lim.live.Add(1)
	runtime.AddCleanup(th, func(l *limits) { l.live.Add(-1) }, lim)
}

// resume bounds how deeply coroutines resume one another: each level runs on the Go stack.
func (lim *limits) resume(orig *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		if lim.depth >= maxCoroutineDepth {
			L.RaiseError("coroutines nested too deeply: %d resumed inside one another (the limit)", maxCoroutineDepth)
		}
		lim.depth++
		defer func() { lim.depth-- }()
		return callOrig(L, orig)
	}
}

// wrap is coroutine.wrap, with the coroutine counted and the wrapper's resumes bounded.
func (lim *limits) wrap(orig *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		lim.admit(L)
		fn := L.CheckFunction(1)
		// coroutine.wrap keeps its thread in a closure: create it through create to count it.
		L.Push(orig)
		L.Push(fn)
		L.Call(1, 1)
		wrapped := L.Get(-1).(*lua.LFunction)
		L.Pop(1)
		if len(wrapped.Upvalues) > 0 {
			lim.track(wrapped.Upvalues[0].Value())
		} else {
			lim.live.Add(1) // cannot see the thread: count it for good
		}
		L.Push(L.NewFunction(func(L *lua.LState) int {
			if lim.depth >= maxCoroutineDepth {
				L.RaiseError("coroutines nested too deeply: %d resumed inside one another (the limit)", maxCoroutineDepth)
			}
			lim.depth++
			defer func() { lim.depth-- }()
			return callOrig(L, wrapped)
		}))
		return 1
	}
}
