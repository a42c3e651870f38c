package report

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

func nan() float64 { return math.NaN() }

func TestNewHistogram(t *testing.T) {
	nan32, inf32 := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name   string
		values []float32
		bins   int
		want   Histogram
	}{
		{"empty", nil, 3, Histogram{Counts: []int64{0, 0, 0}}},
		{"only NaN and Inf", []float32{nan32, inf32, -inf32}, 2, Histogram{Counts: []int64{0, 0}, NonFinite: 3}},
		{"constant", []float32{2.5, 2.5, 2.5}, 4, Histogram{Min: 2.5, Max: 2.5, Counts: []int64{3, 0, 0, 0}}},
		{"max lands in the last bin", []float32{0, 1, 2, 3, 4}, 4, Histogram{Min: 0, Max: 4, Counts: []int64{1, 1, 1, 2}}},
		{"NaN skipped and counted", []float32{-1, nan32, 1, 0.5, inf32}, 2, Histogram{Min: -1, Max: 1, Counts: []int64{1, 2}, NonFinite: 2}},
		{"bins below one use the default", []float32{1}, 0, Histogram{Min: 1, Max: 1, Counts: append([]int64{1}, make([]int64, DefaultBins-1)...)}},
		// float32 extremes: Max-Min overflows float32 but not the float64 arithmetic.
		{"full float32 range", []float32{-math.MaxFloat32, 0, math.MaxFloat32}, 2,
			Histogram{Min: -math.MaxFloat32, Max: math.MaxFloat32, Counts: []int64{1, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := NewHistogram(tc.values, tc.bins)
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got %+v, want %+v", *got, tc.want)
			}
			finite := int64(0)
			for _, v := range tc.values {
				if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
					finite++
				}
			}
			if got.Total() != finite {
				t.Errorf("Total %d, want %d", got.Total(), finite)
			}
		})
	}
}

func TestHistogramAddClampsOutOfRange(t *testing.T) {
	h := &Histogram{Min: 0, Max: 1, Counts: make([]int64, 4)}
	h.Add([]float32{-5, 0.3, 7})
	if want := []int64{1, 1, 0, 1}; !reflect.DeepEqual(h.Counts, want) {
		t.Errorf("got %v, want %v", h.Counts, want)
	}
	// Far outside a tiny range, (v-Min)/width exceeds every int.
	h = &Histogram{Min: 0, Max: 1e-40, Counts: make([]int64, 64)}
	h.Add([]float32{3e38, -3e38, 5e-41})
	if h.Counts[0] != 1 || h.Counts[63] != 1 || h.Total() != 3 {
		t.Errorf("tiny range: counts %v", h.Counts)
	}
}

func TestRebin(t *testing.T) {
	h := &Histogram{Min: -1, Max: 1, Counts: []int64{1, 2, 3, 4, 5, 6, 7}, NonFinite: 1}
	got := h.Rebin(3)
	want := &Histogram{Min: -1, Max: 1, Counts: []int64{1 + 2, 3 + 4, 5 + 6 + 7}, NonFinite: 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got.Total() != h.Total() {
		t.Error("rebinning lost counts")
	}
	same := h.Rebin(10)
	same.Counts[0] = 99
	if h.Counts[0] != 1 {
		t.Error("Rebin shares the receiver's counts")
	}
}

// float64Bin is the bin of v by the float64 division ⌊(v-Min)/w⌋.
func float64Bin(h *Histogram, v float32) int {
	w := (h.Max - h.Min) / float64(len(h.Counts))
	return max(0, min(int((float64(v)-h.Min)/w), len(h.Counts)-1))
}

func TestBinning(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	differAll := 0
	for _, r := range []struct{ lo, hi float64 }{{-1, 1}, {-0.0213, 0.0187}, {0.5, 3}, {-7e-5, 2e-5}, {100, 100.001}} {
		const bins = 64
		h := &Histogram{Min: float64(float32(r.lo)), Max: float64(float32(r.hi)), Counts: make([]int64, bins)}
		b := h.Binning()
		if !b.F32 || b.Lo != float32(r.lo) || b.Last != bins-1 {
			t.Fatalf("%v: %+v", r, b)
		}
		// Random values, every bin edge Min + i·w and its float32 neighbours, Min and Max.
		var values []float32
		for range 100000 {
			values = append(values, float32(h.Min+rng.Float64()*(h.Max-h.Min)))
		}
		for i := 0; i <= bins; i++ {
			e := float32(h.Min + float64(i)*(h.Max-h.Min)/bins)
			values = append(values, e, math.Nextafter32(e, -math.MaxFloat32), math.Nextafter32(e, math.MaxFloat32))
		}
		values = append(values, float32(h.Min), float32(h.Max))
		differ := 0
		for _, v := range values {
			got := b.Bin(v)
			// The documented float32 form, written out.
			f := (v - float32(h.Min)) * b.Inv
			want := 0
			if f > 0 {
				want = min(int(f), bins-1)
			}
			if got != want {
				t.Fatalf("%v: Bin(%v) = %d, the float32 form gives %d", r, v, got, want)
			}
			if v >= float32(h.Min) && v <= float32(h.Max) && min(int(f), bins-1) != got {
				t.Fatalf("%v: in range, Bin(%v) = %d is not min(int(f), last) = %d", r, v, got, min(int(f), bins-1))
			}
			// Never more than one bin from the float64 division.
			if d := got - float64Bin(h, v); d != 0 {
				differ++
				if d < -1 || d > 1 {
					t.Fatalf("%v: Bin(%v) = %d, float64 division %d", r, v, got, float64Bin(h, v))
				}
			}
		}
		if v := float32(h.Max); b.Bin(v) != bins-1 {
			t.Errorf("%v: Max in bin %d", r, b.Bin(v))
		}
		t.Logf("%v: %d of %d values binned one off the float64 division", r, differ, len(values))
		differAll += differ
	}
	if differAll == 0 {
		// Were the two forms always equal, a kernel could keep the float64 division.
		t.Error("the float32 form never differs from the float64 division on this data")
	}
	// The forms the float32 arithmetic cannot hold fall back to float64.
	for _, h := range []*Histogram{
		{Min: -math.MaxFloat32, Max: math.MaxFloat32, Counts: make([]int64, 2)}, // width overflows
		{Min: 0, Max: 1e-40, Counts: make([]int64, 64)},                         // inverse overflows
		{Min: math.Inf(-1), Max: 0, Counts: make([]int64, 4)},
		{Min: 1, Max: 0, Counts: make([]int64, 4)},
	} {
		if h.Binning().F32 {
			t.Errorf("[%g, %g]: float32 form", h.Min, h.Max)
		}
	}
	if b := (&Histogram{Min: 2, Max: 2, Counts: make([]int64, 8)}).Binning(); !b.F32 || b.Inv != 0 || b.Bin(1e30) != 0 || b.Bin(-1e30) != 0 {
		t.Errorf("constant range: %+v", b)
	}
}
