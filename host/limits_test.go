package host_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host"
	"github.com/qscript-dev/qscript/internal/budget"
)

// TestLimitsFailTheRunWithPosition: each limit is a positioned error of the run, never a
// crash of the process that embeds the host.
func TestLimitsFailTheRunWithPosition(t *testing.T) {
	small, _, _ := newHost(t, t.TempDir(), host.Options{MaxMemory: 64 << 20})
	roomy, _, _ := newHost(t, t.TempDir(), host.Options{MaxMemory: 2 << 30}) // for the limits other than memory
	cases := []struct {
		name, src, want string
		budget          bool
	}{
		{"rep", `local s = string.rep("x", 2^40)`, "rep.lua:1: string.rep: the string needs 1 TiB, over the memory limit of 64 MiB", true},
		{"format", `local s = string.format(string.rep("%999999d", 1000), 1)`, "format.lua:1: string.format: the string needs", true},
		{"concat", "local t, s = {}, string.rep('x', 2^20)\nfor i = 1, 100 do t[i] = s end\nlocal s = table.concat(t, ',')", "concat.lua:3: table.concat: the string needs", true},
		{"gsub", `local s = string.rep("a", 1e5):gsub("a", string.rep("b", 1e4))`, "gsub.lua:1: ", true}, // gsub's own check or the watchdog, whichever sees it first
		// A doubling is refused by the check before .. (concat.go) or, when this process's
		// other tests fill the small heap first, by the watchdog: either is the budget's
		// refusal at the line. The check alone, in a process of its own: the hostile corpus's
		// concat-doubling.lua. The cases after it need more than the limit in one join, which
		// only the check can refuse.
		{"doubling", "local s = 'xxxxxxxx'\nfor i = 1, 60 do s = s .. s end", "doubling.lua:2: ", true},
		{"doubling1", `local s = "x" for i=1,64 do s = s .. s end`, "doubling1.lua:1: ", true},
		{"chain", "local s = string.rep('x', 2^24)\nlocal t = s .. s .. s .. s .. s", "chain.lua:2: the string built with .. needs 80 MiB", true},
		{"inner", "local s = string.rep('x', 2^24)\nlocal function f() return (function() return {s .. s .. s .. s .. s} end)() end\nf()", "inner.lua:2: the string built with .. needs 80 MiB", true},
		{"loaded", "local s = string.rep('x', 2^24)\nlocal f = loadstring('local s = ... return s .. s .. s .. s .. s')\nf(s)", "the string built with .. needs 80 MiB", true},
		{"zeros", `local t = require("qs").zeros({65536, 65536})`, "zeros.lua:1: qs.zeros: a tensor of shape {65536, 65536} needs 48 GiB", true},
		{"text", `error("x needs 1 GiB, over the memory limit of 64 MiB")`, "text.lua:1: x needs 1 GiB", false}, // the words without a refusal
		{"nesting", "local function f() coroutine.wrap(f)() end\nf()", "nesting.lua:1: coroutines nested too deeply", false},
		{"random", `math.random(0)`, "random.lua:1: bad argument #1 to 'random' (interval is empty", false},
		{"random2", `math.random(3, 1)`, "random2.lua:1: bad argument #2 to 'random' (interval is empty", false},
		{"deep", "local t = {}\nlocal c = t\nfor i = 1, 1000 do c[1] = {}; c = c[1] end\nreturn t", "deep.lua: return value: tables nested deeper than 200 levels", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := roomy
			if c.budget {
				h = small
			}
			_, err := h.RunString(context.Background(), c.name+".lua", c.src, nil)
			var e *host.Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), c.want) || e.Internal {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if c.budget != errors.Is(err, budget.ErrExceeded) {
				t.Errorf("errors.Is(err, budget.ErrExceeded) = %v", !c.budget)
			}
		})
	}
	// The host is still usable. (The roomy host: the watchdog reads the process's heap, in
	// which the other tests of this binary have their share.)
	if res, err := roomy.RunString(context.Background(), "ok.lua", `return ("a-b"):gsub("-", "+")`, nil); err != nil || res.Value() != "a+b" {
		t.Fatalf("after the limits: %v, %v", res.Values, err)
	}
}

// TestPanicIsInternalError: a Go panic in a module is an internal error with the recipe's
// position, and the embedding program and the host go on.
func TestPanicIsInternalError(t *testing.T) {
	h, _, _ := newHost(t, t.TempDir(), host.Options{})
	h.Register("buggy", func(L *lua.LState) int {
		L.Push(L.NewFunction(func(L *lua.LState) int {
			var m map[string]int
			m["x"] = 1 // a nil map: a bug
			return 0
		}))
		return 1
	})
	_, err := h.RunString(context.Background(), "p.lua", "local f = require 'buggy'\n\nf()", nil)
	var e *host.Error
	if !errors.As(err, &e) || !e.Internal || e.File != "p.lua" || e.Line != 3 || !strings.Contains(e.Message, "internal error") {
		t.Fatalf("err = %#v", err)
	}
	if _, err := h.RunString(context.Background(), "again.lua", "return 1", nil); err != nil {
		t.Fatal(err)
	}
}

// TestPatternsAndCompilerAreCancellable: a backtracking match and a long compile stop
// when the run's context ends.
func TestPatternsAndCompilerAreCancellable(t *testing.T) {
	for name, src := range map[string]string{
		// Each takes about a second here: long enough to be cancelled in the middle,
		// short enough that the abandoned goroutine soon ends (it cannot be stopped).
		"find":   `started() local s = string.rep("a", 18); return s:find(string.rep("a*", 8) .. "b")`,
		"gmatch": `started() local s = string.rep("a", 18); for m in s:gmatch(string.rep("a*", 8) .. "b") do end`,
		"gsub":   `started() local s = string.rep("a", 18); return s:gsub(string.rep("a*", 8) .. "b", "")`,
		"load":   `started() return loadstring(string.rep("local a = {1, 2, 3} + 4 * 5 - 6\n", 100000))`,
	} {
		t.Run(name, func(t *testing.T) {
			h, _, _ := newHost(t, t.TempDir(), host.Options{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h.Register("started", func(L *lua.LState) int { return 0 })
			src = "require 'started'\n" + strings.Replace(src, "started()", "", 1)
			go cancelSoon(cancel)
			_, err := h.RunString(ctx, name+".lua", src, nil)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want the run stopped", err)
			}
		})
	}
}

// cancelSoon cancels once the run had the time to start its long call.
func cancelSoon(cancel func()) {
	for i := 0; i < 3; i++ {
		runtimeGosched()
	}
	cancel()
}

// TestConcurrentHostsCancelledMidRun: eight hosts in one program, each stuck in a
// different way, all cancelled; every run ends with its context's error and nothing leaks
// into the others (run with -race).
func TestConcurrentHostsCancelledMidRun(t *testing.T) {
	stuck := []string{
		`while true do end`,
		`local s = string.rep("a", 18); while true do s:find(string.rep("a*", 8) .. "b") end`,
		`local t = {} local i = 0 while true do i = i + 1; t[i % 1000 + 1] = coroutine.create(function() end) end`,
		`while true do local s = string.rep("x", 1000) .. tostring(math.random()) end`,
		`local qs = require "qs" while true do local t = qs.zeros({64, 64}) end`,
		`while true do pcall(error, "x") end`,
		`while true do loadstring(string.rep("local a = 1\n", 200000)) end`,
		`local co = coroutine.wrap(function() while true do coroutine.yield(1) end end) while true do co() end`,
	}
	var wg sync.WaitGroup
	errs := make([]error, len(stuck))
	started := make(chan int, len(stuck))
	ctx, cancel := context.WithCancel(context.Background())
	for i, src := range stuck {
		h, _, _ := newHost(t, t.TempDir(), host.Options{MaxMemory: 1 << 30})
		h.Register("started", func(L *lua.LState) int { started <- i; return 0 })
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.RunString(ctx, fmt.Sprintf("stuck%d.lua", i), "require 'started'\n"+src, nil)
		}()
	}
	for range stuck {
		<-started
	}
	cancel()
	wg.Wait()
	for i, err := range errs {
		var e *host.Error
		if !errors.As(err, &e) || !errors.Is(err, context.Canceled) || e.Message != "stopped: interrupted" || e.Internal {
			t.Errorf("host %d (%s): err = %v", i, stuck[i], err)
		}
	}
}

func runtimeGosched() { runtime.Gosched() }
