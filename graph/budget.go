package graph

import (
	"github.com/qscript-dev/qscript/internal/budget"
)

// budgetCheckMin is the smallest buffer checked against the run's memory budget: below it
// the check would cost more than it protects.
const budgetCheckMin = 16 << 20

// budgetPanic carries a refused allocation out of a kernel; safeRun turns it into the
// node's error.
type budgetPanic struct{ err error }

// reserveBudget refuses a fresh buffer of n bytes that does not fit the memory budget of
// the run in progress (the context of Run, see budget.WithLimit): a broadcast or a MatMul
// whose output is gigabytes per sample fails with the node's name instead of taking the
// process down. Kernels allocate through the arena, so this sees every intermediate
// before it exists. Runners of parallel workers reserve from one budget; the caller
// releases the reservation once the buffer is allocated.
func (a *arena) reserveBudget(n int) (release func()) {
	if n < budgetCheckMin || a.ctx == nil {
		return func() {}
	}
	release, err := budget.Reserve(a.ctx, int64(n), "an intermediate value")
	if err != nil {
		panic(budgetPanic{err})
	}
	return release
}

// budgetError returns the error a budgetPanic carries, if r is one.
func budgetError(r any) (error, bool) {
	bp, ok := r.(budgetPanic)
	return bp.err, ok
}
