package data

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/qscript-dev/qscript/formats/npy"
	"github.com/qscript-dev/qscript/tensor"
)

// Folder is a source over a folder holding one sample per file, in sorted name order:
// .npy files (one anonymous array, fed to a model's only input) or .npz files (arrays by
// input name, with the target rule of NPZ). The arrays have no sample axis: each file is
// one sample, as a data loader saves them. Every file must hold the same arrays with the
// same dtypes and shapes (checked when the folder is opened, from the headers); a batch
// reads only its own files.
func Folder(dir string) (Source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	s := &folderSource{dir: dir, name: filepath.Base(dir)}
	kinds := map[string]bool{}
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.Type().IsRegular() && (ext == ".npy" || ext == ".npz") {
			s.files = append(s.files, e.Name())
			kinds[ext] = true
		}
	}
	sort.Strings(s.files)
	if len(s.files) == 0 {
		return nil, fmt.Errorf("data: folder %q has no .npy or .npz files: %w", dir, ErrEmpty)
	}
	if len(kinds) > 1 {
		return nil, fmt.Errorf("data: folder %q mixes .npy and .npz files; one sample per file, all of one kind", dir)
	}
	for i, name := range s.files {
		infos, err := s.infos(name)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			s.arrays = infos
			continue
		}
		if !slices.EqualFunc(infos, s.arrays, func(a, b tensor.Info) bool {
			return a.Name == b.Name && a.DType == b.DType && slices.Equal(a.Shape, b.Shape)
		}) {
			return nil, fmt.Errorf("data: folder %q: %s holds %s, %s holds %s", dir, name, infoList(infos), s.files[0], infoList(s.arrays))
		}
	}
	for _, key := range targetKeys {
		if s.target == "" && slices.ContainsFunc(s.arrays, func(a tensor.Info) bool { return a.Name == key }) {
			s.target = key
		}
	}
	return s, nil
}

func infoList(infos []tensor.Info) string {
	var parts []string
	for _, in := range infos {
		name := in.Name
		if name == "" {
			name = "array"
		}
		parts = append(parts, fmt.Sprintf("%s %v%s", name, in.DType, ShapeString(in.Shape)))
	}
	return strings.Join(parts, ", ")
}

type folderSource struct {
	dir, name string
	files     []string
	arrays    []tensor.Info // per file, sorted by name
	target    string
}

// infos reads one file's array headers.
func (s *folderSource) infos(name string) ([]tensor.Info, error) {
	path := filepath.Join(s.dir, name)
	if strings.EqualFold(filepath.Ext(name), ".npy") {
		f, err := npy.OpenFile(path)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		defer f.Close()
		info := f.Tensors()[0]
		info.Name = ""
		return []tensor.Info{info}, nil
	}
	a, err := npy.OpenNPZFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer a.Close()
	infos := a.Tensors()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, nil
}

func (s *folderSource) Name() string    { return s.name }
func (s *folderSource) Len() int        { return len(s.files) }
func (s *folderSource) HasTarget() bool { return s.target != "" }

func (s *folderSource) Inputs() []tensor.Info {
	var out []tensor.Info
	for _, a := range s.arrays {
		if a.Name != s.target {
			out = append(out, tensor.Info{Name: a.Name, DType: a.DType, Shape: slices.Clone(a.Shape)})
		}
	}
	return out
}

func (s *folderSource) Open(ctx context.Context) (Reader, error) {
	return &folderReader{s: s, ctx: ctx}, nil
}

type folderReader struct {
	s    *folderSource
	ctx  context.Context
	next int
}

// Next loads the next files and stacks their arrays.
func (r *folderReader) Next(max int) (*Batch, error) {
	if max < 1 {
		return nil, fmt.Errorf("data: batch size %d: must be at least 1", max)
	}
	if r.next >= len(r.s.files) {
		return nil, io.EOF
	}
	files := r.s.files[r.next:min(r.next+max, len(r.s.files))]
	r.next += len(files)
	parts := map[string][]*tensor.Tensor{}
	for _, name := range files {
		if err := r.ctx.Err(); err != nil {
			return nil, err
		}
		path := filepath.Join(r.s.dir, name)
		var f interface {
			Load(string) (*tensor.Tensor, error)
			Close() error
			Tensors() []tensor.Info
		}
		var err error
		if strings.EqualFold(filepath.Ext(name), ".npy") {
			f, err = npy.OpenFile(path)
		} else {
			f, err = npy.OpenNPZFile(path)
		}
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		for _, info := range f.Tensors() {
			t, err := f.Load(info.Name)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("data %q: %s: %w", r.s.name, name, err)
			}
			key := info.Name
			if len(r.s.arrays) == 1 && r.s.arrays[0].Name == "" {
				key = ""
			}
			parts[key] = append(parts[key], t)
		}
		f.Close()
	}
	b := &Batch{Inputs: map[string]*tensor.Tensor{}, Len: len(files)}
	for key, ts := range parts {
		t, err := stack(ts, fmt.Sprintf("array %q", key))
		if err != nil {
			return nil, fmt.Errorf("data %q: %w", r.s.name, err)
		}
		if key == r.s.target && key != "" {
			b.Target = t
		} else {
			b.Inputs[key] = t
		}
	}
	return b, nil
}

func (r *folderReader) Close() error { return nil }
