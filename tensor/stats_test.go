package tensor

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"testing"
)

// TestStatsMatchTorch compares Stats with torch's min, max, abs().max(), mean, std and sum
// of the same tensors cast to float64 (tensor/testdata/stats.json, written by
// scripts/fixtures/tensor_stats.py). Extremes are exact; the sums within 1e-12 relative,
// since torch adds pairwise and Stats in order.
func TestStatsMatchTorch(t *testing.T) {
	b, err := os.ReadFile("testdata/stats.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixture struct {
		Cases []struct {
			Name, DType, Data string
			Shape             []int
			Count             int
			Min, Max, AbsMax  *string
			Sum, Mean, Std    *string
		}
	}
	if err := json.Unmarshal(b, &fixture); err != nil {
		t.Fatal(err)
	}
	if len(fixture.Cases) < 10 {
		t.Fatalf("%d cases; regenerate the fixture", len(fixture.Cases))
	}
	for _, c := range fixture.Cases {
		dt, err := ParseDType(c.DType)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := hex.DecodeString(c.Data)
		if err != nil {
			t.Fatal(err)
		}
		x, err := FromBytes(dt, c.Shape, raw)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		got := x.Stats()
		if got.Count != c.Count {
			t.Errorf("%s: count %d, torch %d", c.Name, got.Count, c.Count)
		}
		for _, f := range []struct {
			stat  string
			got   float64
			torch *string
			exact bool
		}{
			{"min", got.Min, c.Min, true}, {"max", got.Max, c.Max, true}, {"absmax", got.AbsMax, c.AbsMax, true},
			{"sum", got.Sum, c.Sum, false}, {"mean", got.Mean, c.Mean, false}, {"std", got.Std, c.Std, false},
		} {
			if f.torch == nil { // torch raises (min of an empty tensor): Stats gives NaN
				if !math.IsNaN(f.got) {
					t.Errorf("%s: %s %v, want NaN where torch raises", c.Name, f.stat, f.got)
				}
				continue
			}
			want := f64FromHex(t, *f.torch)
			switch {
			case math.IsNaN(want) || math.IsNaN(f.got):
				if math.IsNaN(want) != math.IsNaN(f.got) {
					t.Errorf("%s: %s %v, torch %v", c.Name, f.stat, f.got, want)
				}
			case f.exact || math.IsInf(want, 0):
				if f.got != want {
					t.Errorf("%s: %s %v, torch %v", c.Name, f.stat, f.got, want)
				}
			default:
				if math.Abs(f.got-want) > 1e-12*math.Max(1, math.Abs(want)) {
					t.Errorf("%s: %s %.17g, torch %.17g", c.Name, f.stat, f.got, want)
				}
			}
		}
	}
}

// TestStatsOfView: a strided view is summarized in its own C order, not its storage's.
func TestStatsOfView(t *testing.T) {
	x := FromF32([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	v := &Tensor{DType: F32, Shape: []int{3}, Strides: []int{2}, Offset: 0, Data: x.Data}
	s := v.Stats() // 1, 3, 5
	if s.Count != 3 || s.Min != 1 || s.Max != 5 || s.Sum != 9 || s.Mean != 3 || s.Std != 2 {
		t.Fatalf("stats of a strided view %+v", s)
	}
}

func f64FromHex(t *testing.T, s string) float64 {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 8 {
		t.Fatalf("bad float64 hex %q", s)
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}
