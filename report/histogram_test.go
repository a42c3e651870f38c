package report

import (
	"math"
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
