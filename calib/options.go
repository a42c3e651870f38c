package calib

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/quant"
)

// Defaults.
const (
	// DefaultSamples is SPEC §6's default calibration set size.
	DefaultSamples = 150
	// DefaultObserver is torch's activation observer for static quantization:
	// get_default_qconfig (fbgemm, x86, onednn) uses HistogramObserver for activations.
	DefaultObserver = "histogram"
	// DefaultBatchSize is the number of samples per graph run. Histogram-family
	// observers see one batch at a time, so their result depends on it (as it does in
	// torch); it is part of Key.
	DefaultBatchSize = 32
	// DefaultMaxMemory is the calibration's default memory budget, 1 GiB.
	DefaultMaxMemory = 1 << 30
)

// StatePair names a model output that is the next run's value of an input.
type StatePair struct {
	Out  string // the model output (the new state)
	Into string // the model input it feeds
}

// Observers lists the observer kinds Calibrate accepts for activations: per-tensor
// observers only, since QDQ activations have one scale and zero point.
var Observers = []string{"entropy", "histogram", "minmax", "moving_average", "mse", "percentile"}

// ProgressMode says when Calibrate draws a progress bar.
type ProgressMode int

const (
	// ProgressAuto draws the bar when there are at least ProgressMinSamples samples and
	// Options.Progress is a terminal.
	ProgressAuto ProgressMode = iota
	// ProgressOn always draws it (to Options.Progress).
	ProgressOn
	// ProgressOff never draws it.
	ProgressOff
)

// ProgressMinSamples is the smallest calibration that ProgressAuto shows a bar for.
const ProgressMinSamples = 50

// Options configures Calibrate. The zero value means every default.
type Options struct {
	// Samples is how many samples to run (0: DefaultSamples; negative: all the data).
	Samples int
	// Observer is one of Observers ("": DefaultObserver).
	Observer string
	// Percentile is the percentile observer's percentile (0: quant.DefaultPercentile).
	Percentile float64
	// Scheme is the activations' code range and numerics. The zero value is quint8
	// affine with torch numerics (torch's default activation dtype; ONNX Runtime's S8S8
	// default is quant.QInt8, Symmetric false).
	Scheme quant.Scheme
	// Targets names the activations to observe. Nil means DefaultTargets: every float
	// input of a Conv, Gemm or MatMul node that is not an initializer.
	Targets []string
	// BatchSize is the number of samples per graph run (0: the source's preferred size
	// (data.Batched), else DefaultBatchSize). A model with a fixed batch dimension
	// imposes its own.
	BatchSize int
	// MaxMemory bounds the calibration's memory in bytes (0: DefaultMaxMemory; never more
	// than the limit of Calibrate's context, internal/budget, qscript --max-memory). When
	// BatchSize is 0 and the source prefers none, the batch size is chosen from it: one
	// sample is run first to measure the bytes its intermediate values take, and the batch
	// is the largest (up to DefaultBatchSize) whose runs in flight fit the budget next to
	// the model's weights.
	MaxMemory int64
	// BatchAxes gives an input's batch axis by name, or -1 to feed it as it is
	// (BindOptions.BatchAxes).
	BatchAxes map[string]int
	// State carries recurrent state from run to run, as a streaming model runs: the
	// samples are run one at a time, in order, and each pair's model output feeds the
	// named input of the next run (the first run reads the data's value, or zeros when the
	// data has no array for that input).
	State []StatePair
	// Workers is the number of graph runs in flight (0: GOMAXPROCS).
	Workers int
	// Progress receives the progress bar (nil: none).
	Progress     io.Writer
	ProgressMode ProgressMode
	// Warn receives warnings (fewer samples than asked, say). Nil drops them; they are
	// also kept in Result.Warnings.
	Warn func(string)
}

// DefaultScheme is the activations' default: quint8, affine, torch numerics.
func DefaultScheme() quant.Scheme {
	return quant.Scheme{QType: quant.QUInt8, Numerics: quant.Torch}
}

// withDefaults fills the zero fields and validates the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Samples == 0 {
		o.Samples = DefaultSamples
	}
	if o.Observer == "" {
		o.Observer = DefaultObserver
	}
	if !slices.Contains(Observers, o.Observer) {
		return o, fmt.Errorf("calib: unknown observer %q; valid: %s", o.Observer, strings.Join(Observers, ", "))
	}
	if o.Percentile < 0 || o.Percentile > 100 {
		return o, fmt.Errorf("calib: percentile %v: must be in (0, 100]", o.Percentile)
	}
	if o.Scheme.QType.Name == "" {
		numerics := o.Scheme.Numerics
		o.Scheme = DefaultScheme()
		o.Scheme.Numerics = numerics
	}
	if err := o.Scheme.Validate(); err != nil {
		return o, fmt.Errorf("calib: activation scheme: %w", err)
	}
	if o.Scheme.QType != quant.QUInt8 && o.Scheme.QType != quant.QInt8 {
		return o, fmt.Errorf("calib: activations are quantized to uint8 or int8 in QDQ models, not %s", o.Scheme.QType.Name)
	}
	if o.BatchSize < 0 {
		return o, fmt.Errorf("calib: batch size %d: must be at least 1", o.BatchSize)
	}
	if o.MaxMemory < 0 {
		return o, fmt.Errorf("calib: max memory %d: must be positive", o.MaxMemory)
	}
	if o.MaxMemory == 0 {
		o.MaxMemory = DefaultMaxMemory
	}
	if len(o.State) > 0 {
		o.Workers, o.BatchSize = 1, 1
	}
	if o.Workers < 0 {
		return o, fmt.Errorf("calib: workers %d: must be at least 1", o.Workers)
	}
	return o, nil
}

// Key names a calibration for a cache (host/modules.Cache.Value): the model's and the
// data's identities (Cache.FileKey, or any string that changes when they change) and
// every option that changes the result. Workers, progress and warnings do not; nor does
// anything the export decides (skip list, weight scheme).
func Key(modelKey, dataKey string, opts Options) string {
	o, err := opts.withDefaults()
	if err != nil {
		// An invalid configuration calibrates nothing; give it a key of its own.
		return fmt.Sprintf("calib|invalid|%v", err)
	}
	targets := "default"
	if o.Targets != nil {
		targets = strings.Join(slices.Sorted(slices.Values(o.Targets)), "\x00")
	}
	return fmt.Sprintf("calib|model=%s|data=%s|samples=%d|observer=%s|percentile=%v|qtype=%s|symmetric=%v|reduce=%v|numerics=%s|batch=%d|memory=%d|axes=%v|state=%v|targets=%s",
		modelKey, dataKey, o.Samples, o.Observer, o.Percentile, o.Scheme.QType.Name, o.Scheme.Symmetric,
		o.Scheme.ReduceRange, o.Scheme.Numerics, o.BatchSize, o.MaxMemory, o.BatchAxes, o.State, targets)
}
