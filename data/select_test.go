package data

import (
	"context"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

func TestSelect(t *testing.T) {
	a := tensor.FromF32([]int{3, 2}, []float32{1, 2, 3, 4, 5, 6})
	b := tensor.FromF32([]int{3}, []float32{7, 8, 9})
	c := tensor.FromF32([]int{3}, []float32{0, 1, 0})
	src, err := Tensors(map[string]*tensor.Tensor{"a": a, "b": b, "c": c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := Select(src, "a", "c")
	if err != nil {
		t.Fatal(err)
	}
	if in := sel.Inputs(); len(in) != 1 || in[0].Name != "a" || !reflect.DeepEqual(in[0].Shape, []int{2}) || !sel.HasTarget() {
		t.Fatalf("inputs %v, has target %v", in, sel.HasTarget())
	}
	r, err := sel.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	batch, err := r.Next(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.Inputs) != 1 || batch.Len != 2 || !reflect.DeepEqual(batch.Inputs["a"].ToF32(), []float32{1, 2, 3, 4}) ||
		batch.Target == nil || !reflect.DeepEqual(batch.Target.ToF32(), []float32{0, 1}) {
		t.Fatalf("batch %+v", batch)
	}
	if _, err := r.Next(2); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(2); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last sample: %v, want io.EOF", err)
	}

	labelOnly, err := Select(src, "", "b")
	if err != nil {
		t.Fatal(err)
	}
	if in := labelOnly.Inputs(); len(in) != 2 || in[0].Name != "a" || in[1].Name != "c" {
		t.Fatalf("label only: inputs %v", in)
	}

	_, err = Select(src, "inputs", "")
	var unknown *UnknownArrayError
	if !errors.As(err, &unknown) || unknown.Name != "inputs" || !reflect.DeepEqual(unknown.Arrays, []string{"a", "b", "c"}) ||
		err.Error() != `data: no array named "inputs"; arrays: a, b, c` {
		t.Fatalf("unknown input: %v", err)
	}
	if _, err := Select(src, "a", "y"); !errors.As(err, &unknown) || unknown.Name != "y" {
		t.Fatalf("unknown label without a target: %v", err)
	}
}

// TestSelectNPZ: the held-out digits (.npz of input and label) keep their own target, found
// by name, when only the input is chosen.
func TestSelectNPZ(t *testing.T) {
	src, err := NPZ("../examples/models/test.npz")
	if err != nil {
		t.Fatal(err)
	}
	sel, err := Select(src, "input", "label")
	if err != nil {
		t.Fatal(err)
	}
	if in := sel.Inputs(); len(in) != 1 || in[0].Name != "input" || !sel.HasTarget() || sel.Len() != src.Len() {
		t.Fatalf("inputs %v, target %v, len %d", in, sel.HasTarget(), sel.Len())
	}
	if _, err := Select(src, "inputs", ""); err == nil || err.Error() != `data: no array named "inputs"; arrays: input` {
		t.Fatalf("unknown array: %v", err)
	}
}
