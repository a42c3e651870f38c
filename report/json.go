package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// MaxJSONSize bounds what ReadJSON accepts. A report for a model with a few thousand
// layers, histograms included, is a few megabytes.
const MaxJSONSize = 64 << 20

// WriteJSON writes r as indented JSON (two spaces). JSON has no Inf or NaN, so every float
// that is not finite is written as a string: "inf", "-inf" or "nan" (an exact layer has
// "sqnr_db": "inf"). Encoding therefore never fails on the report's own values. Deferred
// histograms are computed first (FillHistograms), which can fail.
func (r *Report) WriteJSON(w io.Writer) error {
	if err := r.FillHistograms(); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// ReadJSON reads a report written by WriteJSON. Unknown keys are ignored, so a newer
// report still reads; input larger than MaxJSONSize or with trailing data is an error.
func ReadJSON(rd io.Reader) (*Report, error) {
	lr := &io.LimitedReader{R: rd, N: MaxJSONSize + 1}
	dec := json.NewDecoder(lr)
	var r Report
	if err := dec.Decode(&r); err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("report: JSON larger than %d bytes", MaxJSONSize)
		}
		return nil, fmt.Errorf("report: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("report: trailing data after the JSON report")
	}
	return &r, nil
}

// jsonFloat is a float64 that survives JSON when it is not finite.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"nan"`), nil
	case math.IsInf(v, 1):
		return []byte(`"inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	s := string(b)
	switch s {
	case "null":
		return nil
	case `"nan"`:
		*f = jsonFloat(math.NaN())
		return nil
	case `"inf"`, `"+inf"`:
		*f = jsonFloat(math.Inf(1))
		return nil
	case `"-inf"`:
		*f = jsonFloat(math.Inf(-1))
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("want a number, \"inf\", \"-inf\" or \"nan\", got %s", s)
	}
	*f = jsonFloat(v)
	return nil
}

func optFloat(p *float64) *jsonFloat { return (*jsonFloat)(p) }

// Each type with float fields marshals through a shadow struct: the embedded plain copy
// supplies every field, and the outer jsonFloat fields, being shallower, replace the
// float fields of the same JSON name. Outer fields come after the embedded ones in the
// output, so a few non-float fields are repeated to keep the keys in a readable order.

// A layer without weight statistics (NoWeight) has null for each of them.
func (l Layer) MarshalJSON() ([]byte, error) {
	type plain Layer
	stat := func(v float64) *jsonFloat {
		if l.NoWeight {
			return nil
		}
		return (*jsonFloat)(&v)
	}
	return json.Marshal(struct {
		plain
		ScaleMin  *jsonFloat `json:"scale_min"`
		ScaleMax  *jsonFloat `json:"scale_max"`
		SQNR      *jsonFloat `json:"sqnr_db"`
		MSE       *jsonFloat `json:"mse"`
		MaxAbsErr *jsonFloat `json:"max_abs_err"`
		Cosine    *jsonFloat `json:"cosine"`
		Histogram *Histogram `json:"histogram,omitempty"` // last: the long part
	}{plain(l), stat(l.ScaleMin), stat(l.ScaleMax), stat(l.SQNR),
		stat(l.MSE), stat(l.MaxAbsErr), stat(l.Cosine), l.Histogram})
}

func (l *Layer) UnmarshalJSON(b []byte) error {
	type plain Layer
	v := struct {
		*plain
		ScaleMin  *jsonFloat `json:"scale_min"`
		ScaleMax  *jsonFloat `json:"scale_max"`
		SQNR      *jsonFloat `json:"sqnr_db"`
		MSE       *jsonFloat `json:"mse"`
		MaxAbsErr *jsonFloat `json:"max_abs_err"`
		Cosine    *jsonFloat `json:"cosine"`
	}{(*plain)(l), optFloat(&l.ScaleMin), optFloat(&l.ScaleMax), optFloat(&l.SQNR),
		optFloat(&l.MSE), optFloat(&l.MaxAbsErr), optFloat(&l.Cosine)}
	return json.Unmarshal(b, &v)
}

func (a Activation) MarshalJSON() ([]byte, error) {
	type plain Activation
	return json.Marshal(struct {
		plain
		Min   jsonFloat `json:"min"`
		Max   jsonFloat `json:"max"`
		Scale jsonFloat `json:"scale"`
		// ZeroPoint and QDType are repeated to keep them after the floats they qualify,
		// and Histogram to keep it last.
		ZeroPoint int32      `json:"zero_point"`
		QDType    string     `json:"qdtype"`
		Histogram *Histogram `json:"histogram,omitempty"`
	}{plain(a), jsonFloat(a.Min), jsonFloat(a.Max), jsonFloat(a.Scale), a.ZeroPoint, a.QDType, a.Histogram})
}

func (a *Activation) UnmarshalJSON(b []byte) error {
	type plain Activation
	v := struct {
		*plain
		Min   *jsonFloat `json:"min"`
		Max   *jsonFloat `json:"max"`
		Scale *jsonFloat `json:"scale"`
	}{(*plain)(a), optFloat(&a.Min), optFloat(&a.Max), optFloat(&a.Scale)}
	return json.Unmarshal(b, &v)
}

func (t Totals) MarshalJSON() ([]byte, error) {
	type plain Totals
	return json.Marshal(struct {
		plain
		Ratio jsonFloat `json:"ratio"`
	}{plain(t), jsonFloat(t.Ratio)})
}

func (t *Totals) UnmarshalJSON(b []byte) error {
	type plain Totals
	v := struct {
		*plain
		Ratio *jsonFloat `json:"ratio"`
	}{(*plain)(t), optFloat(&t.Ratio)}
	return json.Unmarshal(b, &v)
}

func (e Eval) MarshalJSON() ([]byte, error) {
	type plain Eval
	return json.Marshal(struct {
		plain
		OutputSQNR    jsonFloat  `json:"output_sqnr_db"`
		Top1Agreement jsonFloat  `json:"top1_agreement"`
		FloatAccuracy *jsonFloat `json:"float_accuracy,omitempty"`
		QuantAccuracy *jsonFloat `json:"quant_accuracy,omitempty"`
	}{plain(e), jsonFloat(e.OutputSQNR), jsonFloat(e.Top1Agreement),
		optFloat(e.FloatAccuracy), optFloat(e.QuantAccuracy)})
}

func (e *Eval) UnmarshalJSON(b []byte) error {
	type plain Eval
	v := struct {
		*plain
		OutputSQNR    *jsonFloat `json:"output_sqnr_db"`
		Top1Agreement *jsonFloat `json:"top1_agreement"`
		FloatAccuracy *jsonFloat `json:"float_accuracy"`
		QuantAccuracy *jsonFloat `json:"quant_accuracy"`
	}{plain: (*plain)(e), OutputSQNR: optFloat(&e.OutputSQNR), Top1Agreement: optFloat(&e.Top1Agreement)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	e.FloatAccuracy = (*float64)(v.FloatAccuracy)
	e.QuantAccuracy = (*float64)(v.QuantAccuracy)
	return nil
}

// MarshalJSON writes h with its counts, computing those of a deferred histogram (without
// storing them in h: json.Marshal of a report works as WriteJSON does).
func (h Histogram) MarshalJSON() ([]byte, error) {
	if h.Pending() {
		filled, err := h.deferred.get(&h)
		if err != nil {
			return nil, err
		}
		h.Counts, h.NonFinite = filled.Counts, filled.NonFinite
	}
	type plain Histogram
	return json.Marshal(struct {
		plain
		Min       jsonFloat `json:"min"`
		Max       jsonFloat `json:"max"`
		NonFinite int64     `json:"non_finite,omitempty"`
		Counts    []int64   `json:"counts"`
	}{plain(h), jsonFloat(h.Min), jsonFloat(h.Max), h.NonFinite, h.Counts})
}

func (h *Histogram) UnmarshalJSON(b []byte) error {
	type plain Histogram
	v := struct {
		*plain
		Min *jsonFloat `json:"min"`
		Max *jsonFloat `json:"max"`
	}{(*plain)(h), optFloat(&h.Min), optFloat(&h.Max)}
	return json.Unmarshal(b, &v)
}
