package calib

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/internal/budget"
	"github.com/qscript-dev/qscript/internal/parallel"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// Calibrate runs up to opts.Samples samples of src through g and returns the range and
// qparams of every target activation. The graph was checked when it was loaded (an
// unsupported op is a graph.Load error, before any calibration); Calibrate checks the
// data against the model's inputs before running anything.
func Calibrate(ctx context.Context, g *graph.Graph, src data.Source, opts Options) (*Result, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	targets := o.Targets
	if targets == nil {
		targets = DefaultTargets(g)
	}
	if len(targets) == 0 {
		return nil, errors.New("calib: the model has no activation to calibrate (no Conv, Gemm or MatMul reads one)")
	}
	if err := checkTargets(g, targets); err != nil {
		return nil, err
	}
	var zeros []string
	for _, s := range o.State {
		if err := checkState(g, s); err != nil {
			return nil, err
		}
		zeros = append(zeros, s.Into)
	}
	bind, err := BindWith(src, g.Inputs(), "calibration data", BindOptions{BatchAxes: o.BatchAxes, Zeros: zeros})
	if err != nil {
		return nil, err
	}
	workers := o.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// The run's own memory limit (qscript --max-memory) bounds the calibration's budget too.
	if lim := budget.Limit(ctx); lim > 0 && lim < o.MaxMemory {
		o.MaxMemory = lim
	}
	index := make(map[string]int, len(targets))
	for i, t := range targets {
		index[t] = i
	}
	atInput, inSub := captureSites(g, index)
	batch := batchSize(o, src, bind)
	var budgetNote string
	if batch == 0 {
		if batch, budgetNote, err = budgetBatch(ctx, g, src, bind, copied(targets, inSub), o, workers); err != nil {
			return nil, err
		}
	}
	total := src.Len()
	if o.Samples > 0 && (total < 0 || total > o.Samples) {
		total = o.Samples
	}

	obs := make([]*targetObserver, len(targets))
	for i, t := range targets {
		if obs[i], err = newTargetObserver(t, o); err != nil {
			return nil, err
		}
	}
	c := &calibration{g: g, src: src, bind: bind, opts: o, targets: targets, obs: obs, batch: batch, workers: workers,
		index: index, atInput: atInput, inSub: inSub, maxJobs: workers + 2, idle: make(chan *job, workers+2),
		observeErrs: make([]error, len(targets)), turns: newTurns(len(targets))}
	c.subNodes = subgraphQuantizable(g)
	bar := newProgress(o.Progress, o.ProgressMode, total)
	c.onBatch = bar.update
	samples, err := c.run(ctx)
	bar.finish(err == nil)
	if err != nil {
		return nil, err
	}
	if samples == 0 {
		return nil, fmt.Errorf("calibration data %q: %w", src.Name(), data.ErrEmpty)
	}

	return c.result(samples, budgetNote)
}

// result gathers the observers' ranges and the run's warnings.
func (c *calibration) result(samples int, budgetNote string) (*Result, error) {
	o, src := c.opts, c.src
	res := &Result{Observer: o.Observer, Scheme: o.Scheme, Samples: samples, Asked: o.Samples,
		BatchSize: c.batch, Source: src.Name(), index: make(map[string]int, len(c.targets))}
	if budgetNote != "" {
		res.warn(o, budgetNote)
	}
	if o.Samples > 0 && samples < o.Samples {
		res.warn(o, fmt.Sprintf("calibration used %d samples, fewer than the %d asked for: data %q has only %d", samples, o.Samples, src.Name(), samples))
	}
	cons := consumers(c.g, c.targets)
	if res.NeverRan = c.neverRan(); len(res.NeverRan) > 0 {
		res.warn(o, fmt.Sprintf("nodes that never ran during calibration (an If branch no sample took) stay float: %s", strings.Join(res.NeverRan, ", ")))
	}
	// Each observer's final search (the histogram's, entropy's, MSE's) is its own: they run
	// over the cores, then the ranges are gathered in target order.
	acts := make([]Activation, len(c.obs))
	err := parallel.For(len(c.obs), parallel.MinBytes, func(i, _ int) error {
		var err error
		if ob := c.obs[i]; ob.count > 0 || !c.inSub[i] {
			acts[i], err = ob.finish()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, ob := range c.obs {
		if ob.count == 0 && c.inSub[i] {
			// Only a subgraph's values can be missing: an If branch no sample took.
			res.NotRun = append(res.NotRun, ob.name)
			continue
		}
		a := acts[i]
		a.Consumers = cons[a.Name]
		res.index[a.Name] = len(res.Activations)
		res.Activations = append(res.Activations, a)
	}
	return res, nil
}

// warn records msg in the result and passes it to the caller's Warn.
func (r *Result) warn(o Options, msg string) {
	r.Warnings = append(r.Warnings, msg)
	if o.Warn != nil {
		o.Warn(msg)
	}
}

// batchSize picks the batch: the model's fixed one, else the option or the source's
// preference, never more than the samples asked for; 0 when the memory budget decides.
func batchSize(o Options, src data.Source, bind *Binding) int {
	if b := bind.FixedBatch(); b > 0 {
		return b
	}
	b := o.BatchSize
	if b == 0 {
		b = data.PreferredBatchSize(src)
	}
	if b == 0 {
		return 0
	}
	if o.Samples > 0 && o.Samples < b {
		b = o.Samples
	}
	return b
}

// calibration is one Calibrate call's pipeline:
//
//	reader (this goroutine's producer) → workers (graph runs, in parallel) → consumer (in order)
//
// The producer hands each batch to the workers and, in the same order, to the
// consumer's queue; the consumer waits for each batch in turn. The queue holds at most
// `workers` batches, so at most workers+2 batches are alive at once.
//
// The observers see the batches in sample order (a histogram's result depends on it).
// An activation of the main graph is observed by the worker that computed it, in the
// run's AfterNode hook, while the value is still the run's (no copy, and often still in
// the cache): each target has a turn, and a worker waits until the batch before its own
// has been observed for that target. The oldest batch in flight never waits, so the
// workers cannot deadlock; in steady state they trail each other by a few nodes. The
// targets of If and Loop subgraphs, which a run may compute any number of times, are
// copied instead and observed by the consumer.
//
// Nothing is allocated per batch in steady state, so that a long calibration makes no
// garbage for the collector to let pile up (the heap of a 10,000-sample run then stays
// that of a 150-sample one). A batch travels in a job, and the workers+2 jobs circulate:
// each holds the batch (handed back to the reader, when it recycles batches, once the
// consumer is done with it), the model's feed map and the target activations. Workers
// copy the activations out of the run as each node finishes, into the job's buffers,
// rather than asking Run to keep them; each worker runs the graph through its own
// graph.Runner, which reuses its buffers from batch to batch.
type calibration struct {
	g       *graph.Graph
	src     data.Source
	bind    *Binding
	opts    Options
	targets []string
	index   map[string]int // target → position in targets
	// atInput lists, for the nodes that read a subgraph's formal input which is a target,
	// the inputs to copy (no node writes those values); inSub marks the targets of
	// subgraphs, which a run may never compute.
	atInput map[*graph.Node][]inputSite
	inSub   []bool
	// subNodes numbers the quantizable nodes of subgraphs; each worker marks those that ran.
	subNodes map[*graph.Node]int
	runners  []*worker
	// running lists the workers that may still get a batch (nil: all of them); retire
	// removes one when the batches run out.
	running   []*worker
	runningMu sync.Mutex
	obs       []*targetObserver
	turns     []turn // by target: whose batch the observer takes next (main-graph targets)
	batch     int
	workers   int
	onBatch   func(samples int)

	maxJobs int
	made    int       // jobs made so far (producer only)
	seq     int64     // batches handed out so far (producer only)
	idle    chan *job // jobs the consumer is done with

	// The consumer's state for observing one batch's activations in parallel.
	observeActs [][]*tensor.Tensor
	observeErrs []error
	observeNext atomic.Int64
	observeWG   sync.WaitGroup
	observeGo   chan struct{} // one token per helper to wake for a batch
}

// job is one batch on its way through the pipeline, and the memory reused for the next.
type job struct {
	batch *data.Batch
	feed  map[string]*tensor.Tensor
	n     int
	seq   int64 // the batch's position in sample order
	// acts holds per target the batch's activations: one value, or one per execution of
	// the subgraph computing it (every Loop iteration); none when its If branch did not run.
	acts     [][]*tensor.Tensor
	bufs     [][]*tensor.Tensor // the buffers copied activations live in, kept for the next batch
	observed []bool             // by target: observed during the run (main-graph targets)
	err      error
	done     chan struct{} // buffered: the worker never blocks on it
}

func (c *calibration) run(ctx context.Context) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rd, err := c.src.Open(ctx)
	if err != nil {
		return 0, err
	}
	defer rd.Close()

	work := make(chan *job)
	queue := make(chan *job, c.workers)
	stopTurns := context.AfterFunc(ctx, c.wakeTurns)
	defer stopTurns()
	var wg sync.WaitGroup
	for range c.workers {
		w := &worker{c: c, ctx: ctx, runner: c.g.NewRunner(), ran: make([]bool, len(c.subNodes))}
		c.runners = append(c.runners, w)
		w.hooks.AfterNode, w.hooks.Watch = w.copyTargets, c.isTarget
	}
	c.lendCores(c.runners)
	for _, w := range c.runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				j.err = w.forward(ctx, j)
				j.done <- struct{}{}
			}
			c.retire(w)
		}()
	}
	c.observeGo = make(chan struct{}, c.workers)
	defer close(c.observeGo)
	for range c.workers - 1 {
		go c.observeHelper()
	}
	var produceErr error
	go func() {
		defer close(queue)
		defer close(work)
		produceErr = c.produce(ctx, rd, work, queue)
	}()

	samples, consumeErr := c.consume(queue)
	if consumeErr != nil {
		cancel()
		for j := range queue { // let the producer and workers finish
			<-j.done
		}
	}
	wg.Wait()
	if consumeErr != nil {
		return 0, consumeErr
	}
	if produceErr != nil {
		return 0, produceErr
	}
	return samples, ctx.Err()
}

// lendCores shares the cores among the workers still running batches: while every worker
// has batches, each Runner runs its ops on its own goroutine (the workers already keep the
// cores busy, and splitting each op again would only add goroutines, and their garbage, to
// every batch); once a worker has no batch left (the last batches of a calibration), its
// cores go to the Runners still running, whose kernels then split their ops over them. The
// results are the same whatever the split (graph.Runner.SetWorkers).
func (c *calibration) lendCores(running []*worker) {
	if len(running) == 0 {
		return
	}
	procs := runtime.GOMAXPROCS(0)
	share, extra := procs/len(running), procs%len(running)
	for i, w := range running {
		n := max(1, share)
		if i < extra {
			n++
		}
		w.runner.SetWorkers(n)
	}
}

// retire takes w, which has no batch left to run, out of the running workers and lends its
// cores to the others.
func (c *calibration) retire(w *worker) {
	c.runningMu.Lock()
	defer c.runningMu.Unlock()
	if c.running == nil {
		c.running = slices.Clone(c.runners)
	}
	c.running = slices.DeleteFunc(c.running, func(r *worker) bool { return r == w })
	c.lendCores(c.running)
}

// produce reads batches until the samples asked for are read or the data ends.
func (c *calibration) produce(ctx context.Context, rd data.Reader, work, queue chan<- *job) error {
	read := 0
	for c.opts.Samples < 0 || read < c.opts.Samples {
		want := c.batch
		if c.opts.Samples > 0 {
			want = min(want, c.opts.Samples-read)
		}
		j, err := c.takeJob(ctx, rd)
		if err != nil {
			return err
		}
		b, err := rd.Next(want)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if fixed := c.bind.FixedBatch(); fixed > 0 && b.Len != fixed {
			msg := fmt.Sprintf("calibration data %q: the model's batch size is fixed at %d; the last %d samples are left out", c.src.Name(), fixed, b.Len)
			if c.opts.Warn != nil {
				c.opts.Warn(msg)
			}
			return nil
		}
		if err := c.bind.FeedInto(j.feed, b); err != nil {
			return err
		}
		read += b.Len
		j.batch, j.n, j.seq = b, b.Len, c.seq
		c.seq++
		select {
		case queue <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case work <- j:
		case <-ctx.Done():
			j.err = ctx.Err()
			j.done <- struct{}{}
			return ctx.Err()
		}
	}
	return nil
}

// takeJob returns a job for the next batch: a new one while fewer than maxJobs exist, else
// the next the consumer is done with (its batch handed back to the reader). The jobs are
// all made first, whatever the timing, so that the memory of a calibration of many
// batches does not depend on how fast the consumer hands jobs back (a late new job
// allocates its batch too: TestSteadyStateAllocations).
func (c *calibration) takeJob(ctx context.Context, rd data.Reader) (*job, error) {
	if c.made < c.maxJobs {
		c.made++
		return &job{feed: make(map[string]*tensor.Tensor, len(c.g.Inputs())), acts: make([][]*tensor.Tensor, len(c.targets)),
			bufs: make([][]*tensor.Tensor, len(c.targets)), observed: make([]bool, len(c.targets)), done: make(chan struct{}, 1)}, nil
	}
	var j *job
	select {
	case j = <-c.idle:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	data.Recycle(rd, j.batch)
	j.batch = nil
	return j, nil
}

// worker runs batches through its own Runner.
type worker struct {
	c      *calibration
	ctx    context.Context
	runner *graph.Runner
	hooks  graph.Hooks
	cur    *job  // the job being run, for copyTargets
	obsErr error // an observer's error during the run, returned as it is
	// carry holds the recurrent state for the next run (Options.State): one worker runs
	// the samples one at a time, in order.
	carry map[string]*tensor.Tensor
	ran   []bool // by calibration.subNodes: the subgraph nodes this worker ran
}

// forward runs one batch, observing its main-graph activations (the fed tensors
// themselves for targets that are graph inputs) and copying those of subgraphs into the
// job for the consumer.
func (w *worker) forward(ctx context.Context, j *job) error {
	j.reset()
	w.cur, w.obsErr = j, nil
	defer func() { w.cur = nil }()
	for _, s := range w.c.opts.State {
		if t := w.carry[s.Into]; t != nil {
			j.feed[s.Into] = t
		}
	}
	outs, err := w.runner.Run(ctx, j.feed, &w.hooks)
	if w.obsErr != nil {
		return w.obsErr
	}
	if err != nil {
		return fmt.Errorf("calib: %w", err)
	}
	for _, s := range w.c.opts.State {
		if w.carry == nil {
			w.carry = map[string]*tensor.Tensor{}
		}
		// A new tensor per run: the job's feed, which the consumer may still observe,
		// holds the previous one.
		w.carry[s.Into] = copyInto(nil, outs[s.Out])
	}
	for i, t := range w.c.targets {
		if !j.observed[i] && !w.c.inSub[i] {
			if j.feed[t] == nil {
				return fmt.Errorf("calib: the run produced no value for %q", t)
			}
			if err := w.observe(i, j.feed[t]); err != nil {
				return err
			}
		}
	}
	return nil
}

// isTarget reports whether name is an activation to observe: the values graph.Hooks.Watch
// must keep (the others may be fused away).
func (c *calibration) isTarget(name string) bool {
	_, ok := c.index[name]
	return ok
}

// observe feeds x, the current job's value of main-graph target i, to its observer once
// the batch before has been observed.
func (w *worker) observe(i int, x *tensor.Tensor) error {
	j, t := w.cur, &w.c.turns[i]
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.next != j.seq {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		t.wait()
	}
	if err := w.c.obs[i].observe(x); err != nil {
		return err
	}
	j.observed[i] = true
	t.next++
	t.wake()
	return nil
}

// turn orders the workers' observations of one target: the batch numbered next is
// observed next.
type turn struct {
	mu    sync.Mutex
	ready *sync.Cond // signalled when next changes, and when the calibration is cancelled
	next  int64
}

// newTurns returns a turn per target, each ready to wait on: made up front, so that a
// worker's first wait, however late, allocates nothing (TestSteadyStateAllocations).
func newTurns(n int) []turn {
	turns := make([]turn, n)
	for i := range turns {
		turns[i].ready = sync.NewCond(&turns[i].mu)
	}
	return turns
}

// wait sleeps until next changes or the calibration is cancelled; t.mu is held.
func (t *turn) wait() { t.ready.Wait() }

// wake wakes every worker waiting for this target; t.mu is held.
func (t *turn) wake() { t.ready.Broadcast() }

// wakeTurns wakes every waiting worker, to see that the calibration was cancelled.
func (c *calibration) wakeTurns() {
	for i := range c.turns {
		t := &c.turns[i]
		t.mu.Lock()
		t.wake()
		t.mu.Unlock()
	}
}

// reset empties the job's activation lists, keeping their memory.
func (j *job) reset() {
	for i := range j.acts {
		clear(j.acts[i])
		j.acts[i] = j.acts[i][:0]
	}
	clear(j.observed)
}

// add appends a copy of x to target i's activations, into a buffer kept from an earlier
// batch when there is one.
func (j *job) add(i int, x *tensor.Tensor) {
	k := len(j.acts[i])
	if k < len(j.bufs[i]) {
		j.bufs[i][k] = copyInto(j.bufs[i][k], x)
	} else {
		j.bufs[i] = append(j.bufs[i], copyInto(nil, x))
	}
	j.acts[i] = append(j.acts[i], j.bufs[i][k])
}

// copyTargets is the worker's graph.Hooks.AfterNode: it copies the node's target outputs,
// and the subgraph inputs it is the reader chosen for, into the job's buffers. It runs for
// the nodes of subgraphs too, each time they run: a Loop body's values are copied at every
// iteration.
func (w *worker) copyTargets(n *graph.Node, ins, outs []*tensor.Tensor) error {
	j := w.cur
	for k, name := range n.Outputs {
		i, ok := w.c.index[name]
		if !ok || outs[k] == nil {
			continue
		}
		if w.c.inSub[i] {
			j.add(i, outs[k])
		} else if err := w.observe(i, outs[k]); err != nil {
			if w.obsErr == nil {
				w.obsErr = err
			}
			return err
		}
	}
	if n.Parent != nil {
		if k, ok := w.c.subNodes[n]; ok {
			w.ran[k] = true
		}
		for _, s := range w.c.atInput[n] {
			if ins[s.input] != nil {
				j.add(s.target, ins[s.input])
			}
		}
	}
	return nil
}

// copyInto copies src into dst's buffer, replacing the buffer when it is too small, and
// returns dst (a new tensor when dst is nil).
func copyInto(dst, src *tensor.Tensor) *tensor.Tensor {
	src = src.Contiguous()
	if dst == nil || cap(dst.Data) < len(src.Data) {
		dst = tensor.New(src.DType, src.Shape...)
	}
	dst.DType, dst.Shape, dst.Strides, dst.Offset = src.DType, append(dst.Shape[:0], src.Shape...), nil, 0
	dst.Data = dst.Data[:len(src.Data)]
	copy(dst.Data, src.Data)
	return dst
}

// consume feeds every batch's activations to the observers in sample order, and hands
// each job back to the producer.
func (c *calibration) consume(queue <-chan *job) (int, error) {
	samples := 0
	for j := range queue {
		<-j.done
		if j.err != nil {
			return 0, j.err
		}
		if err := c.observe(j.acts); err != nil {
			return 0, err
		}
		samples += j.n
		j.reset()
		c.idle <- j // never blocks: idle holds every job there is
		if c.onBatch != nil {
			c.onBatch(samples)
		}
	}
	return samples, nil
}

// observe feeds one batch's activations to their observers. Targets are observed in
// parallel, each observer by one goroutine at a time: this one and up to workers-1 more.
func (c *calibration) observe(acts [][]*tensor.Tensor) error {
	c.observeActs = acts
	c.observeNext.Store(0)
	clear(c.observeErrs)
	helpers := min(c.workers, len(acts)) - 1
	c.observeWG.Add(helpers)
	for range helpers {
		c.observeGo <- struct{}{}
	}
	c.observeSome()
	c.observeWG.Wait()
	c.observeActs = nil
	return errors.Join(c.observeErrs...)
}

// observeHelper is one of the workers-1 goroutines that help observe each batch, for the
// whole calibration (one started per batch would allocate its closure every batch).
func (c *calibration) observeHelper() {
	for range c.observeGo {
		c.observeSome()
		c.observeWG.Done()
	}
}

// observeSome observes targets until none is left.
func (c *calibration) observeSome() {
	for {
		i := int(c.observeNext.Add(1) - 1)
		if i >= len(c.observeActs) {
			return
		}
		for _, x := range c.observeActs[i] {
			if c.observeErrs[i] = c.obs[i].observe(x); c.observeErrs[i] != nil {
				break
			}
		}
	}
}

// targetObserver is the observer of one activation and its report histogram.
type targetObserver struct {
	name     string
	observer quant.Observer
	hist     displayHistogram
	count    int // values observed
}

func newTargetObserver(name string, o Options) (*targetObserver, error) {
	var opts []quant.ObserverOption
	if o.Observer == "percentile" && o.Percentile > 0 {
		opts = append(opts, quant.WithPercentile(o.Percentile))
	}
	ob, err := quant.NewObserver(o.Observer, o.Scheme, opts...)
	if err != nil {
		return nil, fmt.Errorf("calib: %w", err)
	}
	return &targetObserver{name: name, observer: ob}, nil
}

func (t *targetObserver) observe(x *tensor.Tensor) error {
	if !x.DType.IsFloat() {
		return fmt.Errorf("calib: activation %q is %v; only float activations are quantized", t.name, x.DType)
	}
	if x.DType != tensor.F32 {
		var err error
		if x, err = x.To(tensor.F32); err != nil {
			return fmt.Errorf("calib: activation %q: %w", t.name, err)
		}
	}
	// The histogram observer takes the extremes the report histogram needs too: one pass
	// over the activation finds them for both, and counts the report histogram's bins
	// unless the batch widens its grid.
	if h, ok := t.observer.(*quant.Histogram); ok && x.Numel() > 0 {
		xs := x.ToF32()
		if lo, hi, finite := t.extremes(xs); finite {
			if err := h.ObserveWithExtremes(xs, lo, hi); err != nil {
				return fmt.Errorf("calib: activation %q: %w", t.name, err)
			}
			t.count++
			return nil
		}
	}
	if err := t.observer.Observe(x); err != nil {
		return fmt.Errorf("calib: activation %q: %w", t.name, err)
	}
	t.hist.add(x.ToF32())
	t.count++
	return nil
}

// extremes returns the extremes of xs (not empty) as quant.FiniteMinMax does and, when
// they are finite, adds xs to the report histogram: in the same pass when the histogram
// has its width and the batch falls inside its grid (every batch but the first, mostly),
// else in a second one.
func (t *targetObserver) extremes(xs []float32) (lo, hi float32, finite bool) {
	counted := false
	if t.hist.canTally() {
		lo, hi, finite, counted = t.hist.tallyExtremes(xs)
	} else {
		lo, hi, finite = quant.FiniteMinMax(xs)
	}
	if finite && !counted {
		t.hist.addWithin(xs, lo, hi)
	}
	return lo, hi, finite
}

func (t *targetObserver) finish() (Activation, error) {
	p, err := t.observer.QParams()
	if err != nil {
		return Activation{}, fmt.Errorf("calib: activation %q: %w", t.name, err)
	}
	lo, hi := t.observer.Range()
	a := Activation{Name: t.name, Min: lo[0], Max: hi[0], ClipMin: lo[0], ClipMax: hi[0], QParams: p, Histogram: t.hist.report()}
	switch ob := t.observer.(type) {
	case *quant.Histogram:
		a.ClipMin, a.ClipMax = ob.SearchRange()
	case *quant.Entropy:
		a.ClipMin, a.ClipMax = ob.ClippedRange()
	case *quant.Percentile:
		if a.ClipMin, a.ClipMax, err = ob.ClippedRange(); err != nil {
			return Activation{}, fmt.Errorf("calib: activation %q: %w", t.name, err)
		}
	case *quant.MSE:
		if a.ClipMin, a.ClipMax, err = ob.ClippedRange(); err != nil {
			return Activation{}, fmt.Errorf("calib: activation %q: %w", t.name, err)
		}
	}
	return a, nil
}

// neverRan lists the quantizable nodes of subgraphs that no worker ran, in walk order.
func (c *calibration) neverRan() []string {
	names := make([]string, len(c.subNodes))
	for n, k := range c.subNodes {
		names[k] = n.Name
		for _, w := range c.runners {
			if w.ran[k] {
				names[k] = ""
				break
			}
		}
	}
	return slices.DeleteFunc(names, func(s string) bool { return s == "" })
}
