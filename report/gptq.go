package report

import (
	"encoding/json"
	"fmt"
	"io"
)

// GPTQLayer compares GPTQ with round to nearest on one layer: the error of the layer's
// output against the float weight's output, on held-out calibration samples whose inputs
// come from the model with the layers before already GPTQ-quantized.
type GPTQLayer struct {
	Layer    string  `json:"layer"`
	Samples  int     `json:"samples"`
	RTNMSE   float64 `json:"rtn_output_mse"`
	GPTQMSE  float64 `json:"gptq_output_mse"`
	RTNSQNR  float64 `json:"rtn_output_sqnr_db"`
	GPTQSQNR float64 `json:"gptq_output_sqnr_db"`
}

func (g GPTQLayer) MarshalJSON() ([]byte, error) {
	type plain GPTQLayer
	return json.Marshal(struct {
		plain
		RTNMSE   jsonFloat `json:"rtn_output_mse"`
		GPTQMSE  jsonFloat `json:"gptq_output_mse"`
		RTNSQNR  jsonFloat `json:"rtn_output_sqnr_db"`
		GPTQSQNR jsonFloat `json:"gptq_output_sqnr_db"`
	}{plain(g), jsonFloat(g.RTNMSE), jsonFloat(g.GPTQMSE), jsonFloat(g.RTNSQNR), jsonFloat(g.GPTQSQNR)})
}

func (g *GPTQLayer) UnmarshalJSON(b []byte) error {
	type plain GPTQLayer
	v := struct {
		*plain
		RTNMSE   *jsonFloat `json:"rtn_output_mse"`
		GPTQMSE  *jsonFloat `json:"gptq_output_mse"`
		RTNSQNR  *jsonFloat `json:"rtn_output_sqnr_db"`
		GPTQSQNR *jsonFloat `json:"gptq_output_sqnr_db"`
	}{(*plain)(g), optFloat(&g.RTNMSE), optFloat(&g.GPTQMSE), optFloat(&g.RTNSQNR), optFloat(&g.GPTQSQNR)}
	return json.Unmarshal(b, &v)
}

// writeGPTQ writes the GPTQ against round-to-nearest table.
func (r *Report) writeGPTQ(w io.Writer) {
	if len(r.GPTQ) == 0 {
		return
	}
	fmt.Fprintf(w, "\nGPTQ against round to nearest: layer output error on %d held-out samples\n", r.GPTQ[0].Samples)
	t := newTable(left, right, right, right, right)
	t.header("layer", "RTN MSE", "GPTQ MSE", "RTN SQNR dB", "GPTQ SQNR dB")
	for _, g := range r.GPTQ {
		t.add(g.Layer, formatNumber(g.RTNMSE), formatNumber(g.GPTQMSE), formatDB(g.RTNSQNR), formatDB(g.GPTQSQNR))
	}
	t.write(w, "", true)
}
