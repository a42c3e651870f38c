package report

import "math"

// DefaultBins is the number of bins NewHistogram uses when asked for fewer than one.
const DefaultBins = 64

// Histogram counts values in equal-width bins over [Min, Max]: bin i holds, up to the
// rounding of Binning, the values v with Min + i·w <= v < Min + (i+1)·w, where
// w = (Max-Min)/len(Counts), and the last bin also holds v == Max. When every value is
// equal, Min == Max and they are all in Counts[0]. NaN and ±Inf are not binned;
// NonFinite counts them. A deferred histogram (Deferred) has no Counts until Fill.
type Histogram struct {
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	Counts    []int64 `json:"counts"`
	NonFinite int64   `json:"non_finite,omitempty"`

	deferred *deferred // how to compute Counts and NonFinite; nil once they are known
}

// NewHistogram bins values into bins equal-width bins over their finite range. It reads
// values twice (range, then counts) and allocates only the counts. With no finite value,
// Min and Max are 0 and every count is 0.
func NewHistogram(values []float32, bins int) *Histogram {
	if bins < 1 {
		bins = DefaultBins
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		lo = math.Min(lo, f)
		hi = math.Max(hi, f)
	}
	if lo > hi { // no finite value
		lo, hi = 0, 0
	}
	h := &Histogram{Min: lo, Max: hi, Counts: make([]int64, bins)}
	h.Add(values)
	return h
}

// Add counts more values into the existing bins, as Binning assigns them. Values outside
// [Min, Max] go to the first or last bin, so a histogram built from a range known in
// advance (an observer's) can be filled in one pass.
func (h *Histogram) Add(values []float32) {
	if len(h.Counts) == 0 {
		return
	}
	b := h.Binning()
	for _, v := range values {
		if v-v != 0 { // NaN or ±Inf
			h.NonFinite++
			continue
		}
		h.Counts[b.Bin(v)]++
	}
}

// Binning is how a histogram assigns a value to a bin. Add uses it; a kernel that counts
// values in the same pass as other work (quantize's statistics) uses the same fields and
// so gets the same counts.
//
// In the float32 form (F32 true), the one every histogram of finite float32 data with a
// representable width uses, the bin of v is
//
//	f := (v - Lo) * Inv      // float32 arithmetic; Lo = float32(Min), Inv = float32(n / float32(Max-Min))
//	bin = 0 if !(f > 0), Last if f >= Last, else int(f)
//
// one subtraction and one multiplication instead of a float64 division. Near a bin edge
// the rounding may put v in the neighbouring bin, never further; for v in [Min, Max],
// f >= 0 and the bin is min(int(f), Last). When Min == Max, Inv is 0 and every value is
// in bin 0. When the float32 form cannot hold the range (Max-Min or its inverse
// overflows float32, or Min or Max is not a finite float32), F32 is false and the bin is
// ⌊(v-Min)/w⌋ in float64, clamped the same way.
type Binning struct {
	Lo, Inv float32
	Last    int
	F32     bool
	lastF   float32
	min     float64
	max     float64
	width   float64
}

// Binning returns the histogram's bin assignment.
func (h *Histogram) Binning() Binning {
	n := len(h.Counts)
	b := Binning{Last: n - 1, lastF: float32(n - 1), min: h.Min, max: h.Max, width: (h.Max - h.Min) / float64(n)}
	lo, hi := float32(h.Min), float32(h.Max)
	d := hi - lo
	if n == 0 || lo-lo != 0 || hi-hi != 0 || d-d != 0 || !(d >= 0) {
		return b
	}
	b.Lo, b.F32 = lo, true
	if d > 0 {
		inv := float32(float64(n) / float64(d))
		if inv-inv != 0 || inv < smallestNormal32 {
			return Binning{Last: b.Last, lastF: b.lastF, min: b.min, max: b.max, width: b.width}
		}
		b.Inv = inv
	}
	return b
}

// smallestNormal32 is the smallest normal float32, 2^-126; a subnormal Inv would lose
// precision.
const smallestNormal32 = 0x1p-126

// Bin returns the bin of a finite value.
func (b Binning) Bin(v float32) int {
	if b.F32 {
		f := (v - b.Lo) * b.Inv
		switch {
		case !(f > 0):
			return 0
		case f >= b.lastF:
			return b.Last
		}
		return int(f)
	}
	x := float64(v)
	switch {
	case !(b.width > 0) || x <= b.min:
		return 0
	case x >= b.max:
		// Far outside a narrow range the quotient below would overflow int.
		return b.Last
	}
	return min(int((x-b.min)/b.width), b.Last)
}

// Total is the number of binned values.
func (h *Histogram) Total() int64 {
	var t int64
	for _, c := range h.Counts {
		t += c
	}
	return t
}

// Rebin merges adjacent bins so that at most bins remain, for display. Bin i of the result
// sums the source bins [i·n/bins, (i+1)·n/bins); when n is not a multiple of bins the
// merged bins differ in width by one source bin. The receiver is unchanged.
func (h *Histogram) Rebin(bins int) *Histogram {
	n := len(h.Counts)
	out := &Histogram{Min: h.Min, Max: h.Max, NonFinite: h.NonFinite}
	if bins < 1 || n <= bins {
		out.Counts = append([]int64(nil), h.Counts...)
		return out
	}
	out.Counts = make([]int64, bins)
	for i := range bins {
		for _, c := range h.Counts[i*n/bins : (i+1)*n/bins] {
			out.Counts[i] += c
		}
	}
	return out
}
