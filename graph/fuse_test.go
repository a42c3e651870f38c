package graph

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph/internal/sgemm"
	"github.com/qscript-dev/qscript/tensor"
)

// TestIm2colShifted checks im2colShifted against im2colRow then PackBRow, the path it
// replaces, bit for bit and at every position of B (pre-filled with NaN), for kernels,
// paddings and images placed at a column offset of a wider B (Conv's joined images).
func TestIm2colShifted(t *testing.T) {
	cases := []struct {
		h, w, k0, k1 int
		pads         []int64
	}{
		{7, 7, 3, 3, []int64{1, 1, 1, 1}},
		{56, 56, 3, 3, []int64{1, 1, 1, 1}},
		{9, 11, 5, 5, []int64{2, 2, 2, 2}},
		{6, 5, 3, 3, []int64{0, 1, 2, 1}},
		{4, 4, 1, 1, []int64{0, 0, 0, 0}},
		{5, 8, 1, 3, []int64{0, 1, 0, 1}},
		{3, 4, 3, 5, []int64{3, 2, 0, 2}},
		{1, 20, 1, 7, []int64{0, 3, 0, 3}},
		{3, 2, 3, 5, []int64{1, 2, 1, 2}}, // taps entirely left or right of the image
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		p, err := spatialParams(nil, []int{c.h, c.w}, []int{c.k0, c.k1}, nil, nil, c.pads, "NOTSET", false)
		if err != nil {
			t.Fatal(err)
		}
		if !shiftable(p, c.w, 32) {
			t.Fatalf("%+v: not shiftable", c)
		}
		const ch = 2
		img := make([]float32, ch*c.h*c.w)
		for i := range img {
			img[i] = rng.Float32() - 0.5
		}
		plane, k := p.out[0]*p.out[1], ch*c.k0*c.k1
		for _, nr := range []int{16, 32} {
			for _, col0 := range []int{0, 5, plane} {
				n := col0 + plane
				want, got := make([]float32, sgemm.PackedBSize(n, k, nr)), make([]float32, sgemm.PackedBSize(n, k, nr))
				for i := range want {
					want[i], got[i] = float32(math.NaN()), float32(math.NaN())
				}
				row := make([]float32, plane)
				for ci := 0; ci < ch; ci++ {
					src := img[ci*c.h*c.w : (ci+1)*c.h*c.w]
					for tap := 0; tap < c.k0*c.k1; tap++ {
						im2colRow(row, src, c.h, c.w, p, tap/c.k1, tap%c.k1)
						sgemm.PackBRow(want, row, n, k, ci*c.k0*c.k1+tap, nr, col0)
					}
					// Two column ranges, split mid-row, make the whole.
					mid := min(plane, 2*p.out[1]/3)
					im2colShifted(got, src, c.h, c.w, p, ci, k, nr, n, col0, 0, mid)
					im2colShifted(got, src, c.h, c.w, p, ci, k, nr, n, col0+mid, mid, plane)
				}
				// Columns before col0 belong to other images: neither path writes them.
				if !slices.EqualFunc(want, got, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
					t.Errorf("%dx%d kernel %dx%d pads %v nr %d col0 %d: packed B differs", c.h, c.w, c.k0, c.k1, c.pads, nr, col0)
				}
			}
		}
	}
}

// convChainModel is convChainModelAct ending with a Relu.
func convChainModel(x, w []int64, group int64, add bool, attrs ...*onnxpb.AttributeProto) *onnxpb.ModelProto {
	return convChainModelAct(x, w, group, add, "Relu", attrs...)
}

// convChainModelAct is x → Conv (weights and bias initializers) → Add r → act → y, or the
// chain without the Add (add false), with the given Conv attributes; act "Relu" ends it with
// a Relu, "Clip" with a Clip to [0, 0.3] (bounds as initializers), anything else with a Clip
// to [-0.1, +inf) (max omitted).
func convChainModelAct(x, w []int64, group int64, add bool, act string, attrs ...*onnxpb.AttributeProto) *onnxpb.ModelProto {
	rng := rand.New(rand.NewPCG(3, 4))
	numel := func(d []int64) int {
		n := 1
		for _, v := range d {
			n *= int(v)
		}
		return n
	}
	floats := func(name string, dims []int64) *onnxpb.TensorProto {
		v := make([]float32, numel(dims))
		for i := range v {
			v[i] = rng.Float32() - 0.5
		}
		return &onnxpb.TensorProto{Name: ptr(name), DataType: ptr(int32(onnxpb.TensorProto_FLOAT)), Dims: dims, FloatData: v}
	}
	attrs = append(attrs, &onnxpb.AttributeProto{Name: ptr("group"), Type: onnxpb.AttributeProto_INT.Enum(), I: ptr(group)})
	nodes := []*onnxpb.NodeProto{node("Conv", "conv", []string{"x", "w", "b"}, []string{"c"}, attrs...)}
	relu := "c"
	if add {
		nodes = append(nodes, node("Add", "add", []string{"r", "c"}, []string{"s"}))
		relu = "s"
	}
	var bounds []*onnxpb.TensorProto
	scalar := func(name string, v float32) *onnxpb.TensorProto {
		return &onnxpb.TensorProto{Name: ptr(name), DataType: ptr(int32(onnxpb.TensorProto_FLOAT)), FloatData: []float32{v}}
	}
	switch act {
	case "Relu":
		nodes = append(nodes, node("Relu", "relu", []string{relu}, []string{"y"}))
	case "Clip":
		nodes = append(nodes, node("Clip", "relu", []string{relu, "lo", "hi"}, []string{"y"}))
		bounds = append(bounds, scalar("lo", 0), scalar("hi", 0.3))
	default:
		nodes = append(nodes, node("Clip", "relu", []string{relu, "lo"}, []string{"y"}))
		bounds = append(bounds, scalar("lo", -0.1))
	}
	m := model(13, nodes...)
	m.Graph.Input = []*onnxpb.ValueInfoProto{vinfo("x", onnxpb.TensorProto_FLOAT, x...)}
	if add {
		r := vinfo("r", onnxpb.TensorProto_FLOAT)
		r.Type.GetTensorType().Shape = nil // any shape
		m.Graph.Input = append(m.Graph.Input, r)
	}
	m.Graph.Initializer = append([]*onnxpb.TensorProto{floats("w", w), floats("b", w[:1])}, bounds...)
	return m
}

// asInputs moves m's initializers to its inputs, returning the values to feed: the Conv
// then runs without weights packed at load (im2col, then sgemm packs both operands).
func asInputs(t *testing.T, m *onnxpb.ModelProto) map[string]*tensor.Tensor {
	feed := map[string]*tensor.Tensor{}
	for _, tp := range m.Graph.Initializer {
		shape := make([]int, len(tp.Dims))
		for i, d := range tp.Dims {
			shape[i] = int(d)
		}
		feed[tp.GetName()] = tensor.FromF32(shape, tp.FloatData)
		m.Graph.Input = append(m.Graph.Input, vinfo(tp.GetName(), onnxpb.TensorProto_FLOAT, tp.Dims...))
	}
	m.Graph.Initializer = nil
	return feed
}

// TestFusedConvChain runs Conv → Add → Relu (or Clip) chains fused (no hooks, or a Watch that does
// not name the values between) and unfused (a hook without Watch), and expects the output
// of the unfused chain with weights that are inputs (not packed at load) bit for bit, for
// the convolution paths (im2col, shifted im2col over the whole plane or in chunks, joined
// small images, 1×1 direct, grouped, depthwise, which fuses the activation only, 1-D; a
// batch of one, its GEMMs split over the cores); the hook sees every node, with nil for
// the values a fused run did not compute, and a watched value stops the fusion.
func TestFusedConvChain(t *testing.T) {
	ints := func(name string, v ...int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: ptr(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
	}
	cases := []struct {
		x, w  []int64
		group int64
		attrs []*onnxpb.AttributeProto
	}{
		{[]int64{2, 8, 9, 9}, []int64{16, 8, 3, 3}, 1, []*onnxpb.AttributeProto{ints("pads", 1, 1, 1, 1)}},
		{[]int64{2, 3, 23, 25}, []int64{16, 3, 3, 3}, 1, []*onnxpb.AttributeProto{ints("pads", 1, 1, 1, 1)}},
		{[]int64{2, 4, 24, 22}, []int64{8, 4, 5, 5}, 1, []*onnxpb.AttributeProto{ints("pads", 1, 2, 3, 2)}},
		{[]int64{3, 8, 7, 7}, []int64{24, 8, 3, 3}, 1, []*onnxpb.AttributeProto{ints("pads", 1, 1, 1, 1)}},
		{[]int64{16, 4, 7, 7}, []int64{16, 4, 3, 3}, 1, []*onnxpb.AttributeProto{ints("pads", 1, 1, 1, 1)}},
		{[]int64{5, 3, 14, 14}, []int64{8, 3, 3, 3}, 1, []*onnxpb.AttributeProto{ints("pads", 1, 1, 1, 1)}},
		{[]int64{2, 4, 11, 10}, []int64{8, 4, 3, 3}, 1, []*onnxpb.AttributeProto{ints("strides", 2, 2), ints("pads", 1, 1, 1, 1)}},
		{[]int64{2, 16, 6, 6}, []int64{8, 16, 1, 1}, 1, nil},
		{[]int64{2, 3, 40, 38}, []int64{16, 3, 3, 3}, 1, []*onnxpb.AttributeProto{ints("strides", 2, 2), ints("pads", 1, 1, 1, 1)}},
		{[]int64{2, 3, 20, 60}, []int64{8, 3, 7, 7}, 1, []*onnxpb.AttributeProto{ints("strides", 2, 2), ints("pads", 3, 3, 3, 3)}},
		{[]int64{2, 8, 34, 36}, []int64{16, 8, 1, 1}, 1, []*onnxpb.AttributeProto{ints("strides", 2, 2)}},
		{[]int64{2, 2, 50, 50}, []int64{8, 2, 3, 3}, 1, []*onnxpb.AttributeProto{ints("strides", 3, 3), ints("pads", 1, 0, 1, 1)}},
		{[]int64{2, 8, 6, 6}, []int64{8, 4, 3, 3}, 2, []*onnxpb.AttributeProto{ints("pads", 1, 1, 1, 1)}},
		{[]int64{2, 8, 6, 6}, []int64{8, 1, 3, 3}, 8, []*onnxpb.AttributeProto{ints("pads", 1, 1, 1, 1)}},
		{[]int64{2, 4, 20}, []int64{6, 4, 5}, 1, []*onnxpb.AttributeProto{ints("pads", 2, 2)}},
		// A batch of one: each GEMM split over the cores (RunRows' tiles, the in-place 1×1).
		{[]int64{1, 8, 24, 24}, []int64{16, 8, 3, 3}, 1, []*onnxpb.AttributeProto{ints("pads", 1, 1, 1, 1)}},
		{[]int64{1, 3, 40, 38}, []int64{16, 3, 3, 3}, 1, []*onnxpb.AttributeProto{ints("strides", 2, 2), ints("pads", 1, 1, 1, 1)}},
		{[]int64{1, 16, 20, 20}, []int64{16, 16, 1, 1}, 1, nil},
	}
	for k, c := range cases {
		for _, add := range []bool{false, true} {
			act := []string{"Relu", "Clip", "Clip-"}[k%3]
			t.Run(fmt.Sprintf("%v_%v_g%d_add%v_%s", c.x, c.w, c.group, add, act), func(t *testing.T) {
				checkFusedChain(t, c.x, c.w, c.group, add, act, c.attrs)
			})
		}
	}
}

func checkFusedChain(t *testing.T, xs, ws []int64, group int64, add bool, act string, attrs []*onnxpb.AttributeProto) {
	g, err := Load(convChainModelAct(xs, ws, group, add, act, attrs...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := convChainModelAct(xs, ws, group, add, act, attrs...)
	weights := asInputs(t, m)
	plain, err := Load(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	random := func(shape []int) *tensor.Tensor {
		x := tensor.New(tensor.F32, shape...)
		for i := range x.F32() {
			x.F32()[i] = rng.Float32() - 0.5
		}
		return x
	}
	shape := make([]int, len(xs))
	for i, v := range xs {
		shape[i] = int(v)
	}
	feed := map[string]*tensor.Tensor{"x": random(shape)}
	if add {
		vi, _ := g.ValueInfo("c")
		feed["r"] = random(vi.Shape)
	}
	seen := map[string]bool{}
	watching := func(watch string) *Hooks {
		return &Hooks{Watch: func(name string) bool { return name == watch }, AfterNode: func(n *Node, ins, outs []*tensor.Tensor) error {
			seen[n.Name] = true
			seen[n.Outputs[0]] = outs[0] != nil
			return nil
		}}
	}
	unfused := &Hooks{AfterNode: func(*Node, []*tensor.Tensor, []*tensor.Tensor) error { return nil }}
	for k, v := range feed {
		weights[k] = v
	}
	ref, err := plain.Run(context.Background(), weights, unfused)
	if err != nil {
		t.Fatal(err)
	}
	want := ref["y"]
	for i, h := range []*Hooks{unfused, nil, watching("y"), watching("c")} {
		clear(seen)
		out, err := g.Run(context.Background(), feed, h)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(want.F32(), out["y"].F32(), func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
			t.Fatalf("run %d differs from the unfused run without packed weights", i)
		}
		if i >= 2 && (!seen["conv"] || !seen["relu"] || !seen["y"]) {
			t.Fatalf("run %d: the hook missed a node or the output: %v", i, seen)
		}
		unfusable := group == ws[0] && add // a depthwise Conv fuses the activation only
		if i == 2 && seen["c"] != unfusable {
			t.Errorf("watching y only: conv output computed %v (depthwise with an Add %v)", seen["c"], unfusable)
		}
		if i == 3 && !seen["c"] {
			t.Errorf("watching c: the hook saw no value for it")
		}
	}
}

// BenchmarkConvChain times a ResNet block's Conv → Add → Relu (3×3; 64 channels at 56×56,
// 128 at 28×28, 256 at 14×14) on a batch of 8, on one goroutine, fused.
func BenchmarkConvChain(b *testing.B) {
	for _, sz := range []int64{56, 28, 14} {
		b.Run(fmt.Sprint(sz), func(b *testing.B) {
			ch := 64 * 56 / sz
			ints := &onnxpb.AttributeProto{Name: ptr("pads"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: []int64{1, 1, 1, 1}}
			g, err := Load(convChainModel([]int64{8, ch, sz, sz}, []int64{ch, ch, 3, 3}, 1, true, ints), Options{})
			if err != nil {
				b.Fatal(err)
			}
			x := tensor.New(tensor.F32, 8, int(ch), int(sz), int(sz))
			for i := range x.F32() {
				x.F32()[i] = float32(i%7) - 3
			}
			r := g.NewRunnerWorkers(1)
			feed := map[string]*tensor.Tensor{"x": x, "r": x}
			for b.Loop() {
				if _, err := r.Run(context.Background(), feed, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRowsPad checks rowsPad's padded phase planes against their definition (input element
// or zero at every position, the room past the end zero) on a buffer full of NaN.
func TestRowsPad(t *testing.T) {
	for _, c := range []struct {
		h, w, s int
		pads    []int64
	}{{5, 7, 1, []int64{1, 2, 0, 1}}, {6, 6, 1, []int64{0, 0, 0, 0}}, {7, 9, 2, []int64{3, 1, 2, 3}}, {8, 8, 3, []int64{1, 1, 1, 1}}} {
		p, err := spatialParams(nil, []int{c.h, c.w}, []int{3, 3}, []int64{int64(c.s), int64(c.s)}, nil, c.pads, "NOTSET", false)
		if err != nil {
			t.Fatal(err)
		}
		const cg = 2
		src := make([]float32, cg*c.h*c.w)
		for i := range src {
			src[i] = float32(i + 1)
		}
		l := rowsShape(p, c.h, c.w)
		pad := make([]float32, cg*l.s*l.s*l.hq*l.wq+40)
		for i := range pad {
			pad[i] = float32(math.NaN())
		}
		rowsPad(pad, src, p, cg, c.h, c.w)
		want := make([]float32, len(pad))
		for ch := 0; ch < cg; ch++ {
			for y := 0; y < c.h; y++ {
				for x := 0; x < c.w; x++ {
					py, px := y+p.padBegin[0], x+p.padBegin[1]
					want[((ch*l.s+py%l.s)*l.s+px%l.s)*l.hq*l.wq+(py/l.s)*l.wq+px/l.s] = src[(ch*c.h+y)*c.w+x]
				}
			}
		}
		if !slices.EqualFunc(want, pad, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
			t.Errorf("%+v: padded planes differ", c)
		}
	}
}
