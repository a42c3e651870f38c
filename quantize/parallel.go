package quantize

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelMinElems is the work below which loops stay on one goroutine.
const parallelMinElems = 1 << 18

// parallelFor calls fn(i) for every i in [0, n), on up to GOMAXPROCS goroutines when
// work (elements touched in all) is large enough. Workers claim indices from an atomic
// counter and each index writes only its own outputs, so no locks are needed. The error
// returned is that of the lowest failing index.
func parallelFor(n, work int, fn func(i, worker int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers < 2 || work < parallelMinElems {
		for i := 0; i < n; i++ {
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
	for w := 0; w < workers; w++ {
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

// workers is how many worker indices parallelFor may pass.
func workers() int { return max(1, runtime.GOMAXPROCS(0)) }
