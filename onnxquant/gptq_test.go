package onnxquant

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
)

// TestGPTQMatchesReferencePort: GPTQ codes, scales and zero points equal those of the numpy
// port of the reference loop (scripts/fixtures/gptq_ref.py) on the same inputs, with and
// without act_order, 4-bit symmetric and asymmetric and dynamic int8 per tensor and per
// channel, with a dead input column and a group size
// (16) smaller than the GPTQ block (32). Both sides compute in float64 from the same
// float32 inputs; every code must match.
func TestGPTQMatchesReferencePort(t *testing.T) {
	raw, err := os.ReadFile("testdata/gptq_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Layers []struct {
			K, N, Rows, Samples, Group, Block int
			X, W                              string
			Variants                          []struct {
				Symmetric bool   `json:"symmetric"`
				ActOrder  bool   `json:"act_order"`
				Codes     string `json:"codes"`
				Scales    string `json:"scales"`
				Zps       string `json:"zps"`
			}
			Int8 []struct {
				PerChannel bool   `json:"per_channel"`
				ActOrder   bool   `json:"act_order"`
				Codes      string `json:"codes"` // [N, K]
			}
		}
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range f.Layers {
		x, w := f32s(t, l.X), f32s(t, l.W)
		inputs := func() ([]float64, []float64) {
			H := make([]float64, l.K*l.K)
			for r := 0; r < l.Rows; r++ {
				for i := 0; i < l.K; i++ {
					for j := 0; j < l.K; j++ {
						H[i*l.K+j] += float64(x[r*l.K+i]) * float64(x[r*l.K+j])
					}
				}
			}
			for i := range H {
				H[i] *= 2 / float64(l.Samples)
			}
			W := make([]float64, l.N*l.K)
			for k := 0; k < l.K; k++ {
				for c := 0; c < l.N; c++ {
					W[c*l.K+k] = float64(w[k*l.N+c])
				}
			}
			return W, H
		}
		for _, v := range l.Int8 {
			W, H := inputs()
			tuned, err := gptqInt8(gptqTarget{K: l.K, N: l.N, w: w}, W, H, v.PerChannel, false, 0.01, v.ActOrder, l.Block)
			if err != nil {
				t.Fatal(err)
			}
			want := unhex(t, v.Codes)
			got := tuned.codes.I8()
			diff := 0
			for c := 0; c < l.N; c++ {
				for k := 0; k < l.K; k++ {
					if byte(got[k*l.N+c]) != want[c*l.K+k] {
						diff++
					}
				}
			}
			if diff > 0 {
				t.Errorf("int8 K=%d per_channel=%v act_order=%v: %d codes differ from the port", l.K, v.PerChannel, v.ActOrder, diff)
			}
			n++
		}
		for _, v := range l.Variants {
			W, H := inputs()
			bc, err := gptqQuantize(W, H, l.N, l.K, l.Group, v.Symmetric, 0.01, v.ActOrder, l.Block)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bc.codes, unhex(t, v.Codes)) {
				diff := 0
				for i, c := range unhex(t, v.Codes) {
					if bc.codes[i] != c {
						diff++
					}
				}
				t.Errorf("K=%d symmetric=%v act_order=%v: %d of %d codes differ from the port", l.K, v.Symmetric, v.ActOrder, diff, len(bc.codes))
			}
			if !bytes.Equal(f32bytes(bc.scales), unhex(t, v.Scales)) || !bytes.Equal(bc.zps, unhex(t, v.Zps)) {
				t.Errorf("K=%d symmetric=%v act_order=%v: scales or zero points differ", l.K, v.Symmetric, v.ActOrder)
			}
			n++
		}
	}
	if n != 16 {
		t.Fatalf("%d cases, want 16", n)
	}
}

// TestGPTQWithoutFeedbackIsRTN: with H = I (no correlation to exploit) and no dampening
// effect on the order, GPTQ's first column of each group is RTN's; with a diagonal H the
// error feedback is zero, so every code equals ONNX Runtime's round to nearest.
func TestGPTQWithoutFeedbackIsRTN(t *testing.T) {
	K, N, group := 64, 5, 32
	w := make([]float32, K*N)
	for i := range w {
		w[i] = float32((i*37)%23-11) * 0.01
	}
	W := make([]float64, N*K)
	for k := 0; k < K; k++ {
		for n := 0; n < N; n++ {
			W[n*K+k] = float64(w[k*N+n])
		}
	}
	H := make([]float64, K*K)
	for k := 0; k < K; k++ {
		H[k*K+k] = 1 + float64(k%3)
	}
	bc, err := gptqQuantize(W, H, N, K, group, true, 0.01, false, 128)
	if err != nil {
		t.Fatal(err)
	}
	rtn := rtnNBits(w, K, N, group, true)
	if !bytes.Equal(bc.codes, rtn.codes) || !bytes.Equal(f32bytes(bc.scales), f32bytes(rtn.scales)) {
		t.Error("GPTQ with a diagonal Hessian differs from round to nearest")
	}
}

// TestReadyWaves: MatMuls that read the same input go in one wave, a MatMul fed by them in
// the next, and an unrelated branch with the first.
func TestReadyWaves(t *testing.T) {
	nodes := []*onnxpb.NodeProto{
		node("MatMul", "q", []string{"x", "wq"}, []string{"q"}),
		node("MatMul", "k", []string{"x", "wk"}, []string{"k"}),
		node("Add", "sum", []string{"q", "k"}, []string{"s"}),
		node("Relu", "relu", []string{"s"}, []string{"r"}),
		node("MatMul", "o", []string{"r", "wo"}, []string{"o"}),
		node("MatMul", "side", []string{"y", "ws"}, []string{"z"}),
	}
	var targets []gptqTarget
	for _, i := range []int{0, 1, 4, 5} {
		targets = append(targets, gptqTarget{node: i, name: nodes[i].GetName()})
	}
	up := upstreamTargets(nodes, targets)
	var waves [][]string
	for rest := targets; len(rest) > 0; {
		var wave []gptqTarget
		wave, rest = readyWave(rest, up)
		var names []string
		for _, w := range wave {
			names = append(names, w.name)
		}
		waves = append(waves, names)
	}
	if len(waves) != 2 || !slices.Equal(waves[0], []string{"q", "k", "side"}) || !slices.Equal(waves[1], []string{"o"}) {
		t.Errorf("waves %v", waves)
	}
}
