package formats

import (
	"cmp"
	"encoding/json"
	"math/bits"
	"slices"
	"strings"
)

// Summary describes a checkpoint without reading tensor data: what `qscript inspect`
// prints and what its --json output holds.
type Summary struct {
	File         string            `json:"file"`
	Format       string            `json:"format"`
	Tensors      []TensorSummary   `json:"tensors"`
	Totals       []DTypeTotal      `json:"totals"`
	TotalTensors int               `json:"total_tensors"`
	TotalBytes   uint64            `json:"total_bytes"`
	Metadata     map[string]string `json:"metadata"`
	// Quantization and QuantizationConfig hold the metadata records of those names (the
	// qscript record and the compressed-tensors config) as JSON, when present. A value
	// that is not valid JSON is kept as a JSON string.
	Quantization       json.RawMessage `json:"quantization,omitempty"`
	QuantizationConfig json.RawMessage `json:"quantization_config,omitempty"`
}

// TensorSummary is one tensor's record; Bytes is numel × dtype size.
type TensorSummary struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	Bytes uint64 `json:"bytes"`
}

// DTypeTotal counts the tensors and bytes of one dtype.
type DTypeTotal struct {
	DType   string `json:"dtype"`
	Tensors int    `json:"tensors"`
	Bytes   uint64 `json:"bytes"`
}

// QuantizationKeys are the metadata keys whose values are JSON quantization records.
var QuantizationKeys = []string{"quantization", "quantization_config"}

// Summarize lists f's tensors, totals by dtype (largest first) and metadata. It reads no
// tensor data.
func Summarize(f *File) Summary {
	s := Summary{File: f.Path, Format: f.Format, Metadata: f.Metadata(), Tensors: []TensorSummary{}, Totals: []DTypeTotal{}}
	if s.Metadata == nil {
		s.Metadata = map[string]string{}
	}
	totals := map[string]int{}
	if st, ok := f.Model.(storedTensors); ok {
		for _, ts := range st.StoredTensors() {
			s.add(totals, ts)
		}
		s.sortTotals()
		return s
	}
	for _, info := range f.Tensors() {
		n := uint64(info.DType.Size())
		for _, d := range info.Shape {
			hi, lo := bits.Mul64(n, uint64(d))
			if hi != 0 {
				lo = ^uint64(0) // readers reject such shapes; saturate rather than wrap
			}
			n = lo
		}
		s.add(totals, TensorSummary{Name: info.Name, DType: info.DType.String(), Shape: slices.Clone(info.Shape), Bytes: n})
	}
	s.sortTotals()
	return s
}

// storedTensors is implemented by models whose stored types tensor.DType cannot name
// (GGUF's block quants): Summarize reports those types and sizes.
type storedTensors interface{ StoredTensors() []TensorSummary }

func (s *Summary) add(totals map[string]int, t TensorSummary) {
	if t.Shape == nil {
		t.Shape = []int{}
	}
	s.Tensors = append(s.Tensors, t)
	i, ok := totals[t.DType]
	if !ok {
		i = len(s.Totals)
		totals[t.DType] = i
		s.Totals = append(s.Totals, DTypeTotal{DType: t.DType})
	}
	s.Totals[i].Tensors++
	s.Totals[i].Bytes += t.Bytes
	s.TotalTensors++
	s.TotalBytes += t.Bytes
}

func (s *Summary) sortTotals() {
	slices.SortStableFunc(s.Totals, func(a, b DTypeTotal) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), strings.Compare(a.DType, b.DType))
	})
	s.Quantization = jsonRecord(s.Metadata, "quantization")
	s.QuantizationConfig = jsonRecord(s.Metadata, "quantization_config")
}

func jsonRecord(meta map[string]string, key string) json.RawMessage {
	v, ok := meta[key]
	if !ok {
		return nil
	}
	if json.Valid([]byte(v)) {
		return json.RawMessage(v)
	}
	b, _ := json.Marshal(v) // marshalling a string cannot fail
	return b
}
