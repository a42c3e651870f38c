package hf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/formats/torch"
	"github.com/qscript-dev/qscript/tensor"

	"github.com/qscript-dev/qscript/internal/paths"
)

// File names transformers gives a model folder's parts.
const (
	ConfigName           = "config.json"
	SafetensorsName      = "model.safetensors"
	SafetensorsIndexName = "model.safetensors.index.json"
	PytorchName          = "pytorch_model.bin"
	PytorchIndexName     = "pytorch_model.bin.index.json"
	maxConfigSize        = 16 << 20
	maxIndexSize         = safetensors.MaxIndexSize
)

// weightLayouts lists the weight files in transformers' order of preference.
var weightLayouts = []string{SafetensorsName, SafetensorsIndexName, PytorchName, PytorchIndexName}

// Folder is an opened model folder. Close releases its weight files.
type Folder struct {
	Dir string
	// Config is config.json decoded with numbers kept as json.Number, so that writing it
	// back changes no number's text.
	Config map[string]any
	// Weights is the weight file Open chose (one of the names above).
	Weights string
	// WeightFiles are the folder's weight files: the chosen file and, for an index, its
	// shards (sorted). Writers skip them when they copy the rest of the folder.
	WeightFiles []string
	// Model holds every tensor of the weights.
	formats.Model
}

// Open opens the model folder dir. It needs config.json and one of the weight layouts.
func Open(dir string) (*Folder, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a folder (a Hugging Face model folder holds config.json and the weights)", dir)
	}
	cfg, err := ReadConfig(filepath.Join(dir, ConfigName))
	if err != nil {
		return nil, err
	}
	f := &Folder{Dir: dir, Config: cfg}
	for _, name := range weightLayouts {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			f.Weights = name
			break
		}
	}
	if f.Weights == "" {
		return nil, fmt.Errorf("%s: no weights: want one of %s", dir, strings.Join(weightLayouts, ", "))
	}
	path := filepath.Join(dir, f.Weights)
	f.WeightFiles = []string{f.Weights}
	switch f.Weights {
	case SafetensorsName:
		f.Model, err = safetensors.OpenFile(path)
	case SafetensorsIndexName:
		var s *safetensors.Sharded
		if s, err = safetensors.OpenIndex(path); err == nil {
			f.Model = s
			f.WeightFiles = append(f.WeightFiles, s.Shards()...)
		}
	case PytorchName:
		f.Model, err = torch.Open(path)
	case PytorchIndexName:
		var b *binShards
		if b, err = openBinIndex(path); err == nil {
			f.Model = b
			f.WeightFiles = append(f.WeightFiles, b.names...)
		}
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// ReadConfig reads a config.json: one JSON object, at most 16 MB.
func ReadConfig(path string) (map[string]any, error) {
	data, err := paths.ReadLimited(path, maxConfigSize)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: data after the JSON object", path)
	}
	if obj == nil {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	return obj, nil
}

// Architectures returns config.json's "architectures" (nil when absent).
func (f *Folder) Architectures() []string {
	list, _ := f.Config["architectures"].([]any)
	var out []string
	for _, a := range list {
		if s, ok := a.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// IsCausalLM reports whether an architecture of the config ends in "ForCausalLM".
func (f *Folder) IsCausalLM() bool {
	return slices.ContainsFunc(f.Architectures(), func(a string) bool { return strings.HasSuffix(a, "ForCausalLM") })
}

// TiedEmbeddings reports whether the output projection shares the input embedding's
// weights: config.json's tie_word_embeddings when it says, else whether the folder
// stores no lm_head.weight (transformers saves a tied weight once).
func (f *Folder) TiedEmbeddings() bool {
	if v, ok := f.Config["tie_word_embeddings"].(bool); ok {
		return v
	}
	return !slices.ContainsFunc(f.Tensors(), func(i tensor.Info) bool { return i.Name == "lm_head.weight" })
}

// binShards is a pytorch_model.bin.index.json checkpoint: several .bin files.
type binShards struct {
	path   string
	names  []string
	shards map[string]*torch.File
	owner  map[string]string
	infos  []tensor.Info
}

func openBinIndex(path string) (*binShards, error) {
	data, err := paths.ReadLimited(path, maxIndexSize)
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: empty weight_map", path)
	}
	b := &binShards{path: path, shards: map[string]*torch.File{}, owner: idx.WeightMap}
	dir := filepath.Dir(path)
	for _, shard := range slices.Sorted(maps.Values(idx.WeightMap)) {
		if _, ok := b.shards[shard]; ok {
			continue
		}
		if shard != filepath.Base(shard) || shard == "." || shard == ".." {
			b.Close()
			return nil, fmt.Errorf("%s: shard %q is not a file name in the index's folder", path, shard)
		}
		t, err := torch.Open(filepath.Join(dir, shard))
		if err != nil {
			b.Close()
			return nil, err
		}
		b.shards[shard], b.names = t, append(b.names, shard)
		for _, info := range t.Tensors() {
			if idx.WeightMap[info.Name] != shard {
				b.Close()
				return nil, fmt.Errorf("%s: tensor %q is in %s but the index puts it in %q", path, info.Name, shard, idx.WeightMap[info.Name])
			}
			b.infos = append(b.infos, info)
		}
	}
	if len(b.infos) != len(idx.WeightMap) {
		b.Close()
		return nil, fmt.Errorf("%s: the index lists %d tensors, the shards hold %d", path, len(idx.WeightMap), len(b.infos))
	}
	slices.SortFunc(b.infos, func(x, y tensor.Info) int { return strings.Compare(x.Name, y.Name) })
	return b, nil
}

func (b *binShards) Tensors() []tensor.Info      { return slices.Clone(b.infos) }
func (b *binShards) Metadata() map[string]string { return map[string]string{} }
func (b *binShards) Load(name string) (*tensor.Tensor, error) {
	shard, ok := b.owner[name]
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", b.path, name)
	}
	return b.shards[shard].Load(name)
}

func (b *binShards) Close() error {
	var first error
	for _, s := range b.shards {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
