package onnxquant

import (
	"context"
	"math/rand"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/quantize"
	"github.com/qscript-dev/qscript/tensor"
)

// sdCalib is correlated calibration data for testdata/gptq_sd (x [n, 4, 32]): each row is
// a random mix of 6 directions plus a little noise, so the Hessian is far from diagonal
// and GPTQ has errors to spread.
func sdCalib(t *testing.T, n int) *tensor.Tensor {
	rng := rand.New(rand.NewSource(3))
	dirs := make([]float32, 6*32)
	for i := range dirs {
		dirs[i] = float32(rng.NormFloat64())
	}
	x := make([]float32, n*4*32)
	for r := 0; r < n*4; r++ {
		var z [6]float32
		for i := range z {
			z[i] = float32(rng.NormFloat64())
		}
		for k := 0; k < 32; k++ {
			v := float32(0.05 * rng.NormFloat64())
			for i := range z {
				v += z[i] * dirs[i*32+k]
			}
			x[r*32+k] = v
		}
	}
	return tensor.FromF32([]int{n, 4, 32}, x)
}

// storedCodes reads a compressed-tensors weight's codes back from a saved file ([out, in],
// the scheme's own range: int8 as stored, int4 unpacked from its I32 words).
func storedCodes(t *testing.T, f formats.Model, name string, bits, out, in int) []int32 {
	t.Helper()
	res := make([]int32, out*in)
	if bits == 8 {
		c, err := f.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range c.I8() {
			res[i] = int32(v)
		}
		return res
	}
	p, err := f.Load(name + "_packed")
	if err != nil {
		t.Fatal(err)
	}
	words, per := p.I32(), (in+7)/8
	for o := 0; o < out; o++ {
		for k := 0; k < in; k++ {
			res[o*in+k] = int32(uint32(words[o*per+k/8])>>(4*(k%8))&15) - 8
		}
	}
	return res
}

// TestGPTQStateDict: GPTQ for a state dict through its ONNX export (testdata/gptq_sd, from
// scripts/fixtures/gptq_statedict.py): fc1 is found by value in a MatMul (transposed,
// renamed), fc2 by name in a Gemm; the saved codes are GPTQ's on Hessians this test builds
// itself from the data (fc2's input computed here from the saved fc1 weight); without
// GPTQ, the same quantizer gives the writer's own round-to-nearest codes; and the model
// output on held-out samples, with the saved (fake-layout) weights put back into the
// ONNX graph and run by graph/, is closer to float than round to nearest's.
func TestGPTQStateDict(t *testing.T) {
	ctx := context.Background()
	sd, err := formats.Open("testdata/gptq_sd/model.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	g, err := onnx.Open("testdata/gptq_sd/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const samples, heldout = 64, 48
	x := sdCalib(t, samples+heldout)
	calib, err := data.Tensors(map[string]*tensor.Tensor{"x": x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	schemes := []struct {
		name string
		w    quantize.WeightOptions
		bits int
	}{
		{"int4 group 16 symmetric", quantize.WeightOptions{DType: "int4", GroupSize: 16, Symmetric: true}, 4},
		{"int4 group 16 affine", quantize.WeightOptions{DType: "int4", GroupSize: 16}, 4},
		{"int8 per channel", quantize.WeightOptions{DType: "int8", PerChannel: true, Symmetric: true}, 8},
	}
	for _, sc := range schemes {
		for _, act := range []bool{false, true} {
			t.Run(sc.name+map[bool]string{true: " act_order"}[act], func(t *testing.T) {
				opts := quantize.DefaultOptions()
				opts.Weights = sc.w
				o := DefaultOptions().GPTQ
				o.Calib, o.Samples, o.Heldout, o.ActOrder, o.BlockSize = calib, samples, heldout, act, 8
				dir := t.TempDir()
				save := func(gptq bool, layout string) (string, *StateDictGPTQ) {
					q, err := quantize.PlanWeights(ctx, sd, opts)
					if err != nil {
						t.Fatal(err)
					}
					var res *StateDictGPTQ
					if gptq {
						if res, err = GPTQStateDict(ctx, q, g, o); err != nil {
							t.Fatal(err)
						}
					}
					path := filepath.Join(dir, map[bool]string{true: "gptq", false: "rtn"}[gptq]+"-"+layout+".safetensors")
					if err := q.Save(ctx, path, quantize.SaveOptions{Layout: layout}); err != nil {
						t.Fatal(err)
					}
					return path, res
				}
				gPath, res := save(true, quantize.LayoutCompressed)
				if res.Nodes["fc1"] != "/fc1/MatMul" || res.Nodes["fc2"] != "/fc2/Gemm" || len(res.RTN) != 0 {
					t.Fatalf("matched %v, round to nearest %v", res.Nodes, res.RTN)
				}
				rPath, _ := save(false, quantize.LayoutCompressed)
				checkSavedCodes(t, sd, gPath, rPath, x, samples, sc.bits, opts, o)
				gFake, _ := save(true, quantize.LayoutFake)
				rFake, _ := save(false, quantize.LayoutFake)
				mG, mR := heldoutMSE(t, g, gFake, x, samples), heldoutMSE(t, g, rFake, x, samples)
				t.Logf("held-out output MSE: GPTQ %.4g, RTN %.4g; layers %+v", mG, mR, res.Layers)
				if !(mG < mR) {
					t.Errorf("GPTQ's held-out output MSE %g is not below round to nearest's %g", mG, mR)
				}
			})
		}
	}
}

// checkSavedCodes compares the saved codes of fc1 and fc2 with GPTQ on Hessians built here,
// and the round-to-nearest file's with the same quantizer without error feedback.
func checkSavedCodes(t *testing.T, sd formats.Model, gPath, rPath string, x *tensor.Tensor, samples, bits int, opts quantize.Options, o GPTQOptions) {
	t.Helper()
	gf, err := formats.Open(gPath)
	if err != nil {
		t.Fatal(err)
	}
	defer gf.Close()
	rf, err := formats.Open(rPath)
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	q, err := quantize.PlanWeights(context.Background(), sd, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, group, perChannel, _ := q.IntScheme()
	sq := schemeQuantizer{s: s, group: group, perChannel: perChannel, dtype: tensor.F32}
	// fc1's input is x itself: rows of 32.
	in1 := x.F32()[:samples*4*32]
	w1 := loadF32(t, sd, "fc1.weight")
	codes1, deq1 := gptqHere(t, sq, w1, 48, 32, in1, samples, o)
	compareCodes(t, "fc1 gptq", storedCodes(t, gf, "fc1.weight", bits, 48, 32), codes1, 0)
	// fc2's input: mean over the 4 positions of relu(x · deq1ᵀ + b1), deq1 from this test's
	// GPTQ codes (which equal the saved ones).
	b1 := loadF32(t, sd, "fc1.bias")
	in2 := make([]float32, samples*48)
	for n := 0; n < samples; n++ {
		for o := 0; o < 48; o++ {
			var acc float32
			for p := 0; p < 4; p++ {
				var y float32
				for k := 0; k < 32; k++ {
					y += in1[(n*4+p)*32+k] * deq1[k*48+o]
				}
				acc += max(y+b1[o], 0)
			}
			in2[n*48+o] = acc / 4
		}
	}
	codes2, _ := gptqHere(t, sq, loadF32(t, sd, "fc2.weight"), 16, 48, in2, samples, o)
	// graph/ sums in its own order: an input can differ in its last bit, and a code
	// at a rounding tie with it; at most 1% of fc2's codes may differ by one.
	compareCodes(t, "fc2 gptq", storedCodes(t, gf, "fc2.weight", bits, 16, 48), codes2, 16*48/100)
	for _, l := range []struct {
		name    string
		out, in int
	}{{"fc1", 48, 32}, {"fc2", 16, 48}} {
		w := loadF32(t, sd, l.name+".weight")
		rtn, _, err := sq.rtn(gptqTarget{K: l.in, N: l.out, w: transpose(w, l.out, l.in)})
		if err != nil {
			t.Fatal(err)
		}
		compareCodes(t, l.name+" rtn", storedCodes(t, rf, l.name+".weight", bits, l.out, l.in), rtn, 0)
	}
}

func loadF32(t *testing.T, m formats.Model, name string) []float32 {
	t.Helper()
	w, err := m.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return w.ToF32()
}

// gptqHere runs the state-dict quantizer's GPTQ on w [out, in] with H = 2XᵀX/samples from
// the input rows in.
func gptqHere(t *testing.T, sq schemeQuantizer, w []float32, out, in int, rows []float32, samples int, o GPTQOptions) ([]int32, []float32) {
	t.Helper()
	H := make([]float64, in*in)
	for r := 0; r < len(rows)/in; r++ {
		x := rows[r*in : (r+1)*in]
		for a := range x {
			for b := range x {
				H[a*in+b] += float64(x[a]) * float64(x[b])
			}
		}
	}
	for i := range H {
		H[i] *= 2 / float64(samples)
	}
	tg := gptqTarget{K: in, N: out, w: transpose(w, out, in)}
	c, deq, err := sq.gptq(tg, weightRows(tg), H, o)
	if err != nil {
		t.Fatal(err)
	}
	return c.Codes, deq
}

func compareCodes(t *testing.T, what string, got, want []int32, allowed int) {
	t.Helper()
	bad := 0
	for i := range want {
		if d := got[i] - want[i]; d != 0 {
			bad++
			if d > 1 || d < -1 {
				t.Errorf("%s: code %d is %d, want %d", what, i, got[i], want[i])
			}
		}
	}
	if bad > allowed {
		t.Errorf("%s: %d of %d codes differ (at most %d allowed)", what, bad, len(want), allowed)
	}
	if bad > 0 {
		t.Logf("%s: %d of %d codes off by one", what, bad, len(want))
	}
}

// heldoutMSE puts the weights of a fake-layout file back into the ONNX model and returns
// its output's mean squared error against the float model's on the held-out samples.
func heldoutMSE(t *testing.T, g *onnx.File, path string, x *tensor.Tensor, samples int) float64 {
	t.Helper()
	f, err := formats.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := proto.Clone(g.Proto()).(*onnxpb.ModelProto)
	for i, init := range m.Graph.Initializer {
		var w *tensor.Tensor
		switch init.GetName() {
		case "onnx::MatMul_11": // fc1.weight transposed
			w = tensor.FromF32([]int{32, 48}, transpose(loadF32(t, f, "fc1.weight"), 48, 32))
		case "fc2.weight":
			w = tensor.FromF32([]int{16, 48}, loadF32(t, f, "fc2.weight"))
		default:
			continue
		}
		if m.Graph.Initializer[i], err = onnx.TensorToProto(init.GetName(), w); err != nil {
			t.Fatal(err)
		}
	}
	held := tensor.FromF32([]int{x.Shape[0] - samples, 4, 32}, x.F32()[samples*4*32:])
	run := func(m *onnxpb.ModelProto) []float32 {
		gr, err := graph.Load(m, graph.Options{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := gr.NewRunner().Run(context.Background(), map[string]*tensor.Tensor{"x": held}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out["y"].ToF32()
	}
	ref, got := run(g.Proto()), run(m)
	var s float64
	for i := range ref {
		s += (float64(got[i]) - float64(ref[i])) * (float64(got[i]) - float64(ref[i]))
	}
	return s / float64(len(ref))
}
