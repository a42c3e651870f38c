package data

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/tensor"
)

// UnknownArrayError is returned by Select for an array name the source does not have.
type UnknownArrayError struct {
	Name   string   // the name asked for
	Arrays []string // the source's arrays, in its order
}

func (e *UnknownArrayError) Error() string {
	return fmt.Sprintf("data: no array named %q; arrays: %s", e.Name, strings.Join(e.Arrays, ", "))
}

// Select picks the arrays of a multi-array source (.npz, safetensors): input, when not
// "", is the only array fed to the model, and label, when not "", becomes the target.
// Either may be "" to keep the source's own choice: every array an input, and the
// target the source found by name (label, labels, target, targets or y). A name that is
// not among the source's inputs is an *UnknownArrayError, except a label when the source
// already has a target: that label may name the target, which Inputs does not list, and
// one that names nothing leaves the source's target in place.
func Select(src Source, input, label string) (Source, error) {
	var names []string
	for _, in := range src.Inputs() {
		names = append(names, in.Name)
	}
	for _, want := range []string{input, label} {
		if want != "" && !slices.Contains(names, want) && !(want == label && src.HasTarget()) {
			return nil, &UnknownArrayError{Name: want, Arrays: names}
		}
	}
	return &selected{Source: src, input: input, label: label}, nil
}

// selected is a source restricted to one input array, with an optional array moved to
// the target.
type selected struct {
	Source
	input, label string
}

func (s *selected) Inputs() []tensor.Info {
	var out []tensor.Info
	for _, in := range s.Source.Inputs() {
		if in.Name == s.label || (s.input != "" && in.Name != s.input) {
			continue
		}
		out = append(out, in)
	}
	return out
}

func (s *selected) HasTarget() bool {
	return s.Source.HasTarget() || s.label != ""
}

func (s *selected) Open(ctx context.Context) (Reader, error) {
	r, err := s.Source.Open(ctx)
	if err != nil {
		return nil, err
	}
	return &selectedReader{Reader: r, s: s}, nil
}

type selectedReader struct {
	Reader
	s *selected
}

func (r *selectedReader) Next(max int) (*Batch, error) {
	b, err := r.Reader.Next(max)
	if err != nil {
		return nil, err
	}
	out := &Batch{Inputs: map[string]*tensor.Tensor{}, Target: b.Target, Len: b.Len}
	for name, t := range b.Inputs {
		switch {
		case name == r.s.label:
			out.Target = t
		case r.s.input == "" || name == r.s.input:
			out.Inputs[name] = t
		}
	}
	return out, nil
}
