package quant

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// ortPortFixture is quant/testdata/hist_ort.json, written by
// scripts/fixtures/quant_hist_ort_port.py: a numpy port of ONNX Runtime's calibrate.py
// (ORT's Python package cannot be installed here), run on single batches or on later
// batches inside the first one's range, where ORT's store-everything histograms and
// our streaming ones coincide.
type ortPortFixture struct {
	Cases []struct {
		Name    string
		Batches []struct {
			Offset int
			Len    int
		}
		Percentile []struct {
			Symmetric  bool
			Bins       int
			Percentile float64
			Min, Max   uint32
		}
		Entropy []struct {
			Bins          int
			QuantizedBins int `json:"quantized_bins"`
			Min, Max      uint32
			Best          int
			KL            uint32
		}
	}
}

func loadORTPortFixture(t *testing.T) (*ortPortFixture, []float32) {
	t.Helper()
	raw, err := os.ReadFile("testdata/hist_ort.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx ortPortFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	blob, err := os.ReadFile("testdata/hist_ort.bin")
	if err != nil {
		t.Fatal(err)
	}
	data := make([]float32, len(blob)/4)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(blob[4*i:]))
	}
	return &fx, data
}

func TestPercentileMatchesORTPort(t *testing.T) {
	fx, data := loadORTPortFixture(t)
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			for _, want := range c.Percentile {
				p, err := NewPercentileOptions(Scheme{QType: QInt8, Symmetric: true, Numerics: ORT},
					PercentileOptions{Percentile: want.Percentile, Bins: want.Bins, Signed: !want.Symmetric})
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range c.Batches {
					x := data[b.Offset : b.Offset+b.Len]
					if err := p.Observe(tensor.FromF32([]int{len(x)}, x)); err != nil {
						t.Fatal(err)
					}
				}
				lo, hi, err := p.ClippedRange()
				if err != nil {
					t.Fatal(err)
				}
				if math.Float32bits(lo) != want.Min || math.Float32bits(hi) != want.Max {
					t.Errorf("symmetric=%v bins=%d percentile=%v: range [%s, %s], ORT port [%s, %s]",
						want.Symmetric, want.Bins, want.Percentile, f32hex(lo), f32hex(hi),
						f32hex(math.Float32frombits(want.Min)), f32hex(math.Float32frombits(want.Max)))
				}
			}
		})
	}
}
