package graph

import (
	"bytes"
	"context"
	"runtime"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// repeatBatch stacks copies of x along its first axis, so the models' intermediate values are
// large enough to come from the arena.
func repeatBatch(x *tensor.Tensor, copies int) *tensor.Tensor {
	shape := append([]int{x.Shape[0] * copies}, x.Shape[1:]...)
	out := tensor.New(x.DType, shape...)
	for i := 0; i < copies; i++ {
		copy(out.Data[i*len(x.Data):], x.Data)
	}
	return out
}

// TestRunRecyclesMemory checks that values a Run returns (outputs and every value kept
// through Hooks.Keep) survive later Runs that recycle intermediate buffers, that repeated
// Runs agree bit for bit, and that the recycled runs still match torch.
func TestRunRecyclesMemory(t *testing.T) {
	for _, c := range loadModelCases(t) {
		in := c.g.Inputs()[0].Name
		big := repeatBatch(c.input, 8)
		var keep []string
		for _, n := range c.g.Nodes() {
			for _, o := range n.Outputs {
				if o != "" && !c.g.IsOutput(o) && len(keep) < 6 && n.Index%3 == 0 {
					keep = append(keep, o)
				}
			}
		}
		first, err := c.g.Run(context.Background(), map[string]*tensor.Tensor{in: big}, &Hooks{Keep: keep})
		if err != nil {
			t.Fatal(err)
		}
		saved := map[string][]byte{}
		for name, v := range first {
			saved[name] = append([]byte{}, v.Data...)
		}
		other := big.Contiguous()
		other = &tensor.Tensor{DType: other.DType, Shape: other.Shape, Data: bytes.Repeat([]byte{0x3f}, len(other.Data))}
		for i := 0; i < 3; i++ {
			if _, err := c.g.Run(context.Background(), map[string]*tensor.Tensor{in: other}, nil); err != nil {
				t.Fatal(err)
			}
		}
		for name, v := range first {
			if !bytes.Equal(v.Data, saved[name]) {
				t.Fatalf("%s: value %q returned by a Run changed during later Runs", c.name, name)
			}
		}
		again, err := c.g.Run(context.Background(), map[string]*tensor.Tensor{in: big}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := c.g.Outputs()[0].Name
		if !bytes.Equal(again[out].Data, saved[out]) {
			t.Fatalf("%s: a Run on recycled memory differs from the first", c.name)
		}
		per := len(c.want.Data)
		for i := 0; i < 8; i++ {
			part := &tensor.Tensor{DType: c.want.DType, Shape: c.want.Shape, Data: again[out].Data[i*per : (i+1)*per]}
			if d := maxAbsDiff(t, part, c.want); d > modelTolerance {
				t.Fatalf("%s: copy %d of the batch differs from torch by %g", c.name, i, d)
			}
		}
	}
}

// TestRunnerMatchesRun checks that a Runner, which recycles its buffers and tensor headers
// from run to run, computes what Graph.Run computes, that the values it returns stay intact
// until its next Run, and that Keep works through it.
func TestRunnerMatchesRun(t *testing.T) {
	for _, c := range loadModelCases(t) {
		in := c.g.Inputs()[0].Name
		big := repeatBatch(c.input, 8)
		other := &tensor.Tensor{DType: big.DType, Shape: big.Shape, Data: bytes.Repeat([]byte{0x3e, 0x80, 0, 0}, len(big.Data)/4)}
		var keep []string
		for _, n := range c.g.Nodes() {
			if o := n.Outputs[0]; o != "" && !c.g.IsOutput(o) && len(keep) < 3 {
				keep = append(keep, o)
			}
		}
		for _, workers := range []int{0, 1} {
			runnerMatchesRun(t, c.name, c.g, in, big, other, keep, c.g.NewRunnerWorkers(workers))
		}
	}
}

// TestRunnerSetWorkersDuringRun changes a Runner's worker count from another goroutine while
// it runs (calibration lends an idle worker's cores this way): each op then splits over
// one or several goroutines, and the results must still be Graph.Run's, bit for bit.
func TestRunnerSetWorkersDuringRun(t *testing.T) {
	for _, c := range loadModelCases(t) {
		r := c.g.NewRunnerWorkers(1)
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r.SetWorkers(1 + i%3)
				runtime.Gosched()
			}
		}()
		in := c.g.Inputs()[0].Name
		big := repeatBatch(c.input, 8)
		runnerMatchesRun(t, c.name, c.g, in, big, big, nil, r)
		close(stop)
		<-done
	}
}

// runnerMatchesRun runs r and Graph.Run on big and other in turn and compares their
// results, bit for bit: a serial Runner splits no op, and no split changes any element's
// arithmetic.
func runnerMatchesRun(t *testing.T, model string, g *Graph, in string, big, other *tensor.Tensor, keep []string, r *Runner) {
	t.Helper()
	var last map[string][]byte
	var lastOut map[string]*tensor.Tensor
	for i := 0; i < 6; i++ {
		x := big
		if i%2 == 1 {
			x = other
		}
		want, err := g.Run(context.Background(), map[string]*tensor.Tensor{in: x}, &Hooks{Keep: keep})
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range lastOut {
			if !bytes.Equal(v.Data, last[name]) {
				t.Fatalf("%s run %d: value %q the Runner returned changed before its next Run", model, i, name)
			}
		}
		got, err := r.Run(context.Background(), map[string]*tensor.Tensor{in: x}, &Hooks{Keep: keep})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s run %d: Runner returned %d values, Graph.Run %d", model, i, len(got), len(want))
		}
		last, lastOut = map[string][]byte{}, got
		for name, w := range want {
			g := got[name]
			if g == nil || !bytes.Equal(g.Data, w.Data) || !slices.Equal(g.Shape, w.Shape) {
				t.Fatalf("%s run %d: Runner's %q differs from Graph.Run's", model, i, name)
			}
			last[name] = append([]byte{}, g.Data...)
		}
	}
}

// TestRunnerTakesItsResultsBack feeds each Runner result back as the next Run's input, as
// Runner.Run allows: the buffers of the previous results (an output that is a view of an
// intermediate value, and a kept value) must stay untouched until the new Run has read
// them. A failed Run must leave the Runner usable.
func TestRunnerTakesItsResultsBack(t *testing.T) {
	// y = Flatten(-(x*x)), a view of the Neg output; m = x*x is kept. x is read again after
	// two Transposes have allocated, so a buffer of x recycled too early shows.
	g, err := Load(model(13,
		node("Transpose", "t", []string{"x"}, []string{"t"}),
		node("Transpose", "u", []string{"t"}, []string{"u"}),
		node("Mul", "square", []string{"u", "x"}, []string{"m"}),
		node("Neg", "negate", []string{"m"}, []string{"n"}),
		node("Flatten", "flatten", []string{"n"}, []string{"y"}),
	), Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.FromF32([]int{2, 3}, []float32{0.5, -1, 1.5, 2, -0.25, 1})
	for _, workers := range []int{0, 1} {
		r := g.NewRunnerWorkers(workers)
		in := x
		want := x.ToF64()
		for run := 0; run < 4; run++ {
			if run == 2 {
				if _, err := r.Run(context.Background(), map[string]*tensor.Tensor{"x": tensor.New(tensor.F32, 3, 2)}, nil); err == nil {
					t.Fatal("a wrongly shaped input was accepted")
				}
			}
			out, err := r.Run(context.Background(), map[string]*tensor.Tensor{"x": in}, &Hooks{Keep: []string{"m"}})
			if err != nil {
				t.Fatal(err)
			}
			squares := make([]float64, len(want))
			for i, v := range want {
				squares[i] = float64(float32(v) * float32(v))
				want[i] = -squares[i]
			}
			for name, w := range map[string][]float64{"y": want, "m": squares} {
				got := out[name].ToF64()
				for i := range w {
					if got[i] != w[i] {
						t.Fatalf("workers %d, run %d: %s = %v, want %v", workers, run, name, got, w)
					}
				}
			}
			in = out["y"]
		}
	}
}
