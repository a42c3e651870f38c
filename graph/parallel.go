package graph

import (
	"runtime"

	"github.com/qscript-dev/qscript/internal/parallel"
)

// The executor's parallel-for follows internal/parallel's policy (disjoint contiguous
// pieces, at most GOMAXPROCS goroutines, serial below a work threshold) but is its own:
// a Run that executes serially must allocate nothing, which a shared helper taking a
// closure cannot promise (see forRange).

// parallelWorkLimit is the amount of work (roughly inner-loop iterations) below which an op
// runs on one goroutine.
const parallelWorkLimit = 1 << 15

// maxWorkers is the number of goroutines one kernel of the Run may use: the Runner's worker
// count (NewRunnerWorkers), at most GOMAXPROCS.
func (a *arena) maxWorkers() int {
	procs := runtime.GOMAXPROCS(0)
	if w := a.workerSetting(); w > 0 {
		return min(w, procs)
	}
	return procs
}

// workerSetting is the Runner's worker count as set (0: GOMAXPROCS).
func (a *arena) workerSetting() int {
	if a == nil || a.workers == nil {
		return 0
	}
	return int(a.workers.Load())
}

// workersFor is the number of goroutines to split n items of the given total work over
// (roughly inner-loop iterations): one below parallelWorkLimit.
func (a *arena) workersFor(n, work int) int {
	if work < parallelWorkLimit {
		return 1
	}
	return max(1, min(a.maxWorkers(), n))
}

// forRange calls body(args, lo, hi) over [0, n), split into contiguous ranges over the
// workers workersFor(n, work) allows; each range is disjoint, so workers write disjoint
// outputs. A kernel passes its state in args and a body that captures nothing, rather than
// a closure: a closure handed to goroutines escapes to the heap even when the work then runs
// on the calling goroutine, and a Runner that runs every op serially (calibration's) must
// make no garbage per Run.
func forRange[A any](mem *arena, n, work int, args A, body func(args A, lo, hi int)) {
	runRange(mem.workersFor(n, work), n, args, body)
}

// runRange is forRange with the worker count given: workers <= 1 runs body(args, 0, n) on
// the calling goroutine without allocating.
func runRange[A any](workers, n int, args A, body func(args A, lo, hi int)) {
	if min(workers, n) <= 1 {
		body(args, 0, n)
		return
	}
	shared := new(A) // on the heap only here: args itself is never captured
	*shared = args
	parallel.Split(n, workers, func(lo, hi int) { body(*shared, lo, hi) })
}
