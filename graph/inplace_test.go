package graph

import (
	"bytes"
	"context"
	"testing"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

// TestElementwiseInPlace runs Neg → Abs → Relu → Neg, whose last three nodes may write
// their output over their input (each is its input's last reader), and checks: the result
// is the same without hooks, with a hook that watches nothing (the inputs it is passed
// are then nil where they were overwritten) and with a hook that sees every value (no
// overwriting); a kept or watched value is never overwritten; and the first run without
// hooks takes one buffer.
func TestElementwiseInPlace(t *testing.T) {
	m := model(13,
		node("Neg", "n1", []string{"x"}, []string{"a"}),
		node("Abs", "abs", []string{"a"}, []string{"b"}),
		node("Relu", "relu", []string{"b"}, []string{"c"}),
		node("Neg", "n2", []string{"c"}, []string{"y"}),
	)
	m.Graph.Input[0] = vinfo("x", onnxpb.TensorProto_FLOAT, 64, 1024)
	g, err := Load(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.F32, 64, 1024)
	xs := x.F32()
	for i := range xs {
		xs[i] = float32(i%7) - 3
	}
	in := map[string]*tensor.Tensor{"x": x}
	want, err := g.Run(context.Background(), in, &Hooks{AfterNode: func(*Node, []*tensor.Tensor, []*tensor.Tensor) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	nilInputs := 0
	for _, c := range []struct {
		name  string
		hooks *Hooks
		nils  int
	}{
		{"no hooks", nil, 0},
		{"watching nothing", &Hooks{Watch: func(string) bool { return false }, AfterNode: func(n *Node, ins, _ []*tensor.Tensor) error {
			if ins[0] == nil {
				nilInputs++
			}
			return nil
		}}, 3},
		{"watching b", &Hooks{Watch: func(v string) bool { return v == "b" }, AfterNode: func(n *Node, ins, _ []*tensor.Tensor) error {
			if n.Name == "relu" && ins[0] == nil {
				t.Error("the watched value b was overwritten")
			}
			if ins[0] == nil {
				nilInputs++
			}
			return nil
		}}, 2},
		{"keeping a", &Hooks{Keep: []string{"a"}}, 0},
	} {
		nilInputs = 0
		r := g.NewRunner()
		for run := 0; run < 2; run++ {
			got, err := r.Run(context.Background(), in, c.hooks)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got["y"].Data, want["y"].Data) {
				t.Fatalf("%s: the result differs from a run that overwrites nothing", c.name)
			}
			if c.name == "keeping a" && !bytes.Equal(got["a"].Data, neg(x).Data) {
				t.Fatalf("the kept value a was overwritten")
			}
			if c.hooks == nil && run == 0 && len(r.mem.chunks) != 1 {
				// Two, when each node takes a new buffer: a and b, then c over a's and y over b's.
				t.Errorf("no hooks: the first run took %d chunks, want 1 (every node after the first writes over its input)", len(r.mem.chunks))
			}
		}
		if nilInputs != 2*c.nils {
			t.Errorf("%s: the hook saw %d overwritten inputs in two runs, want %d", c.name, nilInputs, 2*c.nils)
		}
	}
}

func neg(x *tensor.Tensor) *tensor.Tensor {
	out := tensor.New(tensor.F32, x.Shape...)
	d := out.F32()
	for i, v := range x.F32() {
		d[i] = -v
	}
	return out
}
