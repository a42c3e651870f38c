package parallel

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// TestForRunsEveryIndexOnce checks, above and below MinBytes and with one and four
// workers, that every index runs exactly once with a worker index in range (under -race it
// also proves the indices run without locks).
func TestForRunsEveryIndexOnce(t *testing.T) {
	for _, procs := range []int{1, 4} {
		prev := runtime.GOMAXPROCS(procs)
		for _, bytes := range []int{0, MinBytes} {
			runs := make([]atomic.Int32, 1000)
			err := For(len(runs), bytes, func(i, w int) error {
				if w < 0 || w >= Workers() {
					return fmt.Errorf("worker %d of %d", w, Workers())
				}
				runs[i].Add(1)
				return nil
			})
			for i := range runs {
				if runs[i].Load() != 1 {
					t.Fatalf("procs %d, bytes %d: index %d ran %d times", procs, bytes, i, runs[i].Load())
				}
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		runtime.GOMAXPROCS(prev)
	}
}

// TestForReturnsLowestFailure: with several workers, the error is the lowest failing
// index's, whichever finished first.
func TestForReturnsLowestFailure(t *testing.T) {
	prev := runtime.GOMAXPROCS(4)
	defer runtime.GOMAXPROCS(prev)
	for range 50 {
		err := For(200, MinBytes, func(i, _ int) error {
			if i == 37 || i == 150 {
				return fmt.Errorf("index %d", i)
			}
			return nil
		})
		if err == nil || err.Error() != "index 37" {
			t.Fatalf("error %v, want index 37", err)
		}
	}
}

// TestRangesCoverOnce checks that the ranges are disjoint and cover [0, n), serial and
// parallel, and that the first failing range's error is returned.
func TestRangesCoverOnce(t *testing.T) {
	prev := runtime.GOMAXPROCS(4)
	defer runtime.GOMAXPROCS(prev)
	for _, n := range []int{0, 1, 7, 33, 1000} {
		for _, bytes := range []int{0, MinBytes} {
			hits := make([]atomic.Int32, n)
			calls := atomic.Int32{}
			_ = Ranges(n, bytes, func(lo, hi int) error {
				calls.Add(1)
				for i := lo; i < hi; i++ {
					hits[i].Add(1)
				}
				return nil
			})
			for i := range hits {
				if hits[i].Load() != 1 {
					t.Fatalf("n %d, bytes %d: element %d covered %d times", n, bytes, i, hits[i].Load())
				}
			}
			if bytes == 0 && calls.Load() != 1 {
				t.Fatalf("n %d: %d calls below MinBytes, want 1", n, calls.Load())
			}
		}
	}
	errLate, errEarly := errors.New("late"), errors.New("early")
	err := Ranges(1000, MinBytes, func(lo, hi int) error {
		switch {
		case lo <= 900 && 900 < hi:
			return errLate
		case lo <= 100 && 100 < hi:
			return errEarly
		}
		return nil
	})
	if err != errEarly {
		t.Fatalf("error %v, want %v", err, errEarly)
	}
}

// TestSplitCoversEveryIndexOnce: the ranges of Split are disjoint, cover [0, n) and number
// at most workers.
func TestSplitCoversEveryIndexOnce(t *testing.T) {
	for _, c := range [][2]int{{0, 4}, {1, 4}, {7, 1}, {7, 3}, {3, 7}, {100, 8}} {
		n, workers := c[0], c[1]
		seen := make([]atomic.Int32, n)
		var ranges atomic.Int32
		Split(n, workers, func(lo, hi int) {
			ranges.Add(1)
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
		})
		for i := range seen {
			if seen[i].Load() != 1 {
				t.Fatalf("n=%d workers=%d: index %d ran %d times", n, workers, i, seen[i].Load())
			}
		}
		if r := int(ranges.Load()); r > max(workers, 1) {
			t.Fatalf("n=%d workers=%d: %d ranges", n, workers, r)
		}
	}
}
