package report

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// TestGPTQSection: the GPTQ comparison appears in the table, the page and JSON, and
// survives a JSON round trip, infinite SQNR included.
func TestGPTQSection(t *testing.T) {
	r := &Report{Title: "t", GPTQ: []GPTQLayer{{Layer: "/fc/MatMul", Samples: 32, RTNMSE: 2e-3, GPTQMSE: 3e-4, RTNSQNR: 23.5, GPTQSQNR: math.Inf(1)}}}
	r.Finish()
	text := r.String()
	for _, want := range []string{"GPTQ against round to nearest: layer output error on 32 held-out samples", "/fc/MatMul", "0.002"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "GPTQ against round to nearest") {
		t.Error("page lacks the GPTQ section")
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&js)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.GPTQ) != 1 || back.GPTQ[0] != r.GPTQ[0] {
		t.Errorf("JSON round trip: %+v", back.GPTQ)
	}
}
