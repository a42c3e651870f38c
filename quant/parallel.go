package quant

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelMinBytes is the input size below which kernels stay on one goroutine: starting
// workers costs a few microseconds, about what 1 MB of quantizing takes.
const parallelMinBytes = 1 << 20

// parallelFor calls fn over [0, n) cut into contiguous, disjoint chunks. Above
// parallelMinBytes of input, up to GOMAXPROCS workers claim chunks from an atomic counter
// (eight chunks per worker, so a worker slowed by a busy core does not hold up the
// others); each chunk writes only its own outputs, so no locks are needed. The error
// returned is the one of the lowest chunk that failed, which is the first failure in
// index order.
func parallelFor(n, inputBytes int, fn func(lo, hi int) error) error {
	workers := runtime.GOMAXPROCS(0)
	if n <= 1 || workers < 2 || inputBytes < parallelMinBytes {
		return fn(0, n)
	}
	chunks := min(n, 8*workers)
	workers = min(workers, chunks)
	errs := make([]error, chunks)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				errs[c] = fn(n*c/chunks, n*(c+1)/chunks)
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

// ParallelFor is parallelFor for the row kernels of other packages (quant/ggml): fn runs
// over disjoint chunks of [0, n), on up to GOMAXPROCS goroutines once inputBytes reaches
// 1 MB. Callers whose work per byte is heavier scale inputBytes up accordingly.
func ParallelFor(n, inputBytes int, fn func(lo, hi int) error) error {
	return parallelFor(n, inputBytes, fn)
}
