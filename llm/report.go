package llm

import (
	"fmt"
	"path/filepath"

	"github.com/qscript-dev/qscript/report"
)

// Report returns the written folder's report: every module with a weight, quantized ones
// with their scheme (QDType), config group and weight error; at LLM scale the report
// leads with the worst layers and the totals per group and scheme (report.Report.Large).
func (p *Planned) Report(res *Result) *report.Report {
	r := &report.Report{
		Title:  "llm: " + filepath.Base(p.Folder.Dir),
		Input:  p.Folder.Dir,
		Output: res.Dir,
		Scheme: p.Scheme(),
	}
	stats := map[string]LayerStats{}
	for _, st := range res.Layers {
		stats[st.Layer] = st
	}
	var layerBytes int64
	for _, lp := range p.Layers {
		l := lp.Layer
		n := int64(l.Shape[0]) * int64(max(1, numelTail(l.Shape))) * int64(l.DType.Size())
		rl := report.Layer{Name: l.Name, Type: l.Type, Shape: l.Shape, DType: l.DType.String(), BytesBefore: n, BytesAfter: n}
		layerBytes += n
		if st, ok := stats[l.Name]; ok && lp.Group != nil {
			w := lp.Group.Scheme.Weights
			rl.Quantized, rl.QDType, rl.Group = true, lp.Group.Scheme.Name, lp.Group.Name
			rl.Granularity = "per_channel(axis=0)"
			if w.Strategy == "group" {
				rl.Granularity = fmt.Sprintf("per_group(%d)", w.GroupSize)
			}
			rl.SQNR, rl.MSE, rl.MaxAbsErr, rl.Cosine = st.SQNR, st.MSE, st.MaxErr, st.Cosine
			rl.ScaleMin, rl.ScaleMax = st.ScaleMin, st.ScaleMax
			rl.BytesAfter = st.OutBytes
		} else {
			rl.Reason = lp.Reason
		}
		r.Layers = append(r.Layers, rl)
	}
	r.OtherBytes = res.InBytes - layerBytes
	r.Warnings = append(r.Warnings, p.Warnings...)
	r.Finish()
	return r
}

func numelTail(shape []int) int {
	n := 1
	for _, d := range shape[1:] {
		n *= d
	}
	return n
}

// Scheme is the report's scheme line: the groups' schemes and formats.
func (p *Planned) Scheme() string {
	s := ""
	for i, g := range p.Groups {
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprintf("%s %s (%s, compressed-tensors numerics)", g.Name, g.Scheme.Name, g.Scheme.Format())
	}
	return s
}
