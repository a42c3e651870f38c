package quantize

import (
	"fmt"
	"math"

	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// Codes are integer codes chosen outside round to nearest (GPTQ) for one selected weight,
// in the weight's C order, with the qparams they were chosen with: scales as stored and
// zero points in the scheme's own range (unsigned, not yet shifted to signed).
type Codes struct {
	Codes []int32
	P     *quant.QParams
}

// IntScheme is the integer scheme every selected weight takes, what a quantizer outside
// this package must reproduce for SetCodes: the quant scheme, the group size along a row
// (0: none) and per-channel (true) or per-tensor scales without groups. ok is false for
// the cast and fp8 schemes.
func (q *WeightPlan) IntScheme() (s quant.Scheme, groupSize int, perChannel, ok bool) {
	if q.ws.kind != kindInt {
		return s, 0, false, false
	}
	return q.ws.scheme, q.ws.groupSize, q.ws.perChannel, true
}

// StoredScale is s as the output stores a scale of a weight of dtype weight (the weight's
// dtype for f16/bf16 weights, else float32).
func StoredScale(s float32, weight tensor.DType) float32 { return roundScale(s, scaleDType(weight)) }

// SetCodes makes Save write c for the selected weight of layer name in place of its round to
// nearest codes (the statistics and the fake layout follow them). The scale and zero-point
// layout must be what the scheme gives the layer.
func (q *WeightPlan) SetCodes(name string, c Codes) error {
	var d *layer.Decision
	for i := range q.decisions {
		if q.decisions[i].Layer.Name == name && q.decisions[i].Selected {
			d = &q.decisions[i]
		}
	}
	if d == nil || q.ws.kind != kindInt || q.ws.unsupported(d.Layer) != "" {
		return fmt.Errorf("set codes: %q is not a layer this plan quantizes to integers", name)
	}
	n := numel(d.Layer.Shape)
	idx := newParamIndex(q.ws, d.Layer, n)
	qt := q.ws.scheme.QType
	switch {
	case len(c.Codes) != n:
		return fmt.Errorf("set codes: layer %q: %d codes for %d weights", name, len(c.Codes), n)
	case c.P == nil || len(c.P.Scale) != idx.count(n) || len(c.P.ZeroPoint) != len(c.P.Scale):
		return fmt.Errorf("set codes: layer %q: want %d scales and zero points", name, idx.count(n))
	}
	for _, v := range c.Codes {
		if v < qt.Min || v > qt.Max {
			return fmt.Errorf("set codes: layer %q: code %d outside %s's %d..%d", name, v, q.ws.dtype, qt.Min, qt.Max)
		}
	}
	for _, s := range c.P.Scale {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("set codes: layer %q: scale %g is not a positive number", name, s)
		}
	}
	q.codesMu.Lock()
	defer q.codesMu.Unlock()
	if q.codes == nil {
		q.codes = map[string]Codes{}
	}
	q.codes[d.Layer.Weight] = c
	q.mu.Lock()
	q.report = nil
	q.mu.Unlock()
	return nil
}

// quantizeSelected quantizes a selected weight: its codes from SetCodes, or round to
// nearest.
func (q *WeightPlan) quantizeSelected(w *workspace, l layer.Layer, t *tensor.Tensor) (*layerWork, error) {
	lw, err := q.presetWork(w, l, t)
	if lw != nil || err != nil {
		return lw, err
	}
	return w.quantizeLayer(q.ws, l, t)
}

// hasCodes reports whether SetCodes set the codes of weight.
func (q *WeightPlan) hasCodes(weight string) bool {
	q.codesMu.RLock()
	defer q.codesMu.RUnlock()
	_, ok := q.codes[weight]
	return ok
}

// presetWork is the layerWork of a weight with codes set by SetCodes, or nil.
func (q *WeightPlan) presetWork(w *workspace, l layer.Layer, t *tensor.Tensor) (*layerWork, error) {
	q.codesMu.RLock()
	c, ok := q.codes[l.Weight]
	q.codesMu.RUnlock()
	if !ok {
		return nil, nil
	}
	x, err := w.floats(t)
	if err != nil {
		return nil, err
	}
	lw := &layerWork{ws: q.ws, layer: l, x: x, idx: newParamIndex(q.ws, l, len(x)), p: c.P}
	w.codes = grow(w.codes, len(x))
	lw.codes = w.codes
	for i, v := range c.Codes {
		lw.codes[i] = int8(v - q.ws.shift)
	}
	return lw, nil
}

// AddWarning adds msg to the plan's warnings (and the report's).
func (q *WeightPlan) AddWarning(msg string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.warn("%s", msg)
}
