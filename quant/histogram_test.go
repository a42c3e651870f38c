package quant

import (
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// torchHistFixture is quant/testdata/hist_torch.json.gz, written by
// scripts/fixtures/quant_hist_torch.py from torch 1.13's HistogramObserver.
type torchHistFixture struct {
	Cases []struct {
		Name    string
		Batches []struct {
			Offset int
			Len    int
		}
		Min, Max  uint32
		Hist      []uint32
		SearchMin uint32      `json:"search_min"`
		SearchMax uint32      `json:"search_max"`
		HistSum   uint32      `json:"hist_sum"`
		Errors    [][3]uint64 // start_bin, end_bin, float64 bits of the error
		Schemes   []struct {
			DType       string
			ReduceRange bool `json:"reduce_range"`
			Symmetric   bool
			Scale       uint32
			ZeroPoint   int32 `json:"zero_point"`
		}
	}
}

func loadTorchHistFixture(t *testing.T) (*torchHistFixture, []float32) {
	t.Helper()
	raw, err := readGzip("testdata/hist_torch.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	var fx torchHistFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	blob, err := os.ReadFile("testdata/hist_torch.bin")
	if err != nil {
		t.Fatal(err)
	}
	data := make([]float32, len(blob)/4)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(blob[4*i:]))
	}
	return &fx, data
}

func readGzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func f32hex(v float32) string { return fmt.Sprintf("%g (%#08x)", v, math.Float32bits(v)) }

// TestHistogramMatchesTorch feeds torch's batches to our Histogram and requires the
// state after the last batch, the searched range, and every scheme's scale (float32
// bits) and zero point to equal what torch 1.13's HistogramObserver produced.
func TestHistogramMatchesTorch(t *testing.T) {
	fx, data := loadTorchHistFixture(t)
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			for si, sc := range c.Schemes {
				q, err := ParseQType(sc.DType)
				if err != nil {
					t.Fatal(err)
				}
				s := Scheme{QType: q, Symmetric: sc.Symmetric, ReduceRange: sc.ReduceRange}
				h := NewHistogram(s)
				for _, b := range c.Batches {
					x := data[b.Offset : b.Offset+b.Len]
					if err := h.Observe(tensor.FromF32([]int{len(x)}, x)); err != nil {
						t.Fatal(err)
					}
				}
				if si == 0 {
					checkHistogramState(t, h, c.Min, c.Max, c.Hist, c.HistSum)
					checkErrorModel(t, h, c.Errors)
					lo, hi := h.SearchRange()
					if math.Float32bits(lo) != c.SearchMin || math.Float32bits(hi) != c.SearchMax {
						t.Errorf("search range [%s, %s], torch [%s, %s]", f32hex(lo), f32hex(hi),
							f32hex(math.Float32frombits(c.SearchMin)), f32hex(math.Float32frombits(c.SearchMax)))
					}
				}
				qp, err := h.QParams()
				if err != nil {
					t.Fatal(err)
				}
				if math.Float32bits(qp.Scale[0]) != sc.Scale || qp.ZeroPoint[0] != sc.ZeroPoint {
					t.Errorf("%s reduce_range=%v symmetric=%v: scale %s zp %d, torch scale %s zp %d",
						sc.DType, sc.ReduceRange, sc.Symmetric, f32hex(qp.Scale[0]), qp.ZeroPoint[0],
						f32hex(math.Float32frombits(sc.Scale)), sc.ZeroPoint)
				}
			}
		})
	}
}

func checkHistogramState(t *testing.T, h *Histogram, wantMin, wantMax uint32, wantHist []uint32, wantSum uint32) {
	t.Helper()
	lo, hi := h.Range()
	if math.Float32bits(lo[0]) != wantMin || math.Float32bits(hi[0]) != wantMax {
		t.Errorf("range [%s, %s], torch [%s, %s]", f32hex(lo[0]), f32hex(hi[0]),
			f32hex(math.Float32frombits(wantMin)), f32hex(math.Float32frombits(wantMax)))
	}
	if len(wantHist) != len(h.hist) {
		t.Fatalf("%d bins, torch %d", len(h.hist), len(wantHist))
	}
	bad := 0
	for i, w := range wantHist {
		if math.Float32bits(h.hist[i]) != w {
			if bad < 5 {
				t.Errorf("bin %d = %s, torch %s", i, f32hex(h.hist[i]), f32hex(math.Float32frombits(w)))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d bins differ from torch", bad, len(wantHist))
	}
	if got := torchSumF32(h.hist); math.Float32bits(got) != wantSum {
		t.Errorf("torch.sum emulation %s, torch %s", f32hex(got), f32hex(math.Float32frombits(wantSum)))
	}
}

// checkErrorModel compares _compute_quantization_error at the bins torch evaluated.
func checkErrorModel(t *testing.T, h *Histogram, calls [][3]uint64) {
	t.Helper()
	scratch := make([]float32, h.bins)
	for _, c := range calls {
		got := h.quantizationError(int(c[0]), int(c[1]), scratch)
		if math.Float64bits(got) != c[2] {
			t.Errorf("error model at bins [%d, %d] = %g, torch %g", c[0], c[1], got, math.Float64frombits(c[2]))
		}
	}
}
