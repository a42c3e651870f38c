package calib

import (
	"fmt"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/tensor"
)

// Binding maps a source's inputs onto a model's inputs, checked once before any sample
// is read.
type Binding struct {
	role    string
	source  string
	inputs  []graph.ValueInfo
	byModel map[string]string // model input → source input name
	axis    map[string]int    // model input → batch axis, -1 for an input fed as it is
	zeros   map[string]bool   // model inputs the data lacks, fed zeros
	batch   int
}

// BindOptions says how samples become model inputs where the model's dims do not.
type BindOptions struct {
	// BatchAxes gives, by model input name, the axis samples are stacked on (the batch
	// axis), or -1 to feed the input as it is, one value for the whole batch (a sample
	// rate, a recurrent state of fixed shape). Inputs not listed get theirs from the model
	// (see Bind).
	BatchAxes map[string]int
	// Zeros lists inputs the data may lack: they are fed zeros, shaped as the model
	// declares with 1 for each dynamic dimension but the batch axis (the initial state of a
	// recurrent model, which the caller then carries from run to run).
	Zeros []string
}

// ShapeError says that the samples of a source do not fit a model input.
type ShapeError struct {
	Role        string // "calibration data"
	Source      string // the source's Name
	SampleShape []int
	SampleDType tensor.DType
	Input       graph.ValueInfo
	Axis        int // the batch axis tried, -1 for the whole input
}

func (e *ShapeError) Error() string {
	how := "the whole input"
	if e.Axis >= 0 {
		how = fmt.Sprintf("the input without its batch axis %d", e.Axis)
	}
	return fmt.Sprintf("%s %q: sample shape %s does not fit model input %q %s (a sample is %s; set batch_axis for %q otherwise)",
		e.Role, e.Source, data.ShapeString(e.SampleShape), e.Input.Name, ModelShapeString(e.Input), how, e.Input.Name)
}

// ModelShapeString formats a model input's shape with its symbolic dimensions:
// [N,1,8,8], or "?" for a dimension that has no name.
func ModelShapeString(v graph.ValueInfo) string {
	if v.Shape == nil {
		return "[?...]"
	}
	parts := make([]string, len(v.Shape))
	for i, d := range v.Shape {
		switch {
		case d >= 0:
			parts[i] = fmt.Sprint(d)
		case i < len(v.DimParams) && v.DimParams[i] != "":
			parts[i] = v.DimParams[i]
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Bind is BindWith without options.
func Bind(src data.Source, inputs []graph.ValueInfo, role string) (*Binding, error) {
	return BindWith(src, inputs, role, BindOptions{})
}

// BindWith matches src's inputs with a model's inputs (graph.Graph.Inputs). A source with
// one input feeds a model with one input whatever their names; otherwise every model
// input needs a source input of the same name (or is listed in opts.Zeros). Each sample
// is either the model input without its batch axis, stacked on that axis, or the whole
// input, fed as it is (a scalar, a fixed-shape state): the batch axis is the one
// opts.BatchAxes names, else the model's first symbolic (named) dimension, else its first
// dynamic one, else axis 0 (a fixed batch). Static dimensions must be equal, and the dtype
// numeric (it is converted to the model's dtype when fed). A model input fed as it is
// fixes the batch at one sample. role names the data in errors ("calibration data").
func BindWith(src data.Source, inputs []graph.ValueInfo, role string, opts BindOptions) (*Binding, error) {
	have := src.Inputs()
	b := &Binding{role: role, source: src.Name(), inputs: inputs, byModel: make(map[string]string, len(inputs)), axis: map[string]int{}}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("%s %q: the model has no inputs to feed", role, src.Name())
	}
	byName := make(map[string]tensor.Info, len(have))
	for _, h := range have {
		byName[h.Name] = h
	}
	for name := range opts.BatchAxes {
		if !slices.ContainsFunc(inputs, func(v graph.ValueInfo) bool { return v.Name == name }) {
			return nil, fmt.Errorf("%s %q: batch_axis names %q, which is no input of the model (%s)", role, src.Name(), name, quotedNames(inputs))
		}
	}
	for _, in := range inputs {
		var info tensor.Info
		var ok bool
		switch {
		case len(have) == 1 && len(inputs) == 1:
			info, ok = have[0], true
		default:
			info, ok = byName[in.Name]
		}
		if !ok && slices.Contains(opts.Zeros, in.Name) {
			if b.zeros == nil {
				b.zeros = map[string]bool{}
			}
			b.zeros[in.Name] = true
			axis, explicit := opts.BatchAxes[in.Name]
			if !explicit {
				axis = defaultAxis(in)
			}
			b.axis[in.Name] = axis
			continue
		}
		if !ok {
			names := make([]string, len(have))
			for i, h := range have {
				names[i] = fmt.Sprintf("%q", h.Name)
			}
			return nil, fmt.Errorf("%s %q: no array for model input %q (the data has %s)", role, src.Name(), in.Name, strings.Join(names, ", "))
		}
		if info.DType == tensor.Bool || !info.DType.Valid() {
			return nil, fmt.Errorf("%s %q: input %q is %v, want numbers", role, src.Name(), in.Name, info.DType)
		}
		axis, explicit := opts.BatchAxes[in.Name]
		if !explicit {
			axis = inferAxis(info.Shape, in)
		}
		if !fits(info.Shape, in, axis) {
			return nil, &ShapeError{Role: role, Source: src.Name(), SampleShape: info.Shape, SampleDType: info.DType, Input: in, Axis: axis}
		}
		fixed := 0
		switch {
		case axis < 0:
			fixed = 1
		case in.Shape != nil && in.Shape[axis] > 0:
			fixed = in.Shape[axis]
		}
		if fixed > 0 {
			if b.batch != 0 && b.batch != fixed {
				return nil, fmt.Errorf("%s %q: the model's inputs fix different batch sizes, %d and %d (input %q %s)", role, src.Name(), b.batch, fixed, in.Name, ModelShapeString(in))
			}
			b.batch = fixed
		}
		b.byModel[in.Name] = info.Name
		b.axis[in.Name] = axis
	}
	return b, nil
}

// quotedNames lists the values' names, quoted, for an error.
func quotedNames(inputs []graph.ValueInfo) string {
	var names []string
	for _, in := range inputs {
		names = append(names, fmt.Sprintf("%q", in.Name))
	}
	return strings.Join(names, ", ")
}

// inferAxis: a sample of the model input's rank is the whole input (-1); one of a rank
// less is stacked on the model's batch axis.
func inferAxis(sample []int, in graph.ValueInfo) int {
	if in.Shape != nil && len(sample) == len(in.Shape) {
		return -1
	}
	return defaultAxis(in)
}

// defaultAxis is the model input's first named dimension, else its first dynamic one,
// else 0; -1 for a scalar.
func defaultAxis(in graph.ValueInfo) int {
	if in.Shape != nil && len(in.Shape) == 0 {
		return -1
	}
	for i := range in.Shape {
		if i < len(in.DimParams) && in.DimParams[i] != "" && in.Shape[i] < 0 {
			return i
		}
	}
	for i, d := range in.Shape {
		if d < 0 {
			return i
		}
	}
	return 0
}

// fits reports whether a sample shape is the model input's shape without its batch axis
// (or the whole shape, for axis -1); dynamic dimensions match anything.
func fits(sample []int, in graph.ValueInfo, axis int) bool {
	if in.Shape == nil {
		return axis <= len(sample)
	}
	want := slices.Clone(in.Shape)
	if axis >= 0 {
		if axis >= len(want) {
			return false
		}
		want = slices.Delete(want, axis, axis+1)
	}
	if len(want) != len(sample) {
		return false
	}
	for i, d := range sample {
		if want[i] >= 0 && want[i] != d {
			return false
		}
	}
	return true
}

// FixedBatch is the batch size the model's inputs fix (a number on the batch axis, or 1
// when an input is fed as it is), or 0 when the batch axis is dynamic.
func (b *Binding) FixedBatch() int { return b.batch }

// Feed turns a batch into the model's inputs, converting dtypes where they differ.
func (b *Binding) Feed(batch *data.Batch) (map[string]*tensor.Tensor, error) {
	feed := make(map[string]*tensor.Tensor, len(b.inputs))
	if err := b.FeedInto(feed, batch); err != nil {
		return nil, err
	}
	return feed, nil
}

// FeedInto is Feed into dst, which it empties first, so that a caller feeding many batches
// reuses one map. The tensors are the batch's own unless a dtype is converted or the
// batch axis is not the first.
func (b *Binding) FeedInto(dst map[string]*tensor.Tensor, batch *data.Batch) error {
	clear(dst)
	for _, in := range b.inputs {
		axis := b.axis[in.Name]
		if b.zeros[in.Name] {
			dst[in.Name] = zerosFor(in, axis, batch.Len)
			continue
		}
		t, ok := batch.Inputs[b.byModel[in.Name]]
		if !ok {
			return fmt.Errorf("%s %q: batch has no array %q", b.role, b.source, b.byModel[in.Name])
		}
		if len(t.Shape) == 0 || t.Shape[0] != batch.Len {
			return fmt.Errorf("%s %q: array %q has shape %s for a batch of %d", b.role, b.source, b.byModel[in.Name], data.ShapeString(t.Shape), batch.Len)
		}
		switch {
		case axis < 0:
			t = firstSample(t)
		case axis > 0:
			t = moveFirstAxis(t.Contiguous(), axis)
		}
		if in.DType != tensor.Invalid && t.DType != in.DType {
			var err error
			if t, err = t.To(in.DType); err != nil {
				return fmt.Errorf("%s %q: input %q: %w", b.role, b.source, in.Name, err)
			}
		}
		dst[in.Name] = t
	}
	return nil
}

// BatchAxis is the axis a model input's samples are stacked on, -1 when the input is fed
// as it is.
func (b *Binding) BatchAxis(input string) int { return b.axis[input] }

// zerosFor is a zero tensor of the model input's shape, with n on the batch axis and 1 for
// the other dynamic dimensions.
func zerosFor(in graph.ValueInfo, axis, n int) *tensor.Tensor {
	shape := slices.Clone(in.Shape)
	for i, d := range shape {
		switch {
		case i == axis:
			shape[i] = n
		case d < 0:
			shape[i] = 1
		}
	}
	dt := in.DType
	if dt == tensor.Invalid {
		dt = tensor.F32
	}
	return tensor.New(dt, shape...)
}

// firstSample is the first sample of a batch, without the batch axis (a view).
func firstSample(t *tensor.Tensor) *tensor.Tensor {
	c := t.Contiguous()
	row := c.Nbytes() / max(1, c.Shape[0])
	return &tensor.Tensor{DType: c.DType, Shape: slices.Clone(c.Shape[1:]), Data: c.Data[:row]}
}

// moveFirstAxis returns a contiguous copy of t with axis 0 moved to position axis.
func moveFirstAxis(t *tensor.Tensor, axis int) *tensor.Tensor {
	n := t.Shape[0]
	outer, inner := 1, t.DType.Size()
	for _, d := range t.Shape[1 : axis+1] {
		outer *= d
	}
	for _, d := range t.Shape[axis+1:] {
		inner *= d
	}
	shape := slices.Clone(t.Shape[1:])
	shape = slices.Insert(shape, axis, n)
	out := tensor.New(t.DType, shape...)
	// t is [n, outer, inner bytes]; out is [outer, n, inner bytes].
	for s := 0; s < n; s++ {
		for o := 0; o < outer; o++ {
			copy(out.Data[(o*n+s)*inner:(o*n+s+1)*inner], t.Data[(s*outer+o)*inner:(s*outer+o+1)*inner])
		}
	}
	return out
}
