package graph

import (
	"runtime"
	"sync"
)

// parallelWorkLimit is the amount of work (roughly inner-loop iterations) below which an op
// runs on one goroutine.
const parallelWorkLimit = 1 << 15

// parallelFor splits [0, n) into contiguous ranges, one per worker (at most GOMAXPROCS), when
// work is large enough; each range is disjoint, so workers write disjoint outputs.
func parallelFor(n, work int, body func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 || work < parallelWorkLimit {
		body(0, n)
		return
	}
	parallelRange(n, workers, body)
}

// parallelRange splits [0, n) into at most workers contiguous ranges run on their own
// goroutines (the calling one does the first); workers <= 1 runs body(0, n) directly.
func parallelRange(n, workers int, body func(lo, hi int)) {
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
