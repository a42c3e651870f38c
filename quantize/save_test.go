package quantize

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// loadAll reads every tensor of a checkpoint into memory.
func loadAll(t *testing.T, path string) (map[string]*tensor.Tensor, map[string]string) {
	t.Helper()
	f := openModel(t, path)
	out := map[string]*tensor.Tensor{}
	for _, info := range f.Tensors() {
		x, err := f.Load(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		out[info.Name] = x.Clone()
	}
	return out, f.Metadata()
}

func infoOf(x *tensor.Tensor) string { return fmt.Sprintf("%v%v", x.DType, x.Shape) }

// checkTensors compares name → "DTYPE[shape]" of an output with want.
func checkTensors(t *testing.T, got map[string]*tensor.Tensor, want map[string]string) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("missing %s", name)
		} else if infoOf(g) != w {
			t.Errorf("%s is %s, want %s", name, infoOf(g), w)
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected tensor %s %s", name, infoOf(g))
		}
	}
}

func quantizeAndSave(t *testing.T, src string, opts Options, path string, so SaveOptions) *WeightPlan {
	t.Helper()
	ctx := context.Background()
	q, err := PlanWeights(ctx, openModel(t, src), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Save(ctx, path, so); err != nil {
		t.Fatal(err)
	}
	return q
}

// unchangedDigits are the digits CNN's tensors that no integer scheme changes (conv1 is
// skipped).
var unchangedDigits = map[string]string{
	"conv1.weight": "F32[16 1 3 3]", "conv1.bias": "F32[16]", "bn1.weight": "F32[16]", "bn1.bias": "F32[16]",
	"bn1.running_mean": "F32[16]", "bn1.running_var": "F32[16]", "bn1.num_batches_tracked": "I64[]",
	"conv2.bias": "F32[32]", "conv3.bias": "F32[32]", "fc1.bias": "F32[64]", "fc2.bias": "F32[10]",
}

func withUnchanged(m map[string]string) map[string]string {
	out := make(map[string]string, len(unchangedDigits)+len(m))
	for k, v := range unchangedDigits {
		out[k] = v
	}
	for k, v := range m {
		out[k] = v
	}
	return out
}

var quantizedDigits = []string{"conv2", "conv3", "fc1", "fc2"}

// expectedInt quantizes a source weight with quant's kernels: the view is [out, rest]
// as compressed-tensors flattens it.
func expectedInt(t *testing.T, w *tensor.Tensor, s quant.Scheme, g quant.Granularity) (*quant.QParams, *tensor.Tensor) {
	t.Helper()
	rows := w.Shape[0]
	v, err := w.Clone().Reshape(rows, w.Numel()/rows)
	if err != nil {
		t.Fatal(err)
	}
	p, err := quant.ChooseQParams(v, s, g)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := quant.Quantize(v, p)
	if err != nil {
		t.Fatal(err)
	}
	return p, codes
}

func TestSaveInt8Layouts(t *testing.T) {
	src, _ := loadAll(t, examplePT)
	cases := []struct {
		name      string
		weights   WeightOptions
		numerics  quant.Numerics
		scheme    quant.Scheme
		gran      func(l string) quant.Granularity
		zeroPoint bool
	}{
		{"int8 per-channel symmetric", WeightOptions{DType: "int8", PerChannel: true, Symmetric: true}, quant.Torch,
			quant.Scheme{QType: quant.QInt8, Symmetric: true}, func(string) quant.Granularity { return quant.PerChannel(0) }, false},
		{"int8 per-tensor affine", WeightOptions{DType: "int8", Symmetric: false}, quant.Torch,
			quant.Scheme{QType: quant.QInt8}, func(string) quant.Granularity { return quant.PerTensor() }, true},
		{"uint8 per-channel affine", WeightOptions{DType: "uint8", PerChannel: true}, quant.Torch,
			quant.Scheme{QType: quant.QUInt8}, func(string) quant.Granularity { return quant.PerChannel(0) }, true},
		{"uint8 per-channel symmetric", WeightOptions{DType: "uint8", PerChannel: true, Symmetric: true}, quant.Torch,
			quant.Scheme{QType: quant.QUInt8, Symmetric: true}, func(string) quant.Granularity { return quant.PerChannel(0) }, false},
		{"int8 symmetric onnxruntime", WeightOptions{DType: "int8", PerChannel: true, Symmetric: true}, quant.ORT,
			quant.Scheme{QType: quant.QInt8, Symmetric: true, Numerics: quant.ORT}, func(string) quant.Granularity { return quant.PerChannel(0) }, false},
		{"uint8 symmetric onnxruntime", WeightOptions{DType: "uint8", PerChannel: true, Symmetric: true}, quant.ORT,
			quant.Scheme{QType: quant.QUInt8, Symmetric: true, Numerics: quant.ORT}, func(string) quant.Granularity { return quant.PerChannel(0) }, true},
		{"int8 group 32", WeightOptions{DType: "int8", Symmetric: true, GroupSize: 32}, quant.Torch,
			quant.Scheme{QType: quant.QInt8, Symmetric: true}, func(string) quant.Granularity { return quant.PerGroup(32) }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.Weights, opts.Numerics, opts.Skip = c.weights, c.numerics, layer.Names("conv1")
			out := filepath.Join(t.TempDir(), "q.safetensors")
			quantizeAndSave(t, examplePT, opts, out, SaveOptions{})
			got, meta := loadAll(t, out)
			want := withUnchanged(nil)
			shift := int32(0)
			if !c.scheme.QType.Signed {
				shift = 128
			}
			for _, l := range quantizedDigits {
				w := src[l+".weight"]
				p, codes := expectedInt(t, w, c.scheme, c.gran(l))
				sshape := []int{1}
				switch g := c.gran(l); {
				case g.GroupSize > 0:
					sshape = []int{w.Shape[0], (w.Numel()/w.Shape[0] + g.GroupSize - 1) / g.GroupSize}
				case g.PerChannel:
					sshape = append([]int{w.Shape[0]}, slices.Repeat([]int{1}, len(w.Shape)-1)...)
				}
				want[l+".weight"] = "I8" + fmt.Sprint(w.Shape)
				want[l+".weight_scale"] = "F32" + fmt.Sprint(sshape)
				if c.zeroPoint {
					want[l+".weight_zero_point"] = "I8" + fmt.Sprint(sshape)
				}
				gotCodes := got[l+".weight"]
				if gotCodes == nil || gotCodes.DType != tensor.I8 {
					continue
				}
				wantCodes := codes.ToF32()
				for i, q := range gotCodes.I8() {
					if int32(q) != int32(wantCodes[i])-shift {
						t.Fatalf("%s code %d = %d, want %d-%d", l, i, q, int32(wantCodes[i]), shift)
					}
				}
				if s := got[l+".weight_scale"]; s == nil || !slices.Equal(s.F32(), p.Scale) {
					t.Errorf("%s scales differ", l)
				}
				if c.zeroPoint {
					zp := got[l+".weight_zero_point"]
					for i, z := range zp.I8() {
						if int32(z) != p.ZeroPoint[i]-shift {
							t.Fatalf("%s zero point %d = %d, want %d-%d", l, i, z, p.ZeroPoint[i], shift)
						}
					}
				} else {
					for _, z := range p.ZeroPoint {
						if z != shift {
							t.Fatalf("%s: zero point %d not stored", l, z)
						}
					}
				}
			}
			checkTensors(t, got, want)
			for name := range unchangedDigits {
				if !bytes.Equal(got[name].Data, src[name].Data) {
					t.Errorf("%s changed", name)
				}
			}
			cfgJSON, ok := meta["quantization_config"]
			if c.zeroPoint || c.weights.GroupSize > 0 {
				// vLLM has no scheme for int8 weights with zero points or groups.
				if ok {
					t.Errorf("quantization_config %s claimed for a scheme vLLM does not serve", cfgJSON)
				}
				return
			}
			var cfg CompressedConfig
			if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
				t.Fatal(err)
			}
			wts, in := cfg.ConfigGroups["group_0"].Weights, cfg.ConfigGroups["group_0"].InputActivations
			if cfg.Format != "int-quantized" || !wts.Symmetric || wts.NumBits != 8 || !slices.Equal(cfg.Ignore, []string{"conv1"}) ||
				in == nil || in.NumBits != 8 || in.Strategy != "token" || !in.Dynamic || !in.Symmetric || in.Observer != nil {
				t.Errorf("quantization_config %s", cfgJSON)
			}
		})
	}
}

func TestSaveInt4Layouts(t *testing.T) {
	src, _ := loadAll(t, examplePT)
	cases := []struct {
		name    string
		weights WeightOptions
		scheme  quant.Scheme
		group   int
	}{
		{"int4 group 128 symmetric", WeightOptions{DType: "int4", Symmetric: true}, quant.Scheme{QType: quant.Int4, Symmetric: true}, 128},
		{"uint4 group 32 affine", WeightOptions{DType: "uint4", GroupSize: 32}, quant.Scheme{QType: quant.UInt4}, 32},
		{"int4 per channel affine", WeightOptions{DType: "int4", GroupSize: -1, PerChannel: true}, quant.Scheme{QType: quant.Int4}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.Weights, opts.Skip = c.weights, layer.Names("conv1")
			out := filepath.Join(t.TempDir(), "q.safetensors")
			quantizeAndSave(t, examplePT, opts, out, SaveOptions{})
			got, meta := loadAll(t, out)
			want := withUnchanged(nil)
			shift := int32(0)
			if !c.scheme.QType.Signed {
				shift = 8
			}
			for _, l := range quantizedDigits {
				w := src[l+".weight"]
				rows, cols := w.Shape[0], w.Numel()/w.Shape[0]
				g := quant.PerChannel(0)
				groups := 1
				if c.group > 0 {
					g, groups = quant.PerGroup(c.group), (cols+c.group-1)/c.group
				}
				want[l+".weight_packed"] = fmt.Sprintf("I32[%d %d]", rows, (cols+7)/8)
				want[l+".weight_scale"] = fmt.Sprintf("F32[%d %d]", rows, groups)
				want[l+".weight_shape"] = fmt.Sprintf("I64[%d]", len(w.Shape))
				if !c.scheme.Symmetric {
					want[l+".weight_zero_point"] = fmt.Sprintf("I32[%d %d]", (rows+7)/8, groups)
				}
				p, codes := expectedInt(t, w, c.scheme, g)
				signed := tensor.New(tensor.I8, rows, cols)
				cf := codes.ToF32()
				for i := range signed.I8() {
					signed.I8()[i] = int8(int32(cf[i]) - shift)
				}
				packed, err := quant.PackInt4Words(signed)
				if err != nil {
					t.Fatal(err)
				}
				if gp := got[l+".weight_packed"]; gp == nil || !slices.Equal(gp.I32(), packed.I32()) {
					t.Errorf("%s: packed words differ", l)
				}
				if gs := got[l+".weight_scale"]; gs == nil || !slices.Equal(gs.F32(), p.Scale) {
					t.Errorf("%s: scales differ", l)
				}
				if ws := got[l+".weight_shape"]; ws == nil || fmt.Sprint(ws.I64()) != fmt.Sprint(w.Shape) {
					t.Errorf("%s: weight_shape %v", l, ws)
				}
				if zp := got[l+".weight_zero_point"]; zp != nil {
					// Unpack along the output dimension: word j of column g holds rows 8j..8j+7.
					words := zp.I32()
					for r := 0; r < rows; r++ {
						for gi := 0; gi < groups; gi++ {
							wd := uint32(words[(r/8)*groups+gi])
							z := int32((wd>>(4*(r%8)))&0xF) - 8
							if z != p.ZeroPoint[r*groups+gi]-shift {
								t.Fatalf("%s zero point [%d,%d] = %d, want %d", l, r, gi, z, p.ZeroPoint[r*groups+gi]-shift)
							}
						}
					}
				}
			}
			checkTensors(t, got, want)
			var cfg CompressedConfig
			if err := json.Unmarshal([]byte(meta["quantization_config"]), &cfg); err != nil {
				t.Fatal(err)
			}
			wts := cfg.ConfigGroups["group_0"].Weights
			if cfg.Format != "pack-quantized" || wts.NumBits != 4 || wts.Symmetric != c.scheme.Symmetric ||
				(c.group > 0 && (wts.Strategy != "group" || *wts.GroupSize != c.group)) || (c.group == 0 && wts.Strategy != "channel") {
				t.Errorf("quantization_config %s", meta["quantization_config"])
			}
		})
	}
}

func TestSaveFP8(t *testing.T) {
	src, _ := loadAll(t, exampleSafetensors)
	for _, c := range []struct {
		dtype      string
		target     tensor.DType
		max        float32
		perChannel bool
	}{{"fp8_e4m3", tensor.F8E4M3, 448, true}, {"fp8_e5m2", tensor.F8E5M2, 57344, false}} {
		t.Run(c.dtype, func(t *testing.T) {
			opts := DefaultOptions()
			opts.Weights = WeightOptions{DType: c.dtype, PerChannel: c.perChannel}
			opts.Skip = layer.Names("conv1")
			out := filepath.Join(t.TempDir(), "q.safetensors")
			quantizeAndSave(t, exampleSafetensors, opts, out, SaveOptions{})
			got, meta := loadAll(t, out)
			want := withUnchanged(nil)
			encode := map[tensor.DType]func(float32) uint8{tensor.F8E4M3: tensor.F32ToF8E4M3, tensor.F8E5M2: tensor.F32ToF8E5M2}[c.target]
			for _, l := range quantizedDigits {
				w := src[l+".weight"]
				rows, cols := w.Shape[0], w.Numel()/w.Shape[0]
				x := w.F32()
				sshape := []int{1}
				scales := []float32{0}
				if c.perChannel {
					sshape = append([]int{rows}, slices.Repeat([]int{1}, len(w.Shape)-1)...)
					scales = make([]float32, rows)
				}
				for i, v := range x {
					k := 0
					if c.perChannel {
						k = i / cols
					}
					scales[k] = max(scales[k], float32(math.Abs(float64(v))))
				}
				for k := range scales {
					scales[k] = max(scales[k]/c.max, quant.Eps)
				}
				want[l+".weight"] = c.target.String() + fmt.Sprint(w.Shape)
				want[l+".weight_scale"] = "F32" + fmt.Sprint(sshape)
				gw, gs := got[l+".weight"], got[l+".weight_scale"]
				if gw == nil || gs == nil || gw.DType != c.target {
					continue
				}
				if !slices.Equal(gs.F32(), scales) {
					t.Errorf("%s scales %v, want %v", l, gs.F32()[:2], scales[:min(2, len(scales))])
				}
				for i, v := range x {
					k := 0
					if c.perChannel {
						k = i / cols
					}
					if e := encode(v / scales[k]); gw.U8()[i] != e {
						t.Fatalf("%s element %d: code %#x, want %#x", l, i, gw.U8()[i], e)
					}
				}
			}
			checkTensors(t, got, want)
			_, hasConfig := meta["quantization_config"]
			if hasConfig != (c.dtype == "fp8_e4m3") {
				t.Errorf("quantization_config present = %v", hasConfig)
			}
			if hasConfig && !strings.Contains(meta["quantization_config"], `"format":"float-quantized"`) {
				t.Errorf("config %s", meta["quantization_config"])
			}
		})
	}
}

func TestSaveCasts(t *testing.T) {
	src, _ := loadAll(t, examplePT)
	for _, dt := range []tensor.DType{tensor.F16, tensor.BF16} {
		name := map[tensor.DType]string{tensor.F16: "fp16", tensor.BF16: "bf16"}[dt]
		t.Run(name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.Weights.DType = name
			opts.Skip = layer.Names("conv1")
			dir := t.TempDir()
			q := quantizeAndSave(t, examplePT, opts, filepath.Join(dir, "q.safetensors"), SaveOptions{})
			got, meta := loadAll(t, filepath.Join(dir, "q.safetensors"))
			if _, ok := meta["quantization_config"]; ok {
				t.Error("a cast has a quantization_config")
			}
			for n, x := range src {
				g := got[n]
				switch {
				case g == nil:
					t.Errorf("missing %s", n)
				case strings.HasPrefix(n, "conv1.") || !x.DType.IsFloat():
					if g.DType != x.DType || !bytes.Equal(g.Data, x.Data) {
						t.Errorf("%s changed", n)
					}
				default:
					want, err := quant.Cast(x, dt)
					if err != nil {
						t.Fatal(err)
					}
					if g.DType != dt || !bytes.Equal(g.Data, want.Data) {
						t.Errorf("%s: %v, want the %v cast", n, g.DType, dt)
					}
				}
			}
			if len(got) != len(src) {
				t.Errorf("%d tensors, want %d", len(got), len(src))
			}
			r, err := q.Report(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// Every layer but conv1 is cast, the norm included; float tensors halve.
			if r.Totals.Quantized != 5 || r.Totals.Skipped != 1 {
				t.Errorf("totals %+v", r.Totals)
			}
			st, err := os.Stat(filepath.Join(dir, "q.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			_ = st
			var before, after int64
			for n, x := range src {
				before += int64(x.Nbytes())
				after += int64(got[n].Nbytes())
			}
			if r.Totals.BytesBefore != before || r.Totals.BytesAfter != after {
				t.Errorf("report bytes %d → %d, files %d → %d", r.Totals.BytesBefore, r.Totals.BytesAfter, before, after)
			}
		})
	}
}

func TestSaveFakeLayout(t *testing.T) {
	src, _ := loadAll(t, examplePT)
	for _, dtype := range []string{"int8", "uint4", "fp8_e4m3", "bf16"} {
		t.Run(dtype, func(t *testing.T) {
			opts := DefaultOptions()
			opts.Weights.DType = dtype
			opts.Weights.Symmetric = dtype != "uint4"
			opts.Skip = layer.Names("conv1")
			dir := t.TempDir()
			for _, ext := range []string{".safetensors", ".pt"} {
				quantizeAndSave(t, examplePT, opts, filepath.Join(dir, "fake"+ext), SaveOptions{Layout: LayoutFake})
			}
			// The compressed output, dequantized, is what fake must hold.
			comp := filepath.Join(dir, "q.safetensors")
			quantizeAndSave(t, examplePT, opts, comp, SaveOptions{})
			deq := dequantizeCompressed(t, comp, opts)
			if dtype == "bf16" {
				for n, x := range src {
					if x.DType.IsFloat() && !strings.HasPrefix(n, "conv1.") {
						rt, err := quant.CastRoundTrip(x, tensor.BF16)
						if err != nil {
							t.Fatal(err)
						}
						deq[n] = rt.F32()
					}
				}
			}
			for _, ext := range []string{".safetensors", ".pt"} {
				got, meta := loadAll(t, filepath.Join(dir, "fake"+ext))
				want := map[string]string{}
				for n, x := range src {
					want[n] = infoOf(x)
				}
				checkTensors(t, got, want)
				for n, x := range got {
					d, ok := deq[n]
					if !ok {
						if !bytes.Equal(x.Data, src[n].Data) {
							t.Errorf("%s%s: %s changed", dtype, ext, n)
						}
						continue
					}
					if !slices.Equal(x.ToF32(), d) {
						t.Errorf("%s%s: %s differs from the dequantized compressed weight", dtype, ext, n)
					}
				}
				if ext == ".safetensors" && !strings.Contains(meta["quantization"], `"layout":"fake"`) {
					t.Errorf("record %s", meta["quantization"])
				}
			}
		})
	}
}

// dequantizeCompressed reads a compressed-layout file the way a compressed-tensors loader
// would and returns the float weights of the quantized layers.
func dequantizeCompressed(t *testing.T, path string, opts Options) map[string][]float32 {
	t.Helper()
	got, _ := loadAll(t, path)
	out := map[string][]float32{}
	for _, l := range quantizedDigits {
		base := l + ".weight"
		scaleT := got[base+"_scale"]
		if scaleT == nil {
			continue // a cast
		}
		scale := scaleT.ToF32()
		var codes []float32
		var shape []int
		if packed := got[base+"_packed"]; packed != nil {
			for _, d := range got[base+"_shape"].I64() {
				shape = append(shape, int(d))
			}
			rows := shape[0]
			u, err := quant.UnpackInt4Words(packed, []int{rows, numel(shape) / rows})
			if err != nil {
				t.Fatal(err)
			}
			codes = u.ToF32()
		} else {
			w := got[base]
			shape = w.Shape
			codes = w.ToF32()
		}
		zp := make([]float32, len(scale))
		if z := got[base+"_zero_point"]; z != nil {
			if z.DType == tensor.I32 {
				rows, groups := shape[0], len(scale)/shape[0]
				for r := 0; r < rows; r++ {
					for g := 0; g < groups; g++ {
						zp[r*groups+g] = float32(int32((uint32(z.I32()[(r/8)*groups+g])>>(4*(r%8)))&0xF) - 8)
					}
				}
			} else {
				zp = z.ToF32()
			}
		}
		rows := shape[0]
		cols := len(codes) / rows
		per := len(scale) / rows // scales per row
		groupSize := (cols + per - 1) / per
		if opts.Weights.GroupSize > 0 || (per > 0 && len(scale) > 1 && per > 1) {
			groupSize = opts.Weights.GroupSize
			if groupSize == 0 {
				groupSize = 128
			}
		}
		vals := make([]float32, len(codes))
		for i, c := range codes {
			k := 0
			switch {
			case len(scale) == 1:
			case per == 1:
				k = i / cols
			default:
				k = (i/cols)*per + (i%cols)/groupSize
			}
			vals[i] = (c - zp[k]) * scale[k]
		}
		out[base] = vals
	}
	return out
}

func TestSavePtEqualsSafetensors(t *testing.T) {
	for _, dtype := range []string{"int8", "uint8", "int4", "fp16", "bf16"} {
		opts := DefaultOptions()
		opts.Weights.DType = dtype
		opts.Weights.Symmetric = dtype != "uint8"
		opts.Skip = layer.Names("conv1")
		dir := t.TempDir()
		quantizeAndSave(t, exampleSafetensors, opts, filepath.Join(dir, "q.safetensors"), SaveOptions{})
		quantizeAndSave(t, exampleSafetensors, opts, filepath.Join(dir, "q.pt"), SaveOptions{})
		quantizeAndSave(t, exampleSafetensors, opts, filepath.Join(dir, "q.weights"), SaveOptions{Format: "pt"})
		st, _ := loadAll(t, filepath.Join(dir, "q.safetensors"))
		for _, other := range []string{"q.pt", "q.weights"} {
			pt, meta := loadAll(t, filepath.Join(dir, other))
			if len(pt) != len(st) || len(meta) != 0 {
				t.Errorf("%s %s: %d tensors (safetensors %d), metadata %v", dtype, other, len(pt), len(st), meta)
			}
			for n, x := range st {
				if y := pt[n]; y == nil || infoOf(x) != infoOf(y) || !bytes.Equal(x.Data, y.Data) {
					t.Errorf("%s %s: %s differs", dtype, other, n)
				}
			}
		}
	}
	opts := DefaultOptions()
	opts.Weights.DType = "fp8_e4m3"
	q, err := PlanWeights(context.Background(), openModel(t, examplePT), opts)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "q.pt")
	err = q.Save(context.Background(), path, SaveOptions{})
	if err == nil || !strings.Contains(err.Error(), `tensor "conv1.weight" is F8_E4M3, which torch 1.x .pt files cannot hold; save as .safetensors`) {
		t.Errorf("fp8 .pt: %v", err)
	}
	assertNoFiles(t, filepath.Dir(path))
}

func TestSaveMetadata(t *testing.T) {
	opts := DefaultOptions()
	opts.Skip = layer.Names("conv1")
	out := filepath.Join(t.TempDir(), "q.safetensors")
	opts.Version = "1.2.3-test"
	q, err := PlanWeights(context.Background(), openModel(t, examplePT), opts)
	if err != nil {
		t.Fatal(err)
	}
	q.SetCalibrationSamples(0)
	if err := q.Save(context.Background(), out, SaveOptions{Metadata: map[string]string{"dataset": "val-150", "format": "pt"}}); err != nil {
		t.Fatal(err)
	}
	_, meta := loadAll(t, out)
	if meta["dataset"] != "val-150" || meta["format"] != "pt" || len(meta) != 4 {
		t.Errorf("metadata %v", meta)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(meta["quantization"]), &rec); err != nil {
		t.Fatal(err)
	}
	want := `{"calibration_samples":0,"dtype":"int8","granularity":"per_channel(axis=0)","layers_quantized":["conv2","conv3","fc1","fc2"],"layers_skipped":[{"name":"conv1","reason":"skip: conv1"},{"name":"bn1","reason":"type Norm not selected"}],"layout":"compressed","numerics":"torch","observer":"per_channel_minmax","scheme":"int8 per-channel symmetric weights (torch numerics)","symmetric":true,"tool":"qscript","version":"1.2.3-test"}`
	if b, _ := json.Marshal(rec); string(b) != want {
		t.Errorf("record\n got %s\nwant %s", b, want)
	}
	wantCfg := `{"config_groups":{"group_0":{"input_activations":{"dynamic":true,"group_size":null,"num_bits":8,"observer":null,"strategy":"token","symmetric":true,"type":"int"},"targets":["Conv2d","Linear"],"weights":{"dynamic":false,"group_size":null,"num_bits":8,"observer":"minmax","strategy":"channel","symmetric":true,"type":"int"}}},"format":"int-quantized","ignore":["conv1"],"kv_cache_scheme":null,"quant_method":"compressed-tensors","quantization_status":"compressed"}`
	var cfg map[string]any
	if err := json.Unmarshal([]byte(meta["quantization_config"]), &cfg); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(cfg); string(b) != wantCfg {
		t.Errorf("config\n got %s\nwant %s", b, wantCfg)
	}
	for _, k := range []string{"quantization", "quantization_config"} {
		err := q.Save(context.Background(), filepath.Join(t.TempDir(), "x.safetensors"), SaveOptions{Metadata: map[string]string{k: "{}"}})
		if err == nil || err.Error() != fmt.Sprintf("save: metadata key %q is reserved for qscript's own record", k) {
			t.Errorf("reserved key %s: %v", k, err)
		}
	}
}

func TestSaveConfigJSON(t *testing.T) {
	in := t.TempDir()
	data, err := os.ReadFile(exampleSafetensors)
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(in, "model.safetensors")
	os.WriteFile(model, data, 0o644)
	original := `{"architectures": ["DigitsCNN"], "hidden_size": 64, "torch_dtype": "float32", "big": 12345678901234567890}`
	os.WriteFile(filepath.Join(in, "config.json"), []byte(original), 0o644)
	opts := DefaultOptions()
	opts.Skip = layer.Names("conv1")
	outDir := t.TempDir()
	q := quantizeAndSave(t, model, opts, filepath.Join(outDir, "model.safetensors"), SaveOptions{})
	cfgData, err := os.ReadFile(filepath.Join(outDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(cfgData, &cfg); err != nil {
		t.Fatal(err)
	}
	if string(cfg["big"]) != "12345678901234567890" || string(cfg["hidden_size"]) != "64" || len(cfg) != 5 {
		t.Errorf("config.json lost keys: %s", cfgData)
	}
	var qc CompressedConfig
	if err := json.Unmarshal(cfg["quantization_config"], &qc); err != nil || qc.QuantMethod != "compressed-tensors" || qc.Format != "int-quantized" {
		t.Errorf("quantization_config %s (%v)", cfg["quantization_config"], err)
	}
	// Saving beside the input never overwrites the input's config.json.
	if err := q.Save(context.Background(), filepath.Join(in, "model.int8.safetensors"), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(in, "config.json")); string(b) != original {
		t.Errorf("input config.json changed: %s", b)
	}
	if w := q.Warnings(); len(w) != 1 || !strings.Contains(w[0], "config.json not written") {
		t.Errorf("warnings %q", w)
	}
	// A cast writes no config.json.
	opts.Weights.DType = "fp16"
	castDir := t.TempDir()
	quantizeAndSave(t, model, opts, filepath.Join(castDir, "model.safetensors"), SaveOptions{})
	if _, err := os.Stat(filepath.Join(castDir, "config.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("config.json for a cast: %v", err)
	}
	// A broken config.json fails the save before anything is written.
	os.WriteFile(filepath.Join(in, "config.json"), []byte(`{"a": 1} trailing`), 0o644)
	bad := t.TempDir()
	q2, err := PlanWeights(context.Background(), openModel(t, model), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := q2.Save(context.Background(), filepath.Join(bad, "m.safetensors"), SaveOptions{}); err == nil || !strings.Contains(err.Error(), "data after the JSON object") {
		t.Errorf("broken config.json: %v", err)
	}
	assertNoFiles(t, bad)
}

func assertNoFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}

// failingModel fails to load one tensor, after the others.
type failingModel struct {
	formats.Model
	fail string
}

func (f failingModel) Load(name string) (*tensor.Tensor, error) {
	if name == f.fail {
		return nil, errors.New("disk on fire")
	}
	return f.Model.Load(name)
}

func TestSaveFailuresLeaveNothing(t *testing.T) {
	src := openModel(t, examplePT)
	for _, ext := range []string{".safetensors", ".pt"} {
		dir := t.TempDir()
		q, err := PlanWeights(context.Background(), failingModel{src, "fc1.weight"}, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		err = q.Save(context.Background(), filepath.Join(dir, "q"+ext), SaveOptions{})
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("%s: %v", ext, err)
		}
		assertNoFiles(t, dir)

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		q, err = PlanWeights(context.Background(), src, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Save(ctx, filepath.Join(dir, "q"+ext), SaveOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s cancelled: %v", ext, err)
		}
		assertNoFiles(t, dir)
		if _, err := q.Report(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("report cancelled: %v", err)
		}
	}
	q, _ := PlanWeights(context.Background(), src, DefaultOptions())
	dir := t.TempDir()
	for _, c := range []struct {
		so   SaveOptions
		path string
		err  string
	}{
		{SaveOptions{Layout: "compresed"}, "q.safetensors", `save: unknown layout "compresed" (did you mean "compressed"?); valid layouts: compressed, fake`},
		{SaveOptions{Format: "gguf"}, "q.safetensors", `save: unknown format "gguf"; valid formats: safetensors, pt`},
		{SaveOptions{}, "q.onnx", "cannot tell the format from the extension"},
	} {
		err := q.Save(context.Background(), filepath.Join(dir, c.path), c.so)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%+v: %v", c.so, err)
		}
	}
	assertNoFiles(t, dir)
}

func fileHash(t *testing.T, path string) [32]byte {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func TestInputUnchanged(t *testing.T) {
	for _, src := range []string{examplePT, exampleSafetensors} {
		before := fileHash(t, src)
		m := openModel(t, src)
		var loaded []*tensor.Tensor
		for _, info := range m.Tensors() {
			x, _ := m.Load(info.Name)
			loaded = append(loaded, x.Clone())
		}
		for _, dtype := range []string{"int8", "uint4", "fp16", "fp8_e5m2"} {
			opts := DefaultOptions()
			opts.Weights.DType = dtype
			q, err := PlanWeights(context.Background(), m, opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := q.Report(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, layout := range Layouts {
				if err := q.Save(context.Background(), filepath.Join(t.TempDir(), "o.safetensors"), SaveOptions{Layout: layout}); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i, info := range m.Tensors() {
			x, _ := m.Load(info.Name)
			if !bytes.Equal(x.Contiguous().Data, loaded[i].Data) {
				t.Errorf("%s: %s changed in memory", src, info.Name)
			}
		}
		if fileHash(t, src) != before {
			t.Errorf("%s changed on disk", src)
		}
	}
}

// writeSafetensors writes a small checkpoint for tests.
func writeSafetensors(t testing.TB, path string, tensors map[string]*tensor.Tensor) {
	t.Helper()
	var infos []tensor.Info
	for n, x := range tensors {
		infos = append(infos, tensor.Info{Name: n, DType: x.DType, Shape: x.Shape})
	}
	err := safetensors.WriteFile(context.Background(), path, infos, nil, func(n string) (*tensor.Tensor, error) { return tensors[n], nil })
	if err != nil {
		t.Fatal(err)
	}
}

func TestNonFiniteWeight(t *testing.T) {
	w := make([]float32, 4*8)
	for i := range w {
		w[i] = float32(i) / 10
	}
	w[13] = float32(math.NaN())
	path := filepath.Join(t.TempDir(), "nan.safetensors")
	writeSafetensors(t, path, map[string]*tensor.Tensor{"enc.fc.weight": tensor.FromF32([]int{4, 8}, w)})
	for _, dtype := range WeightDTypes {
		opts := DefaultOptions()
		opts.Weights.DType = dtype
		q, err := PlanWeights(context.Background(), openModel(t, path), opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = q.Report(context.Background())
		if err == nil || !strings.Contains(err.Error(), `tensor "enc.fc.weight"`) || !errors.Is(err, quant.ErrNonFinite) {
			t.Errorf("%s report: %v", dtype, err)
		}
		dir := t.TempDir()
		err = q.Save(context.Background(), filepath.Join(dir, "o.safetensors"), SaveOptions{})
		if err == nil || !strings.Contains(err.Error(), `tensor "enc.fc.weight"`) || !errors.Is(err, quant.ErrNonFinite) {
			t.Errorf("%s save: %v", dtype, err)
		}
		assertNoFiles(t, dir)
	}
}

func TestHalfSourceScales(t *testing.T) {
	rows, cols := 3, 20
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(math.Sin(float64(i))) * float32(1+i%3)
	}
	for _, dt := range []tensor.DType{tensor.F16, tensor.BF16} {
		src := tensor.FromF32To(dt, []int{rows, cols}, w)
		path := filepath.Join(t.TempDir(), "half.safetensors")
		writeSafetensors(t, path, map[string]*tensor.Tensor{"lin.weight": src, "lin.bias": tensor.FromF32To(dt, []int{rows}, w[:rows])})
		for _, dtype := range []string{"int8", "int4", "fp8_e4m3"} {
			opts := DefaultOptions()
			opts.Weights.DType = dtype
			out := filepath.Join(t.TempDir(), "o.safetensors")
			quantizeAndSave(t, path, opts, out, SaveOptions{})
			got, _ := loadAll(t, out)
			scale := got["lin.weight_scale"]
			if scale == nil || scale.DType != dt || got["lin.bias"].DType != dt {
				t.Fatalf("%v %s: scale %v", dt, dtype, scale)
			}
			if dtype != "int8" {
				continue
			}
			// Codes are those of quantizing with the stored (rounded) scales.
			x := src.ToF32()
			s := scale.ToF32()
			for i, c := range got["lin.weight"].I8() {
				p := &quant.QParams{Scheme: quant.Scheme{QType: quant.QInt8, Symmetric: true}, Scale: []float32{s[i/cols]}, ZeroPoint: []int32{0}, Axis: -1}
				want, err := quant.Quantize(tensor.FromF32([]int{1}, x[i:i+1]), p)
				if err != nil {
					t.Fatal(err)
				}
				if c != want.I8()[0] {
					t.Fatalf("%v element %d: %d, want %d", dt, i, c, want.I8()[0])
				}
			}
		}
	}
}

func TestInputQParams(t *testing.T) {
	q, err := PlanWeights(context.Background(), openModel(t, examplePT), Options{
		Weights: WeightOptions{DType: "int8", PerChannel: true, Symmetric: true}, Selection: layer.Selection{Skip: layer.Names("conv1")}})
	if err != nil {
		t.Fatal(err)
	}
	act := quant.Scheme{QType: quant.QUInt8}
	if err := q.SetInputQParams("fc1", &quant.QParams{Scheme: act, Scale: []float32{0.05}, ZeroPoint: []int32{3}, Axis: -1}); err != nil {
		t.Fatal(err)
	}
	sym := quant.Scheme{QType: quant.QInt8, Symmetric: true}
	if err := q.SetInputQParams("fc2", &quant.QParams{Scheme: sym, Scale: []float32{0.25}, ZeroPoint: []int32{0}, Axis: -1}); err != nil {
		t.Fatal(err)
	}
	q.SetCalibrationSamples(150)
	for _, c := range []struct {
		layer string
		err   string
	}{{"conv1", `input qparams: layer "conv1" is not quantized to integers`}, {"fc3", `input qparams: no layer named "fc3" (similar layers: fc1, fc2)`}} {
		if err := q.SetInputQParams(c.layer, &quant.QParams{Scheme: sym, Scale: []float32{1}, ZeroPoint: []int32{0}}); err == nil || err.Error() != c.err {
			t.Errorf("%s: %v", c.layer, err)
		}
	}
	out := filepath.Join(t.TempDir(), "s.safetensors")
	if err := q.Save(context.Background(), out, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	got, meta := loadAll(t, out)
	if s := got["fc1.input_scale"]; s == nil || infoOf(s) != "F32[1]" || s.F32()[0] != 0.05 {
		t.Errorf("fc1.input_scale %v", s)
	}
	if z := got["fc1.input_zero_point"]; z == nil || infoOf(z) != "I8[1]" || z.I8()[0] != 3-128 {
		t.Errorf("fc1.input_zero_point %v", z)
	}
	if s := got["fc2.input_scale"]; s == nil || s.F32()[0] != 0.25 {
		t.Errorf("fc2.input_scale %v", s)
	}
	if _, ok := got["fc2.input_zero_point"]; ok {
		t.Error("symmetric int8 input has a zero point")
	}
	if !strings.Contains(meta["quantization"], `"calibration_samples":150`) || !strings.Contains(meta["quantization"], `"activations":{"dtype":"uint8","symmetric":false,"layers":2}`) {
		t.Errorf("record %s", meta["quantization"])
	}
	if !strings.Contains(meta["quantization_config"], `"input_activations":{"num_bits":8,"type":"int","symmetric":false,"strategy":"tensor"`) {
		t.Errorf("config %s", meta["quantization_config"])
	}
}

func TestShardedInput(t *testing.T) {
	src, _ := loadAll(t, exampleSafetensors)
	dir := t.TempDir()
	shards := map[string]map[string]*tensor.Tensor{"a.safetensors": {}, "b.safetensors": {}}
	weightMap := map[string]string{}
	for n, x := range src {
		shard := "a.safetensors"
		if strings.HasPrefix(n, "fc") {
			shard = "b.safetensors"
		}
		shards[shard][n] = x
		weightMap[n] = shard
	}
	for name, tensors := range shards {
		writeSafetensors(t, filepath.Join(dir, name), tensors)
	}
	index, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	indexPath := filepath.Join(dir, "model.safetensors.index.json")
	if err := os.WriteFile(indexPath, index, 0o644); err != nil {
		t.Fatal(err)
	}
	m := openModel(t, indexPath)
	if _, ok := newWorkspace(m).sections.(*safetensors.Sharded); !ok {
		t.Fatal("sharded checkpoints are not read through positioned reads")
	}
	opts := DefaultOptions()
	opts.Skip = layer.Names("conv1")
	out := t.TempDir()
	quantizeAndSave(t, indexPath, opts, filepath.Join(out, "sharded.safetensors"), SaveOptions{})
	quantizeAndSave(t, exampleSafetensors, opts, filepath.Join(out, "single.safetensors"), SaveOptions{})
	a, _ := loadAll(t, filepath.Join(out, "sharded.safetensors"))
	b, _ := loadAll(t, filepath.Join(out, "single.safetensors"))
	if len(a) != len(b) {
		t.Fatalf("%d tensors, want %d", len(a), len(b))
	}
	for n, x := range b {
		if y := a[n]; y == nil || infoOf(x) != infoOf(y) || !bytes.Equal(x.Data, y.Data) {
			t.Errorf("%s differs", n)
		}
	}
}

// TestSaveProgress: SaveOptions.Progress sees every source tensor once, with the totals.
func TestSaveProgress(t *testing.T) {
	for _, name := range []string{"out.safetensors", "out.pt"} {
		m := openModel(t, examplePT)
		q, err := PlanWeights(context.Background(), m, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		var calls []Progress
		so := SaveOptions{Progress: func(p Progress) { calls = append(calls, p) }}
		if err := q.Save(context.Background(), filepath.Join(t.TempDir(), name), so); err != nil {
			t.Fatal(err)
		}
		n := len(m.Tensors())
		if len(calls) != n || calls[n-1].Tensors != n || calls[n-1].Bytes != calls[n-1].TotalBytes || calls[0].TotalTensors != n {
			t.Fatalf("%s: %d calls for %d tensors, last %+v", name, len(calls), n, calls[len(calls)-1])
		}
	}
}

// TestCompressedConfigVLLM: the config is claimed only for what vLLM's
// _get_scheme_from_parts serves; otherwise CompressedConfig gives the reason.
func TestCompressedConfigVLLM(t *testing.T) {
	for _, c := range []struct {
		weights WeightOptions
		format  string // "" when no config is claimed
		input   bool   // dynamic per-token int8 input activations
		why     string
	}{
		{WeightOptions{DType: "int8", PerChannel: true, Symmetric: true}, "int-quantized", true, ""},
		{WeightOptions{DType: "int8", Symmetric: true}, "int-quantized", true, ""},
		{WeightOptions{DType: "int8", PerChannel: true}, "", false, "vLLM takes int8 weights (W8A8) only when they are symmetric"},
		{WeightOptions{DType: "int8", Symmetric: true, GroupSize: 32}, "", false, "vLLM takes int8 weights (W8A8) per tensor or per channel"},
		{WeightOptions{DType: "int4", Symmetric: true}, "pack-quantized", false, ""},
		{WeightOptions{DType: "uint4", GroupSize: -1, PerChannel: true}, "pack-quantized", false, ""},
		{WeightOptions{DType: "int4", Symmetric: true, GroupSize: -1}, "", false, "vLLM takes packed int4 weights per channel or per group"},
		{WeightOptions{DType: "fp8_e4m3"}, "float-quantized", false, ""},
	} {
		q, err := PlanWeights(context.Background(), openModel(t, examplePT), Options{Weights: c.weights, Selection: layer.Selection{Types: []string{"Linear"}}})
		if err != nil {
			t.Fatal(err)
		}
		cfg, why := q.CompressedConfig()
		name := fmt.Sprintf("%+v", c.weights)
		switch {
		case c.format == "":
			if cfg != nil || !strings.HasPrefix(why, c.why) || !strings.Contains(why, "recipes/llm.lua") {
				t.Errorf("%s: config %v, reason %q; want none, %q...", name, cfg, why, c.why)
			}
		case cfg == nil:
			t.Errorf("%s: no config: %s", name, why)
		default:
			in := cfg.ConfigGroups["group_0"].InputActivations
			if cfg.Format != c.format || (in != nil) != c.input || (in != nil && (in.Strategy != "token" || !in.Dynamic)) {
				t.Errorf("%s: format %s, input_activations %+v", name, cfg.Format, in)
			}
		}
	}
}
