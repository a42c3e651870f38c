package host

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/internal/budget"
)

// memoryLimit is the run's budget in bytes: Options.MaxMemory, the default when 0, none
// when negative.
func (h *Host) memoryLimit() int64 {
	switch {
	case h.opts.MaxMemory < 0:
		return 0
	case h.opts.MaxMemory == 0:
		return budget.Default()
	}
	return h.opts.MaxMemory
}

// watchInterval is how often the memory watchdog looks at the heap.
const watchInterval = 10 * time.Millisecond

// watchMemory returns a context that carries the run's memory limit and is cancelled,
// with a *budget.Error as its cause, when the live heap grows over it: the backstop for
// what no check can plan (many small strings, tables grown in a loop). The VM stops at
// its next instruction. stop ends the watchdog.
func watchMemory(ctx context.Context, limit int64) (context.Context, func()) {
	ctx = budget.WithLimit(ctx, limit)
	if limit <= 0 {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	// Garbage can take the heap to twice the live heap (GOGC=100) unless the process has a
	// soft memory limit near ours, as the CLI sets: only a heap beyond what garbage
	// explains is stopped at once.
	overshoot := 2*limit + limit/8
	if soft := debug.SetMemoryLimit(-1); soft <= limit+limit/4+limit/16 {
		overshoot = limit + limit/2
	}
	go func() {
		t := time.NewTicker(watchInterval)
		defer t.Stop()
		var lastGC time.Time
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			heap := budget.Heap()
			if heap <= limit {
				continue
			}
			// The heap counts garbage too, so the live heap after a collection is what
			// counts; but a heap far over the limit stops the run before the collector has
			// caught up (a string doubled by .. grows faster than it collects).
			if live := budget.Live(); live > limit || heap > overshoot {
				cancel(&budget.Error{What: "the recipe", Need: max(live, heap), Limit: limit, Live: max(live, heap)})
				return
			}
			if time.Since(lastGC) > time.Second {
				runtime.GC()
				lastGC = time.Now()
			}
		}
	}()
	return ctx, func() {
		close(done)
		cancel(nil)
	}
}

// internalError turns a panic that escaped the Lua VM into an *Error: the message, the
// recipe's position when the Lua stack still shows it, and the Go stack in Traceback.
func internalError(p any, L *lua.LState, chunks map[string]*chunk) *Error {
	e := &Error{Internal: true, Message: fmt.Sprintf("internal error: %v", p), Traceback: string(debug.Stack())}
	if L != nil {
		e.File, e.Line = luaPosition(L, chunks)
	}
	return e
}

// luaPosition is the innermost frame of L's stack that belongs to a file of this run.
func luaPosition(L *lua.LState, chunks map[string]*chunk) (file string, line int) {
	defer func() { _ = recover() }() // a state broken by the panic has no position to give
	for level := 0; level < callStackSize; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			continue
		}
		if _, ok := chunks[dbg.Source]; ok && dbg.CurrentLine > 0 {
			return dbg.Source, dbg.CurrentLine
		}
	}
	return "", 0
}
