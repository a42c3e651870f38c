//go:build interop

// Package ortquant checks qscript's ONNX Runtime numerics against onnxruntime-node. Run by
// interop/30-quant-ort.sh, which builds the models and runs ORT first:
//
//	QSCRIPT_ORT_QUANT_DIR=DIR go test -tags interop ./interop/quant/
package ortquant

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

type ortCase struct {
	ID          string
	QType       string
	Symmetric   bool
	ReduceRange bool `json:"reduce_range"`
	PerChannel  bool `json:"per_channel"`
	Shape       []int
	X           string
	RowsMin     string `json:"rows_min"`
	RowsMax     string `json:"rows_max"`
	Min, Max    string
	Scale       string
	ZeroPoint   []int32 `json:"zero_point"`
}

func f32s(t *testing.T, s string) []float32 {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestORTQuantizeLinear(t *testing.T) {
	dir := os.Getenv("QSCRIPT_ORT_QUANT_DIR")
	if dir == "" {
		t.Skip("QSCRIPT_ORT_QUANT_DIR not set; run interop/30-quant-ort.sh")
	}
	var cases struct{ Cases []ortCase }
	var ort struct {
		ORT   string
		Codes map[string]string
	}
	readJSON(t, filepath.Join(dir, "cases.json"), &cases)
	readJSON(t, filepath.Join(dir, "ort.json"), &ort)
	total, qparams := 0, 0
	for _, c := range cases.Cases {
		qt, err := quant.ParseQType(c.QType)
		if err != nil {
			t.Fatal(err)
		}
		s := quant.Scheme{QType: qt, Symmetric: c.Symmetric, ReduceRange: c.ReduceRange, Numerics: quant.ORT}
		// qparams: qscript's compute_scale_zp port against the numpy reference.
		lo, hi := f32s(t, c.Min), f32s(t, c.Max)
		if c.PerChannel {
			lo, hi = f32s(t, c.RowsMin), f32s(t, c.RowsMax)
		}
		scale, zp, err := quant.CalculateQParams(lo, hi, s)
		if err != nil {
			t.Fatal(err)
		}
		wantScale := f32s(t, c.Scale)
		for i := range scale {
			if math.Float32bits(scale[i]) != math.Float32bits(wantScale[i]) || zp[i] != c.ZeroPoint[i] {
				t.Fatalf("%s: qparams %d: (%v, %d), reference compute_scale_zp (%v, %d)", c.ID, i, scale[i], zp[i], wantScale[i], c.ZeroPoint[i])
			}
			qparams++
		}
		// codes: qscript's ORT-numerics quantize against QuantizeLinear in onnxruntime.
		axis := -1
		if c.PerChannel {
			axis = 0
		}
		p := &quant.QParams{Scheme: s, Scale: scale, ZeroPoint: zp, Axis: axis}
		q, err := quant.Quantize(tensor.FromF32(c.Shape, f32s(t, c.X)), p)
		if err != nil {
			t.Fatal(err)
		}
		got := q.ToF32()
		res := ort.Codes[c.ID]
		if len(res) > 6 && res[:6] == "error:" {
			t.Fatalf("%s: onnxruntime failed: %s", c.ID, res)
		}
		want := f32s(t, res)
		if len(want) != len(got) {
			t.Fatalf("%s: %d codes from ORT, %d from qscript", c.ID, len(want), len(got))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: code %d: qscript %v, onnxruntime %v (x=%v)", c.ID, i, got[i], want[i], f32s(t, c.X)[i])
			}
		}
		total += len(want)
	}
	t.Logf("onnxruntime %s: %d models, %d codes equal, %d qparams equal to the compute_scale_zp reference",
		ort.ORT, len(cases.Cases), total, qparams)
}
