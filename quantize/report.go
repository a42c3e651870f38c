package quantize

import (
	"context"
	"fmt"
	"slices"

	"github.com/qscript-dev/qscript/report"
	"github.com/qscript-dev/qscript/tensor"
)

// HistogramBins is the number of bins of each layer's weight histogram in the report.
const HistogramBins = report.DefaultBins

// Report measures what quantization does to every quantized weight and returns the
// filled report: one row per layer, quantized or left in float with the reason; bytes
// before and after in the compressed layout; the totals; warnings; the output path once
// saved. After a Save the statistics are already known (Save measures the weights it
// writes) and nothing is read, but for the histograms of the weights the streaming save
// read once: they are deferred (report.Deferred) and read from the source, which must
// still be open, when the report's FillHistograms (WriteJSON, WriteHTML) asks. Before any
// Save, Report makes one streaming pass over the selected weights (each read, quantized,
// measured and dropped). Both give the same figures. The result is cached: later calls return it without reading the model again,
// until SetInputQParams changes the plan. The caller may modify the returned report (set
// Title, Input); the cache keeps its own copy.
func (q *WeightPlan) Report(ctx context.Context) (*report.Report, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.report == nil {
		r, err := q.buildReport(ctx, nil)
		if err != nil {
			return nil, err
		}
		q.report = r
	}
	return q.report.Clone(), nil
}

// buildReport fills the report. A selected weight whose statistics are in measured (a
// Save that produced them on its way) is not read again; the others are read, quantized
// and measured here, one at a time.
func (q *WeightPlan) buildReport(ctx context.Context, measured map[string]*weightStats) (*report.Report, error) {
	r := &report.Report{Scheme: q.ws.String(), Output: q.output, Warnings: slices.Clone(q.warnings)}
	if q.srcPath != "" {
		r.Input = q.srcPath
	}
	infos := map[string]tensor.Info{}
	for _, info := range q.infos {
		infos[info.Name] = info
	}
	var missing []tensor.Info
	for _, d := range q.decisions {
		if d.Selected && measured[d.Layer.Weight] == nil {
			missing = append(missing, infos[d.Layer.Weight])
		}
	}
	var w *workspace
	if len(missing) > 0 {
		w = newWorkspace(q.src)
		w.reserve(missing, q.ws.kind == kindInt)
		defer w.release()
	}
	for _, d := range q.decisions {
		l := d.Layer
		row := report.Layer{Name: l.Name, Type: l.Type, Shape: slices.Clone(l.Shape), DType: l.DType.String(),
			Quantized: d.Selected, Reason: d.Reason}
		for _, name := range []string{l.Weight, l.Bias} {
			if info, ok := infos[name]; ok && name != "" {
				row.BytesBefore += bytesOf(info)
				for _, o := range q.outputInfos(info, LayoutCompressed) {
					row.BytesAfter += bytesOf(o)
				}
			}
		}
		if d.Selected {
			s := measured[l.Weight]
			if s == nil {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				var err error
				if s, err = q.measure(w, infos[l.Weight]); err != nil {
					return nil, err
				}
			}
			s.fill(&row)
			row.QDType = q.ws.dtype
			row.Granularity = q.ws.granularityLabel(l)
		}
		r.Layers = append(r.Layers, row)
	}
	var otherAfter int64
	for _, info := range q.infos {
		if q.byTensor[info.Name] != nil {
			continue
		}
		r.OtherBytes += bytesOf(info)
		for _, o := range q.outputInfos(info, LayoutCompressed) {
			otherAfter += bytesOf(o)
		}
	}
	r.Finish()
	if otherAfter != r.OtherBytes {
		// Finish counts the other tensors as unchanged; fp16/bf16 casts change them too.
		r.Totals.BytesAfter += otherAfter - r.OtherBytes
		r.Totals.Ratio = 0
		if r.Totals.BytesAfter > 0 {
			r.Totals.Ratio = float64(r.Totals.BytesBefore) / float64(r.Totals.BytesAfter)
		}
	}
	return r, nil
}

// measure reads and quantizes one selected weight and returns its statistics.
func (q *WeightPlan) measure(w *workspace, info tensor.Info) (*weightStats, error) {
	t, err := w.read(info)
	if err != nil {
		return nil, err
	}
	lw, err := q.quantizeSelected(w, q.byTensor[info.Name].decision.Layer, t)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", info.Name, err)
	}
	return lw.stats(HistogramBins), nil
}

func bytesOf(info tensor.Info) int64 {
	n, err := tensor.Numel(info.Shape)
	if err != nil {
		return 0
	}
	return int64(n) * int64(info.DType.Size())
}
