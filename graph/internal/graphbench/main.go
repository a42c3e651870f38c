// Command graphbench measures graph.Run throughput on one model for bench/30-graph.sh:
//
//	graphbench -model model.onnx -batch 32 -iters 20 [-parallel 2] [-ops]
//
// It feeds a deterministic input of shape [batch, rest of the model's input shape] and prints
// {"samples_per_s": ...} after one warm-up run. -parallel runs that many Graph.Runs at once on
// the same *graph.Graph.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime/pprof"
	"sort"
	"sync"
	"time"

	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/tensor"
)

func main() {
	path := flag.String("model", "", "ONNX model")
	batch := flag.Int("batch", 1, "batch size")
	iters := flag.Int("iters", 20, "runs per worker")
	parallel := flag.Int("parallel", 1, "concurrent runs")
	profile := flag.String("cpuprofile", "", "write a CPU profile here")
	perOp := flag.Bool("ops", false, "print the time spent per op type (one worker) to stderr")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(*path, *batch, *iters, *parallel, *perOp); err != nil {
		fmt.Fprintln(os.Stderr, "graphbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(path string, batch, iters, parallel int, perOp bool) error {
	g, err := graph.LoadFile(path)
	if err != nil {
		return err
	}
	in := g.Inputs()[0]
	shape := append([]int{batch}, in.Shape[1:]...)
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("input %q has a dynamic dim besides the batch: %v", in.Name, in.Shape)
		}
	}
	x := tensor.New(tensor.F32, shape...)
	for i := range x.F32() {
		x.F32()[i] = float32(math.Sin(float64(i) * 0.37))
	}
	inputs := map[string]*tensor.Tensor{in.Name: x}
	if _, err := g.Run(context.Background(), inputs, nil); err != nil {
		return err
	}
	if perOp {
		return printOpTimes(g, inputs, iters)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, parallel)
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < iters && errs[w] == nil; i++ {
				_, errs[w] = g.Run(context.Background(), inputs, nil)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	s := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]float64{"samples_per_s": float64(batch*iters*parallel) / s})
}

// printOpTimes runs the graph iters times on one goroutine and prints the wall time spent in
// each op type (the time between consecutive AfterNode hooks), largest first.
func printOpTimes(g *graph.Graph, inputs map[string]*tensor.Tensor, iters int) error {
	spent := map[string]time.Duration{}
	var last time.Time
	hooks := &graph.Hooks{AfterNode: func(n *graph.Node, _, _ []*tensor.Tensor) error {
		now := time.Now()
		spent[n.OpType] += now.Sub(last)
		last = now
		return nil
	}}
	var total time.Duration
	for i := 0; i < iters; i++ {
		last = time.Now()
		start := last
		if _, err := g.Run(context.Background(), inputs, hooks); err != nil {
			return err
		}
		total += time.Since(start)
	}
	ops := make([]string, 0, len(spent))
	for op := range spent {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool { return spent[ops[i]] > spent[ops[j]] })
	for _, op := range ops {
		fmt.Fprintf(os.Stderr, "%-20s %9.1f us/run %5.1f%%\n", op, float64(spent[op].Microseconds())/float64(iters), 100*float64(spent[op])/float64(total))
	}
	fmt.Fprintf(os.Stderr, "%-20s %9.1f us/run\n", "total", float64(total.Microseconds())/float64(iters))
	return nil
}
