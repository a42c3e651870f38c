// Command calibration times qscript's calibration (graph/ forward passes feeding the
// observers) of an ONNX model on an .npy data set, for bench/50-calibration.sh, and
// prints one JSON line with the samples run, samples/s (load excluded) and the peak live
// heap: the largest heap that survived a garbage collection during the run (runtime/metrics
// "/gc/heap/live:bytes", sampled every millisecond), which is the working set the process
// really needs (and a SHA-256 of the activations' ranges, qparams and histograms, to check
// that a speed-up changed no result); RSS adds the garbage Go's collector lets accumulate (up to GOGC=100% of the
// live heap) between collections.
//
//	calibration -model m.onnx -calib data.npy [-samples N] [-observer histogram] [-batch 32]
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/graph"
)

func main() {
	model := flag.String("model", "", "float .onnx model")
	calibPath := flag.String("calib", "", "calibration .npy")
	samples := flag.Int("samples", -1, "samples to run (-1: all)")
	observer := flag.String("observer", "histogram", "activation observer")
	batch := flag.Int("batch", 0, "batch size (0: calib.DefaultBatchSize)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the run here")
	flag.Parse()
	if *profile != "" {
		pf, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "calibration:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			fmt.Fprintln(os.Stderr, "calibration:", err)
			os.Exit(1)
		}
	}
	err := run(*model, *calibPath, *samples, *observer, *batch)
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "calibration:", err)
		os.Exit(1)
	}
}

func run(model, calibPath string, samples int, observer string, batch int) error {
	g, err := graph.LoadFile(model)
	if err != nil {
		return err
	}
	src, err := data.NPY(calibPath)
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	peak := make(chan uint64)
	go samplePeakLive(stop, peak)
	start := time.Now()
	res, err := calib.Calibrate(context.Background(), g, src, calib.Options{Samples: samples, Observer: observer, BatchSize: batch})
	if err != nil {
		return err
	}
	sec := time.Since(start).Seconds()
	close(stop)
	live := <-peak
	acts, err := json.Marshal(res.Activations)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(acts)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, _ := json.Marshal(map[string]any{"peak_live_heap_bytes": live, "samples": res.Samples, "seconds": sec, "samples_per_s": float64(res.Samples) / sec,
		"batch": res.BatchSize, "activations": len(res.Activations), "gc_cycles": ms.NumGC, "heap_sys_bytes": ms.HeapSys,
		"heap_inuse_bytes": ms.HeapInuse, "stack_sys_bytes": ms.StackSys, "other_sys_bytes": ms.MSpanSys + ms.MCacheSys + ms.BuckHashSys + ms.GCSys + ms.OtherSys,
		"threads": threads(), "result_sha256": hex.EncodeToString(sum[:])})
	fmt.Println(string(b))
	return nil
}

// threads returns the process's OS threads (Linux), or -1.
func threads() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err == nil {
				return n
			}
		}
	}
	return -1
}

func samplePeakLive(stop <-chan struct{}, peak chan<- uint64) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var best uint64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		metrics.Read(sample)
		best = max(best, sample[0].Value.Uint64())
		select {
		case <-stop:
			metrics.Read(sample)
			peak <- max(best, sample[0].Value.Uint64())
			return
		case <-tick.C:
		}
	}
}
