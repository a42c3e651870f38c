package onnxquant

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// ortCase is one case of testdata/ort_quantizers.json, made by scripts/fixtures/
// onnx_out_ref.py with numpy ports of ONNX Runtime's quantizers (MLAS's block quantizers
// and quant_utils.quantize_data), not by this package.
type ortCase struct {
	Kind        string `json:"kind"`
	K, N, Block int
	Symmetric   bool   `json:"symmetric"`
	W           string `json:"w"`
	B           string `json:"b"`
	Scales      string `json:"scales"`
	ZP          string `json:"zp"`
	QDQW        string `json:"qdq_w"`
	QDQScales   string `json:"qdq_scales"`
	QDQZP       string `json:"qdq_zp"`
	Shape       []int  `json:"shape"`
	PerChannel  bool   `json:"per_channel"`
	ReduceRange bool   `json:"reduce_range"`
	Q           string `json:"q"`
	Scale       string `json:"scale"`
}

func loadORTCases(t *testing.T) []ortCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/ort_quantizers.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Cases []ortCase }
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f.Cases
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func f32s(t *testing.T, s string) []float32 {
	b := unhex(t, s)
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func f32bytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

// TestBlockwiseMatchesORT: MatMulNBits and int4 DequantizeLinear bytes equal the numpy port
// of MLAS's quantizers (partial last blocks, odd N and K, an all-zero block, an all-negative
// column; symmetric and asymmetric).
func TestBlockwiseMatchesORT(t *testing.T) {
	n := 0
	for _, c := range loadORTCases(t) {
		if c.Kind != "nbits" {
			continue
		}
		w := f32s(t, c.W)
		b, s, z := packNBits(rtnNBits(w, c.K, c.N, c.Block, c.Symmetric), c.Symmetric)
		if !bytes.Equal(b, unhex(t, c.B)) || !bytes.Equal(f32bytes(s), unhex(t, c.Scales)) || !bytes.Equal(z, unhex(t, c.ZP)) {
			t.Errorf("K=%d N=%d block=%d symmetric=%v: MatMulNBits B/scales/zero points differ from the port", c.K, c.N, c.Block, c.Symmetric)
		}
		qb, qs, qz := packQDQ(rtnQDQ(w, c.K, c.N, c.Block, c.Symmetric), c.Symmetric)
		if !bytes.Equal(qb, unhex(t, c.QDQW)) || !bytes.Equal(f32bytes(qs), unhex(t, c.QDQScales)) || !bytes.Equal(qz, unhex(t, c.QDQZP)) {
			t.Errorf("K=%d N=%d block=%d symmetric=%v: DequantizeLinear int4 bytes differ from the port", c.K, c.N, c.Block, c.Symmetric)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d block cases", n)
	}
}

// TestDynamicWeightMatchesORT: quantize_dynamic's int8 weights (per tensor and per column,
// full and reduced range) equal the numpy port of quant_utils.quantize_data.
func TestDynamicWeightMatchesORT(t *testing.T) {
	n := 0
	for _, c := range loadORTCases(t) {
		if c.Kind != "dynamic" {
			continue
		}
		codes, p, err := ortDynamicWeight(tensor.FromF32(c.Shape, f32s(t, c.W)), c.PerChannel, c.ReduceRange)
		if err != nil {
			t.Fatal(err)
		}
		zp := make([]byte, len(p.ZeroPoint))
		for i, z := range p.ZeroPoint {
			zp[i] = byte(int8(z))
		}
		if !bytes.Equal(codes.Data, unhex(t, c.Q)) || !bytes.Equal(f32bytes(p.Scale), unhex(t, c.Scale)) || !bytes.Equal(zp, unhex(t, c.ZP)) {
			t.Errorf("shape %v per_channel=%v reduce_range=%v: codes/scale/zero point differ from the port", c.Shape, c.PerChannel, c.ReduceRange)
		}
		n++
	}
	if n < 6 {
		t.Fatalf("only %d dynamic cases", n)
	}
}
