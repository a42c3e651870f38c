package report

import (
	"bytes"
	"encoding/xml"
	"html"
	"io"
	"math"
	"strings"
	"testing"
)

// checkWellFormed parses the page as XML: the template writes every element closed, so a
// stray or unbalanced tag shows up as a parse error.
func checkWellFormed(t *testing.T, page string) (elements map[string]int) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(page))
	dec.Strict = true
	elements = map[string]int{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return elements
		}
		if err != nil {
			line, _ := dec.InputPos()
			lines := strings.Split(page, "\n")
			t.Fatalf("page is not well-formed: %v\nline %d: %s", err, line, lines[min(line, len(lines))-1])
		}
		if se, ok := tok.(xml.StartElement); ok {
			elements[se.Name.Local]++
		}
	}
}

func renderHTML(t *testing.T, r *Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestHTMLSelfContained(t *testing.T) {
	r := sampleReport()
	page := renderHTML(t, r)
	elements := checkWellFormed(t, page)
	// The SQNR chart, one sparkline per layer histogram and per activation histogram.
	if got, want := elements["svg"], 1+2+1; got != want {
		t.Errorf("%d svg elements, want %d", got, want)
	}
	for _, l := range r.Layers {
		if !strings.Contains(page, ">"+l.Name+"<") {
			t.Errorf("layer %q missing", l.Name)
		}
	}
	for _, a := range r.Activations {
		if !strings.Contains(page, ">"+html.EscapeString(a.Name)+"<") {
			t.Errorf("activation %q missing", a.Name)
		}
	}
	for _, want := range []string{"186 KiB", "48.1 KiB", "3.87×", "kept in float: first_conv",
		"41.27 dB", "inf (exact)", "31.42 dB", "99.72%", "calibration used 150 samples"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	lower := strings.ToLower(page)
	for _, banned := range []string{"<script", "src=", "href=", "@import", "url(http", "<link", "<iframe"} {
		if strings.Contains(lower, banned) {
			t.Errorf("page contains %q", banned)
		}
	}
}

func TestHTMLEscapesNames(t *testing.T) {
	evil := `<script>alert("x")</script>&co`
	r := &Report{Title: evil, Input: evil, Scheme: evil, Warnings: []string{evil},
		Layers: []Layer{
			{Name: evil, Type: evil, DType: "F32", Quantized: true, QDType: "int8", SQNR: 30,
				Histogram: NewHistogram([]float32{-1, 0, 1}, 4)},
			{Name: "b" + evil, DType: "F32", Reason: evil},
		},
		Activations: []Activation{{Name: evil, Observer: evil, QDType: evil}},
	}
	r.Finish()
	page := renderHTML(t, r)
	checkWellFormed(t, page)
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Error("a name reached the page unescaped")
	}
	if !strings.Contains(page, "&lt;script&gt;") {
		t.Error("escaped name not found")
	}
}

func TestHTMLEdgeCases(t *testing.T) {
	empty := &Report{}
	empty.Finish()
	page := renderHTML(t, empty)
	checkWellFormed(t, page)
	if !strings.Contains(page, "<title>qscript report</title>") {
		t.Error("empty report has no default title")
	}

	// A layer name longer than the chart's label column is shortened in the chart only.
	long := strings.Repeat("model.layers.31.", 5) + "q_proj"
	r := &Report{Layers: []Layer{{Name: long, Quantized: true, SQNR: -3}, {Name: "nan", Quantized: true, SQNR: nan()}}}
	r.Finish()
	page = renderHTML(t, r)
	checkWellFormed(t, page)
	if !strings.Contains(page, ">"+long+"<") || !strings.Contains(page, ">"+shortenMiddle(long, chartMaxLabel)+"<") ||
		!strings.HasSuffix(shortenMiddle(long, chartMaxLabel), "31.q_proj") {
		t.Error("long name not shown in full in the table and shortened in the chart")
	}
}

func TestHTMLExtremeValues(t *testing.T) {
	r := &Report{Layers: []Layer{
		{Name: "huge", Quantized: true, SQNR: math.MaxFloat64,
			Histogram: &Histogram{Min: math.Inf(-1), Max: math.Inf(1), Counts: []int64{1, math.MaxInt64}}},
		{Name: "tiny", Quantized: true, SQNR: -math.MaxFloat64},
	}}
	r.Finish()
	page := renderHTML(t, r)
	checkWellFormed(t, page)
	for _, bad := range []string{"NaN", "Inf"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}
