package data

import (
	"fmt"
	"strings"

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
	batch   int
}

// ShapeError says that the samples of a source do not fit a model input.
type ShapeError struct {
	Role        string // "calibration data"
	Source      string // the source's Name
	SampleShape []int
	SampleDType tensor.DType
	Input       graph.ValueInfo
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("%s %q: sample shape %s does not fit model input %q %s",
		e.Role, e.Source, ShapeString(e.SampleShape), e.Input.Name, ModelShapeString(e.Input))
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

// Bind matches src's inputs with a model's inputs (graph.Graph.Inputs). A source with
// one input feeds a model with one input whatever their names; otherwise every model
// input needs a source input of the same name. Each sample must have the model input's
// rank minus the batch axis, with equal static dimensions, and a numeric dtype (it is
// converted to the model's dtype when fed). role names the data in errors ("calibration
// data").
func Bind(src Source, inputs []graph.ValueInfo, role string) (*Binding, error) {
	have := src.Inputs()
	b := &Binding{role: role, source: src.Name(), inputs: inputs, byModel: make(map[string]string, len(inputs))}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("%s %q: the model has no inputs to feed", role, src.Name())
	}
	byName := make(map[string]tensor.Info, len(have))
	for _, h := range have {
		byName[h.Name] = h
	}
	for _, in := range inputs {
		var info tensor.Info
		switch {
		case len(have) == 1 && len(inputs) == 1:
			info = have[0]
		default:
			var ok bool
			if info, ok = byName[in.Name]; !ok {
				names := make([]string, len(have))
				for i, h := range have {
					names[i] = fmt.Sprintf("%q", h.Name)
				}
				return nil, fmt.Errorf("%s %q: no array for model input %q (the data has %s)", role, src.Name(), in.Name, strings.Join(names, ", "))
			}
		}
		if info.DType == tensor.Bool || !info.DType.Valid() {
			return nil, fmt.Errorf("%s %q: input %q is %v, want numbers", role, src.Name(), in.Name, info.DType)
		}
		if mismatch(info.Shape, in) {
			return nil, &ShapeError{Role: role, Source: src.Name(), SampleShape: info.Shape, SampleDType: info.DType, Input: in}
		}
		if in.Shape != nil && len(in.Shape) > 0 && in.Shape[0] > 0 {
			if b.batch != 0 && b.batch != in.Shape[0] {
				return nil, fmt.Errorf("%s %q: the model's inputs have different fixed batch sizes %d and %d", role, src.Name(), b.batch, in.Shape[0])
			}
			b.batch = in.Shape[0]
		}
		b.byModel[in.Name] = info.Name
	}
	return b, nil
}

// mismatch reports whether a sample shape differs from a model input's shape without its
// batch axis (dynamic dimensions match anything).
func mismatch(sample []int, in graph.ValueInfo) bool {
	if in.Shape == nil {
		return false
	}
	if len(in.Shape) != len(sample)+1 {
		return true
	}
	for i, d := range sample {
		if m := in.Shape[i+1]; m >= 0 && m != d {
			return true
		}
	}
	return false
}

// FixedBatch is the batch size the model's inputs fix (their first dimension is a
// number), or 0 when the batch axis is dynamic.
func (b *Binding) FixedBatch() int { return b.batch }

// Feed turns a batch into the model's inputs, converting dtypes where they differ.
func (b *Binding) Feed(batch *Batch) (map[string]*tensor.Tensor, error) {
	feed := make(map[string]*tensor.Tensor, len(b.inputs))
	if err := b.FeedInto(feed, batch); err != nil {
		return nil, err
	}
	return feed, nil
}

// FeedInto is Feed into dst, which it empties first, so that a caller feeding many batches
// reuses one map. The tensors are the batch's own unless a dtype is converted.
func (b *Binding) FeedInto(dst map[string]*tensor.Tensor, batch *Batch) error {
	clear(dst)
	for _, in := range b.inputs {
		t, ok := batch.Inputs[b.byModel[in.Name]]
		if !ok {
			return fmt.Errorf("%s %q: batch has no array %q", b.role, b.source, b.byModel[in.Name])
		}
		if len(t.Shape) == 0 || t.Shape[0] != batch.Len {
			return fmt.Errorf("%s %q: array %q has shape %s for a batch of %d", b.role, b.source, b.byModel[in.Name], ShapeString(t.Shape), batch.Len)
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
