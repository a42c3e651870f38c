package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A deferred histogram renders (JSON, HTML, json.Marshal) exactly as the histogram
// computed at once from the same values, computes its counts once for all clones, and its
// counter's error fails the renderings with the layer's name.
func TestDeferredHistogram(t *testing.T) {
	values := []float32{-1.5, -0.25, 0, 0.125, 0.5, 2, 2, 3.75}
	eager := NewHistogram(values, 16)
	runs := 0
	lazy := Deferred(eager.Min, eager.Max, 16, func(h *Histogram) error {
		runs++
		if len(h.Counts) != 16 || h.Min != eager.Min || h.Max != eager.Max {
			t.Errorf("counter given %+v", h)
		}
		h.Add(values)
		return nil
	})
	if !lazy.Pending() || lazy.Counts != nil || eager.Pending() {
		t.Fatalf("pending %v (counts %v), eager pending %v", lazy.Pending(), lazy.Counts, eager.Pending())
	}
	report := func(h *Histogram) *Report {
		r := &Report{Title: "t", Layers: []Layer{{Name: "fc", Type: "Linear", Shape: []int{2, 4}, Quantized: true, Histogram: h}}}
		r.Finish()
		return r
	}
	want, lr := report(eager), report(lazy)
	clone := lr.Clone()
	for _, render := range []func(*Report) ([]byte, error){
		func(r *Report) ([]byte, error) { return json.Marshal(r) },
		func(r *Report) ([]byte, error) { var b bytes.Buffer; err := r.WriteJSON(&b); return b.Bytes(), err },
		func(r *Report) ([]byte, error) { var b bytes.Buffer; err := r.WriteHTML(&b); return b.Bytes(), err },
	} {
		w, err := render(want)
		if err != nil || !bytes.Contains(w, []byte("fc")) {
			t.Fatal(err)
		}
		for _, r := range []*Report{lr, clone} {
			g, err := render(r)
			if err != nil || !bytes.Equal(g, w) {
				t.Fatalf("deferred histogram renders %d bytes (%v), the computed one %d", len(g), err, len(w))
			}
		}
	}
	if runs != 1 || lr.Layers[0].Histogram.Pending() || clone.Layers[0].Histogram.Pending() {
		t.Errorf("counter ran %d times; pending after rendering: %v %v", runs, lr.Layers[0].Histogram.Pending(), clone.Layers[0].Histogram.Pending())
	}

	failing := report(Deferred(0, 1, 4, func(*Histogram) error { return errors.New("source closed") }))
	var b bytes.Buffer
	for _, err := range []error{failing.WriteJSON(&b), failing.WriteHTML(&b), failing.FillHistograms()} {
		if err == nil || !strings.Contains(err.Error(), `layer "fc"`) || !strings.Contains(err.Error(), "source closed") {
			t.Errorf("error %v", err)
		}
	}
	if _, err := json.Marshal(failing); err == nil {
		t.Error("json.Marshal of a failing deferred histogram succeeded")
	}
}
