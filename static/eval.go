package static

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"

	"github.com/qscript-dev/qscript/calib"
	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/report"
	"github.com/qscript-dev/qscript/tensor"
)

// EvalOptions configures Evaluate.
type EvalOptions struct {
	// Samples is how many samples to compare (0 or negative: all of them).
	Samples int
	// BatchSize is the number of samples per run (0: the source's preference, else 32).
	BatchSize int
	// Workers is the number of batches run at once (0: GOMAXPROCS).
	Workers int
}

// Evaluate runs the float and the quantized model on src and compares their first
// outputs: the SQNR of the quantized output against the float one over all samples,
// the share of samples (rows of the last axis) whose arg-max agrees, and, when src has
// targets (class labels, one per sample), both models' accuracy. Batches are compared
// in sample order, so the figures do not depend on the number of workers.
func Evaluate(ctx context.Context, float, quantized *graph.Graph, src data.Source, opts EvalOptions) (*report.Eval, error) {
	bind, err := calib.Bind(src, float.Inputs(), "evaluation data")
	if err != nil {
		return nil, err
	}
	if _, err := calib.Bind(src, quantized.Inputs(), "evaluation data"); err != nil {
		return nil, err
	}
	if len(float.Outputs()) == 0 || len(quantized.Outputs()) == 0 {
		return nil, fmt.Errorf("static: evaluate: a model has no output")
	}
	batch := opts.BatchSize
	if batch <= 0 {
		batch = data.PreferredBatchSize(src)
	}
	if fixed := bind.FixedBatch(); fixed > 0 {
		batch = fixed
	}
	if batch <= 0 {
		batch = 32
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	rd, err := src.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var acc evalAccumulator
	for {
		// Read up to `workers` batches, run them at once, then fold them in in order.
		var group []*data.Batch
		for len(group) < workers && (opts.Samples <= 0 || acc.samples+groupLen(group) < opts.Samples) {
			want := batch
			if opts.Samples > 0 {
				want = min(want, opts.Samples-acc.samples-groupLen(group))
			}
			b, err := rd.Next(want)
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			group = append(group, b)
		}
		if len(group) == 0 {
			break
		}
		results := make([]evalBatch, len(group))
		var wg sync.WaitGroup
		for i, b := range group {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = runBoth(ctx, float, quantized, bind, b)
			}()
		}
		wg.Wait()
		for _, r := range results {
			if r.err != nil {
				return nil, r.err
			}
			if err := acc.add(r); err != nil {
				return nil, err
			}
		}
	}
	if acc.samples == 0 {
		return nil, fmt.Errorf("evaluation data %q: %w", src.Name(), data.ErrEmpty)
	}
	return acc.result(), nil
}

func groupLen(g []*data.Batch) int {
	n := 0
	for _, b := range g {
		n += b.Len
	}
	return n
}

type evalBatch struct {
	floatOut, quantOut *tensor.Tensor
	target             *tensor.Tensor
	n                  int
	err                error
}

func runBoth(ctx context.Context, float, quantized *graph.Graph, bind *calib.Binding, b *data.Batch) evalBatch {
	feed, err := bind.Feed(b)
	if err != nil {
		return evalBatch{err: err}
	}
	fo, err := float.Run(ctx, feed, nil)
	if err != nil {
		return evalBatch{err: fmt.Errorf("static: float model: %w", err)}
	}
	qo, err := quantized.Run(ctx, feed, nil)
	if err != nil {
		return evalBatch{err: fmt.Errorf("static: quantized model: %w", err)}
	}
	return evalBatch{floatOut: fo[float.Outputs()[0].Name], quantOut: qo[quantized.Outputs()[0].Name], target: b.Target, n: b.Len}
}

type evalAccumulator struct {
	samples                    int
	signal, noise              float64
	rows, agree                int
	labelled, floatOK, quantOK int
}

func (a *evalAccumulator) add(r evalBatch) error {
	x, y := r.floatOut.ToF32(), r.quantOut.ToF32()
	if len(x) != len(y) || len(r.floatOut.Shape) == 0 {
		return fmt.Errorf("static: evaluate: float output %s and quantized output %s differ in shape", data.ShapeString(r.floatOut.Shape), data.ShapeString(r.quantOut.Shape))
	}
	for i := range x {
		d := float64(x[i]) - float64(y[i])
		a.signal += float64(x[i]) * float64(x[i])
		a.noise += d * d
	}
	classes := r.floatOut.Shape[len(r.floatOut.Shape)-1]
	if classes > 0 {
		rows := len(x) / classes
		labels := labelsOf(r.target, rows)
		for row := 0; row < rows; row++ {
			fa, qa := argmax(x[row*classes:(row+1)*classes]), argmax(y[row*classes:(row+1)*classes])
			a.rows++
			if fa == qa {
				a.agree++
			}
			if labels != nil {
				a.labelled++
				if int64(fa) == labels[row] {
					a.floatOK++
				}
				if int64(qa) == labels[row] {
					a.quantOK++
				}
			}
		}
	}
	a.samples += r.n
	return nil
}

// labelsOf returns one integer class per output row, or nil when the target is not a
// vector of class indices matching the rows.
func labelsOf(t *tensor.Tensor, rows int) []int64 {
	if t == nil || t.Numel() != rows || t.DType.IsFloat() && t.DType != tensor.F32 && t.DType != tensor.F64 {
		return nil
	}
	v := t.ToF64()
	out := make([]int64, len(v))
	for i, f := range v {
		if f != math.Trunc(f) {
			return nil
		}
		out[i] = int64(f)
	}
	return out
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func (a *evalAccumulator) result() *report.Eval {
	e := &report.Eval{Samples: a.samples, OutputSQNR: math.Inf(1)}
	if a.noise > 0 {
		e.OutputSQNR = 10 * math.Log10(a.signal/a.noise)
	}
	if a.rows > 0 {
		e.Top1Agreement = float64(a.agree) / float64(a.rows)
	}
	if a.labelled > 0 {
		fa, qa := float64(a.floatOK)/float64(a.labelled), float64(a.quantOK)/float64(a.labelled)
		e.FloatAccuracy, e.QuantAccuracy = &fa, &qa
	}
	return e
}
