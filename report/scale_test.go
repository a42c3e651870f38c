package report

import (
	"fmt"
	"strings"
	"testing"
)

// TestLargeReport: at LLM scale the worst layers and the totals per group and scheme come
// first, and the HTML per-layer table starts collapsed.
func TestLargeReport(t *testing.T) {
	r := &Report{Title: "llm"}
	for i := range 50 {
		l := Layer{Name: fmt.Sprintf("model.layers.%d.mlp.down_proj", i), Type: "Linear", Shape: []int{8, 8}, DType: "BF16",
			Quantized: true, QDType: "W4A16", Group: "group_1", SQNR: 20 + float64(i%7), BytesBefore: 128, BytesAfter: 40}
		if i%5 == 0 {
			l.QDType, l.Group, l.SQNR = "W8A16", "group_0", 40-float64(i)/10
		}
		r.Layers = append(r.Layers, l)
	}
	r.Layers = append(r.Layers, Layer{Name: "lm_head", Type: "Linear", Shape: []int{8, 8}, DType: "BF16", Reason: "ignored (lm_head)"})
	r.Finish()
	if !r.Large() {
		t.Fatal("51 layers in two groups is not large")
	}
	worst := r.Worst(WorstCount)
	if len(worst) != 10 || worst[0].SQNR != 20 || worst[9].SQNR < worst[0].SQNR {
		t.Fatalf("worst %v", worst)
	}
	g := r.GroupTotals()
	if len(g) != 2 || g[0].Name != "group_0" || g[0].Layers != 10 || g[1].Layers != 40 || g[0].MinSQNR != 35.5 {
		t.Fatalf("group totals %+v", g)
	}
	var html strings.Builder
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	h := html.String()
	iw, ig, id, it := strings.Index(h, "Worst 10 layers"), strings.Index(h, "Totals per config group"), strings.Index(h, "<details"), strings.Index(h, "<h2>Layers</h2>")
	if iw < 0 || ig < iw || id < ig || it < id || strings.Contains(h, "<details open") {
		t.Fatalf("order: worst %d, groups %d, details %d, table %d", iw, ig, id, it)
	}
	text := r.String()
	if !strings.Contains(text, "worst 10 layers") || !strings.Contains(text, "totals per config group") ||
		strings.Index(text, "worst 10 layers") > strings.Index(text, "lm_head") {
		t.Fatalf("text report:\n%s", text)
	}
	small := &Report{Layers: r.Layers[1:4]}
	small.Finish()
	if small.Large() {
		t.Fatal("3 layers of one group is large")
	}
}
