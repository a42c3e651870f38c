// Command ggmlbench is qscript's side of bench/35-ggml-kernels.sh: it times
// ggml.QuantizeRows on one goroutine locked to its thread for each supported type, with and
// without an importance matrix where ggml uses one, on ROWS x COLS gaussian weights (0.02
// sigma, 1% outliers), best of REPS runs, in MB/s of float32 input per second of the
// thread's CPU time (so other processes on a shared machine do not count against it).
//
// Usage: ggmlbench [ROWS COLS REPS]; prints "qscript TYPE MBPS" lines. Run it with
// GOMAXPROCS=1 so that QuantizeRows stays on the locked thread.
package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qscript-dev/qscript/quant/ggml"
)

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		fmt.Fprintln(os.Stderr, "ggmlbench:", err)
		os.Exit(2)
	}
	return time.Duration(ts.Nano())
}

func arg(i, def int) int {
	if len(os.Args) <= i {
		return def
	}
	v, err := strconv.Atoi(os.Args[i])
	if err != nil || v < 1 {
		fmt.Fprintf(os.Stderr, "ggmlbench: bad argument %q\n", os.Args[i])
		os.Exit(2)
	}
	return v
}

func main() {
	runtime.LockOSThread()
	rows, cols, reps := arg(1, 256), arg(2, 4096), arg(3, 3)
	rng := rand.New(rand.NewPCG(7, 7))
	x := make([]float32, rows*cols)
	for i := range x {
		s := 0.02
		if rng.IntN(100) == 0 {
			s = 3
		}
		x[i] = float32(s * rng.NormFloat64())
	}
	im := make([]float32, cols)
	for i := range im {
		im[i] = float32(math.Exp(2 * rng.NormFloat64()))
	}
	types := []ggml.Type{ggml.F16, ggml.BF16, ggml.Q8_0, ggml.Q4_0, ggml.Q4_1, ggml.Q5_0, ggml.Q5_1,
		ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K}
	for _, t := range types {
		rs, err := ggml.RowSize(t, cols)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ggmlbench:", err)
			os.Exit(2)
		}
		dst := make([]byte, rows*rs)
		for _, imatrix := range [][]float32{nil, im} {
			if imatrix != nil && (t == ggml.F16 || t == ggml.BF16 || t == ggml.Q8_0) {
				continue // ggml ignores it
			}
			best := time.Duration(math.MaxInt64)
			for range reps {
				start := threadCPU()
				if err := ggml.QuantizeRows(t, dst, x, rows, cols, imatrix); err != nil {
					fmt.Fprintln(os.Stderr, "ggmlbench:", err)
					os.Exit(2)
				}
				best = min(best, threadCPU()-start)
			}
			name := t.String()
			if imatrix != nil {
				name += "/imatrix"
			}
			fmt.Printf("qscript %s %.1f\n", name, float64(4*rows*cols)/best.Seconds()/1e6)
		}
	}
}
