package data

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/qscript-dev/qscript/formats/npy"
	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/tensor"
)

// NPZ is a source over the arrays of an .npz archive, inputs by name: each array is an
// input named after its key, except the first of "label", "labels", "target", "targets"
// and "y", which is the target. Every array's first axis is the sample axis, except a 0-d
// array, which is one value for every sample (a sample rate `sr`). The
// members are inflated when a pass opens, so an .npz data set is held in memory while
// it is read; use .npy or safetensors for data sets larger than memory.
func NPZ(path string) (Source, error) {
	a, err := npy.OpenNPZFile(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	return newArchiveSource(path, a.Tensors(), false, func() (arrayFile, error) { return npy.OpenNPZFile(path) })
}

// Safetensors is a source over the tensors of a safetensors file, inputs by name, with
// the same target rule as NPZ. The file is memory-mapped and each batch is copied out
// of the mapping, so only the pages of the samples read are touched.
func Safetensors(path string) (Source, error) {
	f, err := safetensors.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return newArchiveSource(path, f.Tensors(), true, func() (arrayFile, error) { return safetensors.OpenFile(path) })
}

// arrayFile is the part of formats.Model the archive sources use.
type arrayFile interface {
	Load(name string) (*tensor.Tensor, error)
	Close() error
}

type archiveSource struct {
	name       string
	open       func() (arrayFile, error)
	inputs     []tensor.Info // per sample
	inputNames []string
	target     string
	n          int
	mapped     bool
}

func newArchiveSource(path string, infos []tensor.Info, mapped bool, open func() (arrayFile, error)) (*archiveSource, error) {
	s := &archiveSource{name: filepath.Base(path), open: open, n: -1, mapped: mapped}
	for _, key := range targetKeys {
		for _, info := range infos {
			if info.Name == key && s.target == "" {
				s.target = key
			}
		}
	}
	for _, info := range infos {
		if len(info.Shape) == 0 && info.Name != s.target {
			// A 0-d array is the same value for every sample.
			s.inputs = append(s.inputs, tensor.Info{Name: info.Name, DType: info.DType, Shape: []int{}})
			s.inputNames = append(s.inputNames, info.Name)
			continue
		}
		if len(info.Shape) == 0 {
			return nil, fmt.Errorf("data %q: target %q is a scalar; its first axis must count the samples", s.name, info.Name)
		}
		if s.n >= 0 && info.Shape[0] != s.n {
			return nil, fmt.Errorf("data %q: array %q has %d samples, the others have %d", s.name, info.Name, info.Shape[0], s.n)
		}
		s.n = info.Shape[0]
		if info.Name == s.target {
			continue
		}
		s.inputs = append(s.inputs, tensor.Info{Name: info.Name, DType: info.DType, Shape: append([]int{}, info.Shape[1:]...)})
		s.inputNames = append(s.inputNames, info.Name)
	}
	if len(s.inputs) == 0 {
		return nil, fmt.Errorf("data %q: no input arrays (only a target %q)", s.name, s.target)
	}
	if s.n < 0 {
		return nil, fmt.Errorf("data %q: every array is 0-d; one needs a first axis counting the samples", s.name)
	}
	return s, nil
}

func (s *archiveSource) Name() string          { return s.name }
func (s *archiveSource) Len() int              { return s.n }
func (s *archiveSource) HasTarget() bool       { return s.target != "" }
func (s *archiveSource) Inputs() []tensor.Info { return append([]tensor.Info{}, s.inputs...) }

func (s *archiveSource) Open(ctx context.Context) (Reader, error) {
	f, err := s.open()
	if err != nil {
		return nil, err
	}
	mem := &memorySource{name: s.name, inputs: make(map[string]*tensor.Tensor, len(s.inputNames)), n: s.n, copy: s.mapped,
		consts: map[string]*tensor.Tensor{}}
	for _, name := range s.inputNames {
		if err := ctx.Err(); err != nil {
			f.Close()
			return nil, err
		}
		t, err := f.Load(name)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("data %q: %w", s.name, err)
		}
		if len(t.Shape) == 0 {
			mem.consts[name] = t.Contiguous()
			continue
		}
		mem.inputs[name] = t.Contiguous()
	}
	if s.target != "" {
		t, err := f.Load(s.target)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("data %q: %w", s.name, err)
		}
		mem.target = t.Contiguous()
	}
	if !s.mapped {
		// The archive's members are inflated into memory: nothing refers to the file.
		if err := f.Close(); err != nil {
			return nil, err
		}
		return &memoryReader{src: mem}, nil
	}
	return &memoryReader{src: mem, release: f.Close}, nil
}
