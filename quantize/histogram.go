package quantize

import (
	"fmt"

	"github.com/qscript-dev/qscript/internal/parallel"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/report"
	"github.com/qscript-dev/qscript/tensor"
)

// countValues bins the values of a source tensor into h, the deferred histogram of a
// weight the streaming save measured in one pass (see streamweight.go): it reads the
// tensor again in chunks, on every core with a chunk buffer each (memory bounded as in the
// save), and counts each value with the float32 bin formula of the statistics kernels
// (quant.CountBins), so that the counts are those the save would have binned with the
// range known in advance. Counts are integers: the order in
// which chunks are added does not matter. Each chunk's range is found too: values outside
// the range the save measured mean that the file changed since, an error rather than a
// wrong histogram.
func (q *WeightPlan) countValues(info tensor.Info, h *report.Histogram) error {
	s := &streamer{q: q, sections: sectionsOf(q.src)}
	c, ok, err := s.open(info, false)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("tensor %q: the source can no longer be read at positions", info.Name)
	}
	b := h.Binning()
	lo, hi := float32(h.Min), float32(h.Max)
	workers := parallel.Workers()
	spaces := make([]*workspace, workers)
	counts := make([][]int64, workers)
	err = parallel.For(c.chunks(), 4*c.n, func(i, w int) error {
		if spaces[w] == nil {
			spaces[w], counts[w] = newWorkspace(q.src), make([]int64, len(h.Counts)+1)
		}
		t, err := c.read(spaces[w], i)
		if err != nil {
			return err
		}
		x, err := spaces[w].floats(t)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", info.Name, err)
		}
		if clo, chi, err := quant.MinMaxOf(x); err != nil || clo < lo || chi > hi {
			return fmt.Errorf("tensor %q changed since it was quantized: its values are no longer those measured (range [%g, %g])", info.Name, lo, hi)
		}
		if !b.F32 { // not reached: the save measures such a weight again, binned
			(&report.Histogram{Min: h.Min, Max: h.Max, Counts: counts[w][:len(h.Counts)]}).Add(x)
			return nil
		}
		quant.CountBins(counts[w], x, b.Lo, b.Inv)
		return nil
	})
	if err != nil {
		return err
	}
	for _, wc := range counts {
		for i, k := range wc {
			// The float32 formula puts Max in bin len(Counts) when it rounds up: the last.
			h.Counts[min(i, len(h.Counts)-1)] += k
		}
	}
	return nil
}
