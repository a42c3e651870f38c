package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// MinBytes is the input size below which work stays on the calling goroutine: starting
// workers costs a few microseconds, about what 1 MB of quantizing takes.
const MinBytes = 1 << 20

// Workers is how many goroutines For may use, and so the bound of the worker index it
// passes: GOMAXPROCS.
func Workers() int { return max(1, runtime.GOMAXPROCS(0)) }

// For calls fn(i, worker) for every i in [0, n). When inputBytes reaches MinBytes, up to
// Workers() goroutines claim indices in order from an atomic counter (so one slowed by a
// busy core does not hold up the others) and worker tells fn which one runs it, for
// per-worker scratch; below it, everything runs on the calling goroutine as worker 0.
// Each index must write only its own outputs, so no locks are needed. After a failure no
// further index is claimed; every lower index was claimed before it and runs to its end,
// so the error returned, that of the lowest failing index, is the serial loop's.
func For(n, inputBytes int, fn func(i, worker int) error) error {
	workers := min(Workers(), n)
	if workers < 2 || inputBytes < MinBytes {
		for i := range n {
			if err := fn(i, 0); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, n)
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if errs[i] = fn(i, w); errs[i] != nil {
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Ranges calls fn over [0, n) cut into contiguous, disjoint ranges, as For runs indices:
// one call fn(0, n) below MinBytes or with one core, else eight ranges per worker.
// Kernels whose work per input byte is heavier scale inputBytes up accordingly.
func Ranges(n, inputBytes int, fn func(lo, hi int) error) error {
	workers := Workers()
	if n <= 1 || workers < 2 || inputBytes < MinBytes {
		return fn(0, n)
	}
	chunks := min(n, 8*workers)
	return For(chunks, inputBytes, func(c, _ int) error {
		return fn(n*c/chunks, n*(c+1)/chunks)
	})
}

// Split runs body over [0, n) cut into at most workers contiguous, disjoint ranges, each on
// its own goroutine (the calling one does the first), for callers that choose their worker
// count (graph's kernels, by the Run's; sgemm's packing); workers <= 1 runs body(0, n)
// directly. body escapes to the heap: graph's serial Runs avoid calling it (graph.runRange).
func Split(n, workers int, body func(lo, hi int)) {
	workers = min(workers, n)
	if workers <= 1 {
		body(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			body(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	body(0, min(chunk, n))
	wg.Wait()
}
