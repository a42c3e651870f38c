package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/tensor"

	"github.com/qscript-dev/qscript/internal/paths"
)

// MaxIndexSize bounds a *.safetensors.index.json file. Real indexes list one line per
// tensor; 64 MB holds hundreds of thousands of names.
const MaxIndexSize = 64 << 20

// Sharded is a checkpoint split across several safetensors files and described by a
// `*.safetensors.index.json` whose weight_map names each tensor's shard. Each shard's
// header is read and validated when the index is opened (the index holds no dtypes or
// shapes); data is read only by Load.
type Sharded struct {
	path     string
	shards   map[string]*File // by shard file name
	owner    map[string]string
	infos    []tensor.Info
	metadata map[string]string
}

// shardIndex is the parsed index file.
type shardIndex struct {
	metadata  map[string]string
	weightMap map[string]string
}

// OpenIndex opens a sharded checkpoint through its index file. Shard names must be plain
// file names in the index's folder. Every tensor the index lists must be in its shard, and
// every tensor of a shard must be listed. Errors name the index or the shard file.
func OpenIndex(path string) (*Sharded, error) {
	idx, err := readIndex(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &Sharded{path: path, shards: map[string]*File{}, owner: idx.weightMap, metadata: map[string]string{}}
	dir := filepath.Dir(path)
	for _, shard := range slices.Sorted(maps.Values(idx.weightMap)) {
		if _, ok := s.shards[shard]; ok {
			continue
		}
		f, err := OpenFile(filepath.Join(dir, shard))
		if err != nil {
			s.Close()
			return nil, err
		}
		s.shards[shard] = f
		for _, info := range f.infos {
			if idx.weightMap[info.Name] != shard {
				s.Close()
				return nil, fmt.Errorf("%s: tensor %q: %w: shard %s holds it but the index maps it to %q",
					path, info.Name, ErrInvalidIndex, shard, idx.weightMap[info.Name])
			}
		}
		for k, v := range f.metadata {
			if _, ok := s.metadata[k]; !ok {
				s.metadata[k] = v
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(idx.weightMap)) {
		info, ok := s.shards[idx.weightMap[name]].Info(name)
		if !ok {
			s.Close()
			return nil, fmt.Errorf("%s: tensor %q: %w: not in shard %s", path, name, ErrInvalidIndex, idx.weightMap[name])
		}
		s.infos = append(s.infos, info)
	}
	maps.Copy(s.metadata, idx.metadata) // the index's own metadata wins over the shards'
	return s, nil
}

func readIndex(path string) (*shardIndex, error) {
	f, err := paths.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxIndexSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidIndex, st.Size(), MaxIndexSize)
	}
	return parseIndex(f, st.Size())
}

// parseIndex reads {"metadata": {...}, "weight_map": {"name": "shard.safetensors"}}.
// Metadata values that are not strings (total_size is a number) keep their JSON text.
func parseIndex(r io.Reader, n int64) (*shardIndex, error) {
	dec := json.NewDecoder(&io.LimitedReader{R: r, N: n})
	dec.UseNumber()
	idx := &shardIndex{metadata: map[string]string{}}
	seen := map[string]bool{}
	err := eachKey(dec, func(key string) (err error) {
		if seen[key] {
			return fmt.Errorf("%w: key %q appears twice", ErrInvalidIndex, key)
		}
		seen[key] = true
		switch key {
		case "metadata":
			err = parseIndexMetadata(dec, idx.metadata)
		case "weight_map":
			idx.weightMap, err = parseWeightMap(dec)
		default:
			err = fmt.Errorf("%w: unknown key %q", ErrInvalidIndex, key)
		}
		return err
	})
	if err != nil {
		return nil, indexError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrInvalidIndex)
	}
	if idx.weightMap == nil {
		return nil, fmt.Errorf("%w: missing \"weight_map\"", ErrInvalidIndex)
	}
	return idx, nil
}

func parseIndexMetadata(dec *json.Decoder, into map[string]string) error {
	return eachKey(dec, func(key string) error {
		if _, dup := into[key]; dup {
			return fmt.Errorf("%w: metadata key %q appears twice", ErrInvalidIndex, key)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return syntaxError(err)
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			into[key] = s
		} else {
			into[key] = string(raw)
		}
		return nil
	})
}

func parseWeightMap(dec *json.Decoder) (map[string]string, error) {
	m := map[string]string{}
	err := eachKey(dec, func(name string) error {
		if _, dup := m[name]; dup {
			return fmt.Errorf("tensor %q: %w", name, ErrDuplicateName)
		}
		shard, err := stringToken(dec)
		if err != nil {
			return err
		}
		// A shard must sit beside the index: no folders, no way out of it.
		if shard == "" || shard != filepath.Base(shard) || shard == ".." || strings.ContainsAny(shard, `/\`) {
			return fmt.Errorf("tensor %q: %w: shard %q is not a plain file name", name, ErrInvalidIndex, shard)
		}
		m[name] = shard
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// indexError marks JSON errors as index errors, once.
func indexError(err error) error {
	if errors.Is(err, ErrInvalidIndex) || errors.Is(err, ErrDuplicateName) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrInvalidIndex, err)
}

// Tensors lists the tensors of all shards sorted by name.
func (s *Sharded) Tensors() []tensor.Info {
	return tensor.CloneInfos(s.infos)
}

// Metadata returns the index metadata merged over the shards' __metadata__.
func (s *Sharded) Metadata() map[string]string { return maps.Clone(s.metadata) }

// Shards returns the shard file names in sorted order.
func (s *Sharded) Shards() []string { return slices.Sorted(maps.Keys(s.shards)) }

// Load reads a tensor from its shard.
func (s *Sharded) Load(name string) (*tensor.Tensor, error) {
	f, err := s.shardOf(name)
	if err != nil {
		return nil, err
	}
	return f.Load(name)
}

// Section returns a reader over one tensor's raw bytes in its shard, through positioned
// reads that leave the shard's memory map untouched (see File.Section).
func (s *Sharded) Section(name string) (*io.SectionReader, error) {
	f, err := s.shardOf(name)
	if err != nil {
		return nil, err
	}
	return f.Section(name)
}

// Release lets the memory map drop the pages of one tensor's data (see File.Release), so a
// reader that goes through a large checkpoint tensor by tensor keeps its resident memory low.
func (s *Sharded) Release(name string) error {
	f, err := s.shardOf(name)
	if err != nil {
		return err
	}
	return f.Release(name)
}

// shardOf is the open shard that holds a tensor.
func (s *Sharded) shardOf(name string) (*File, error) {
	shard, ok := s.owner[name]
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q: %w", s.path, name, ErrNotFound)
	}
	f := s.shards[shard]
	if f == nil {
		return nil, fmt.Errorf("%s: %w", s.path, ErrClosed)
	}
	return f, nil
}

// Close closes every shard.
func (s *Sharded) Close() error {
	var first error
	for name, f := range s.shards {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
		delete(s.shards, name)
	}
	return first
}
