package report

import (
	"fmt"
	"sync"
)

// A deferred histogram knows its range but not yet its counts: the producer would have to
// read the values a second time to bin them, so it leaves that to the first reader who
// needs them. Only the HTML and JSON renderings show histograms; the text table, Diff and
// History do not, so a report that is only printed never pays for them. WriteJSON and
// WriteHTML call FillHistograms first; an embedder reading Counts directly calls
// FillHistograms (or Histogram.Fill) itself.

// deferred is the computation behind a deferred histogram, shared by the histogram's
// clones (Report.Clone), so that it runs once whichever clone asks first.
type deferred struct {
	once   sync.Once
	count  func(h *Histogram) error
	result *Histogram
	err    error
}

// Deferred returns a histogram of bins bins over [min, max] (bins < 1: DefaultBins)
// whose counts are computed when first needed (Fill), by count: it receives a histogram
// with Min, Max and zeroed Counts and must add the values into it (Add, or the same
// Binning). count runs at most once, even for clones of the histogram; its error is
// returned by every Fill.
func Deferred(min, max float64, bins int, count func(h *Histogram) error) *Histogram {
	if bins < 1 {
		bins = DefaultBins
	}
	return &Histogram{Min: min, Max: max, deferred: &deferred{count: func(h *Histogram) error {
		h.Counts = make([]int64, bins)
		return count(h)
	}}}
}

// Pending reports whether h is a deferred histogram whose counts are not filled in yet
// (its Counts are nil until Fill).
func (h *Histogram) Pending() bool { return h != nil && h.deferred != nil }

// Fill computes the counts of a deferred histogram and stores them in h; on a histogram
// that has its counts (or nil) it does nothing. It modifies h: not concurrently with
// other uses of h.
func (h *Histogram) Fill() error {
	if !h.Pending() {
		return nil
	}
	filled, err := h.deferred.get(h)
	if err != nil {
		return err
	}
	h.Counts, h.NonFinite, h.deferred = filled.Counts, filled.NonFinite, nil
	return nil
}

// get runs the computation once and returns a copy of its counts for the caller.
func (d *deferred) get(h *Histogram) (*Histogram, error) {
	d.once.Do(func() {
		r := &Histogram{Min: h.Min, Max: h.Max}
		if d.err = d.count(r); d.err == nil {
			d.result = r
		}
		d.count = nil // drop what it holds (the producer's source) once done
	})
	if d.err != nil {
		return nil, d.err
	}
	return d.result.clone(), nil
}

// FillHistograms computes every deferred histogram of r (Fill), layers first. It
// modifies r: not concurrently with other uses of r.
func (r *Report) FillHistograms() error {
	for i := range r.Layers {
		if err := r.Layers[i].Histogram.Fill(); err != nil {
			return fmt.Errorf("report: histogram of layer %q: %w", r.Layers[i].Name, err)
		}
	}
	for i := range r.Activations {
		if err := r.Activations[i].Histogram.Fill(); err != nil {
			return fmt.Errorf("report: histogram of activation %q: %w", r.Activations[i].Name, err)
		}
	}
	return nil
}
