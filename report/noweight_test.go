package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// noWeightReport is a static report whose MatMul multiplies two activations: quantized,
// but with no weight to measure.
func noWeightReport() *Report {
	r := &Report{Title: "int8_static: attn.onnx", Input: "attn.onnx", Layers: []Layer{
		{Name: "/q/MatMul", Type: "MatMul", Shape: []int{64, 64}, DType: "F32", QDType: "int8",
			Granularity: "per_channel(axis=1)", Quantized: true,
			ScaleMin: 0.001, ScaleMax: 0.002, SQNR: 40.5, MSE: 2e-7, MaxAbsErr: 0.001, Cosine: 0.99996,
			BytesBefore: 16384, BytesAfter: 4352},
		{Name: "/scores/MatMul", Type: "MatMul", DType: "activation", QDType: "uint8",
			Granularity: "per_tensor", Quantized: true, NoWeight: true},
	}}
	r.Finish()
	return r
}

func TestNoWeightTable(t *testing.T) {
	got := noWeightReport().String()
	checkGolden(t, "noweight.table.golden", got)
	row := regexp.MustCompile(`(?m)^/scores/MatMul .*$`).FindString(got)
	if strings.Count(row, "—") != 5 || strings.Contains(row, "0.00") {
		t.Errorf("the layer without a weight shows figures: %q", row)
	}
}

func TestNoWeightJSON(t *testing.T) {
	r := noWeightReport()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct{ Layers []map[string]any }
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"scale_min", "scale_max", "sqnr_db", "mse", "max_abs_err", "cosine"} {
		if v, ok := doc.Layers[1][key]; !ok || v != nil {
			t.Errorf("%s: %v (present %v), want null", key, v, ok)
		}
		if doc.Layers[0][key] == nil {
			t.Errorf("%s of the layer with a weight is null", key)
		}
	}
	if doc.Layers[1]["no_weight"] != true {
		t.Errorf("no_weight: %v", doc.Layers[1]["no_weight"])
	}
	back, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip changed the report:\n%+v\n%+v", back, r)
	}
}

func TestNoWeightHTML(t *testing.T) {
	r := noWeightReport()
	page := renderHTML(t, r)
	checkWellFormed(t, page)
	row := regexp.MustCompile(`(?s)<tr>\s*<td class="name" title="/scores/MatMul">.*?</tr>`).FindString(page)
	if row == "" || strings.Count(row, "—") != 5 || strings.Contains(row, "0.00") {
		t.Errorf("table row: %q", row)
	}
	if !strings.Contains(page, "/scores/MatMul: — (no stored weight)") {
		t.Error("the chart does not say the layer has no weight")
	}
	// The median is that of the one layer with a weight, not pulled to 0 by the other.
	c := newSQNRChart(r.Layers)
	if !c.HasMedian || c.Median != 40.5 || c.Rows[1].BarW != 0 || c.HasOutliers {
		t.Errorf("chart: median %v (%v), row %+v", c.Median, c.HasMedian, c.Rows[1])
	}
}

func TestNoWeightDiff(t *testing.T) {
	prev, cur := noWeightReport(), noWeightReport()
	if d := Diff(prev, cur); d != "" {
		t.Errorf("identical reports differ: %q", d)
	}
	cur.Layers[1].SQNR = 12 // meaningless for a layer without a weight
	if d := Diff(prev, cur); d != "" {
		t.Errorf("a layer without a weight reported an SQNR change: %q", d)
	}
}
