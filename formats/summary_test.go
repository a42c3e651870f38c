package formats

import (
	"encoding/json"
	"testing"
)

func TestSummarize(t *testing.T) {
	f, err := Open("safetensors/testdata/real/all-dtypes.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := Summarize(f)
	if s.TotalTensors != 16 || s.Format != "safetensors" {
		t.Fatalf("%d tensors, format %q", s.TotalTensors, s.Format)
	}
	var sum uint64
	for _, tot := range s.Totals {
		sum += tot.Bytes
	}
	if sum != s.TotalBytes {
		t.Errorf("totals add to %d, TotalBytes %d", sum, s.TotalBytes)
	}
	byName := map[string]TensorSummary{}
	for _, ts := range s.Tensors {
		byName[ts.Name] = ts
	}
	if b := byName["f64"].Bytes; b != 2*3*8 {
		t.Errorf("f64 bytes %d", b)
	}
	if sc := byName["scalar"]; sc.Bytes != 4 || sc.Shape == nil || len(sc.Shape) != 0 {
		t.Errorf("scalar %+v", sc)
	}
	var q struct {
		Scheme string   `json:"scheme"`
		Layers []string `json:"layers"`
	}
	if err := json.Unmarshal(s.Quantization, &q); err != nil || q.Scheme != "int8" {
		t.Errorf("quantization record %s: %v", s.Quantization, err)
	}
	if s.QuantizationConfig != nil {
		t.Errorf("quantization_config %s", s.QuantizationConfig)
	}
}

func TestJSONRecordKeepsNonJSONAsString(t *testing.T) {
	got := jsonRecord(map[string]string{"quantization": "int8 {"}, "quantization")
	if string(got) != `"int8 {"` {
		t.Errorf("got %s", got)
	}
}
