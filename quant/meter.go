package quant

import "github.com/qscript-dev/qscript/internal/parallel"

// Meter gathers the figures of one quantized weight measured in pieces on several
// workers: each piece's error sums, merged in piece order so that the result does not
// depend on scheduling, and each worker's histogram counts, summed. A piece is measured
// with ErrorSums.Add, AddCodes and AddFloats (or a StatsAcc) into the counts of the worker
// that runs it; Result is then what the reference loop over the whole weight gives, up to
// float64 summation order.
type Meter struct {
	sums   []ErrorSums
	counts [][]int64 // by worker, each bins+1 long
	bins   int
}

// NewMeter returns a meter for pieces pieces and a histogram of bins bins.
func NewMeter(pieces, bins int) *Meter {
	return &Meter{sums: make([]ErrorSums, pieces), counts: make([][]int64, parallel.Workers()), bins: bins}
}

// Counts returns the histogram counts of worker (as parallel.For numbers them): one more
// than the bins, because the float32 bin formula puts v == Max there when its rounding
// gives int(f) == bins (Result moves it to the last bin). Each worker allocates and
// writes only its own.
func (m *Meter) Counts(worker int) []int64 {
	if m.counts[worker] == nil {
		m.counts[worker] = make([]int64, m.bins+1)
	}
	return m.counts[worker]
}

// SetPiece records the error sums of piece i.
func (m *Meter) SetPiece(i int, s ErrorSums) { m.sums[i] = s }

// Result returns the error metrics of every piece and the histogram counts (bins long).
func (m *Meter) Result() (Errors, []int64) {
	var total ErrorSums
	for _, p := range m.sums { // piece order: the result does not depend on scheduling
		total.Merge(p)
	}
	counts := make([]int64, m.bins)
	for _, c := range m.counts {
		for i, k := range c {
			counts[min(i, m.bins-1)] += k
		}
	}
	return total.Errors(), counts
}
