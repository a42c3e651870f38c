package calib

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/data"
	"github.com/qscript-dev/qscript/formats/npy"
	"github.com/qscript-dev/qscript/graph"
	"github.com/qscript-dev/qscript/tensor"
)

// firstBatch reads the first batch of n samples of src.
func firstBatch(t *testing.T, src data.Source, n int) *data.Batch {
	t.Helper()
	r, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := r.Next(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBind(t *testing.T) {
	in := []graph.ValueInfo{{Name: "input", DType: tensor.F32, Shape: []int{-1, 1, 8, 8}, DimParams: []string{"N", "", "", ""}}}
	f64 := tensor.New(tensor.F64, 2, 1, 8, 8)
	f64.F64()[3] = 0.5
	src, _ := data.Tensors(map[string]*tensor.Tensor{"whatever": f64}, nil)
	b, err := Bind(src, in, "calibration data")
	if err != nil {
		t.Fatal(err)
	}
	feed, err := b.Feed(firstBatch(t, src, 2))
	if err != nil || feed["input"].DType != tensor.F32 || feed["input"].F32()[3] != 0.5 || b.FixedBatch() != 0 {
		t.Fatalf("feed %v %v", err, feed)
	}
	two := []graph.ValueInfo{{Name: "ids", DType: tensor.I64, Shape: []int{1, 4}}, {Name: "mask", DType: tensor.I64, Shape: []int{1, 4}}}
	if _, err := Bind(src, two, "calibration data"); err == nil || err.Error() != `calibration data "tensors": no array for model input "ids" (the data has "whatever")` {
		t.Fatalf("names: %v", err)
	}
	both, _ := data.Tensors(map[string]*tensor.Tensor{"ids": tensor.New(tensor.I32, 3, 4), "mask": tensor.New(tensor.I32, 3, 4)}, nil)
	b, err = Bind(both, two, "evaluation data")
	if err != nil || b.FixedBatch() != 1 {
		t.Fatalf("two inputs: %v", err)
	}
	bad, _ := data.Tensors(map[string]*tensor.Tensor{"x": tensor.New(tensor.F32, 2, 3, 8, 8)}, nil)
	if _, err := Bind(bad, in, "calibration data"); err == nil || err.Error() != `calibration data "tensors": sample shape [3,8,8] does not fit model input "input" [N,1,8,8] (a sample is the input without its batch axis 0; set batch_axis for "input" otherwise)` {
		t.Fatalf("shape: %v", err)
	}
}

// TestBindAxes: the batch axis comes from the model's symbolic dims (a recurrent state
// [2,N,4] stacks samples on axis 1), a scalar or a whole-input sample is fed as it is and
// fixes the batch at 1, batch_axis overrides, and a state the data lacks is fed zeros.
func TestBindAxes(t *testing.T) {
	inputs := []graph.ValueInfo{
		{Name: "x", DType: tensor.F32, Shape: []int{-1, 3}, DimParams: []string{"N", ""}},
		{Name: "state", DType: tensor.F32, Shape: []int{2, -1, 4}, DimParams: []string{"", "N", ""}},
		{Name: "sr", DType: tensor.I64, Shape: []int{}},
	}
	x := tensor.New(tensor.F32, 2, 3)
	st := tensor.New(tensor.F32, 2, 2, 4) // samples × [2, 4]
	for i := range st.F32() {
		st.F32()[i] = float32(i)
	}
	sr := tensor.New(tensor.I32, 2)
	sr.I32()[0], sr.I32()[1] = 16000, 16000
	src, _ := data.Tensors(map[string]*tensor.Tensor{"x": x, "state": st, "sr": sr}, nil)
	b, err := Bind(src, inputs, "calibration data")
	if err != nil {
		t.Fatal(err)
	}
	if b.BatchAxis("state") != 1 || b.BatchAxis("sr") != -1 || b.BatchAxis("x") != 0 || b.FixedBatch() != 1 {
		t.Fatalf("axes %d %d %d, fixed batch %d", b.BatchAxis("x"), b.BatchAxis("state"), b.BatchAxis("sr"), b.FixedBatch())
	}
	// Feeding a batch of two stacks the states on axis 1 (fed once the fixed batch is ignored).
	feed, err := b.Feed(firstBatch(t, src, 2))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(feed["state"].Shape, []int{2, 2, 4}) || feed["state"].F32()[4] != 8 || feed["state"].F32()[8] != 4 {
		t.Fatalf("state %v %v", feed["state"].Shape, feed["state"].F32())
	}
	if len(feed["sr"].Shape) != 0 || feed["sr"].DType != tensor.I64 || feed["sr"].I64()[0] != 16000 {
		t.Fatalf("sr %v", feed["sr"])
	}
	// batch_axis = -1 feeds the state as it is: the sample must then be the whole [2,N,4].
	if _, err := BindWith(src, inputs, "calibration data", BindOptions{BatchAxes: map[string]int{"state": -1}}); err == nil ||
		!strings.Contains(err.Error(), `sample shape [2,4] does not fit model input "state" [2,N,4] (a sample is the whole input`) {
		t.Fatalf("batch_axis -1: %v", err)
	}
	if _, err := BindWith(src, inputs, "calibration data", BindOptions{BatchAxes: map[string]int{"stat": 1}}); err == nil ||
		!strings.Contains(err.Error(), `batch_axis names "stat", which is no input of the model ("x", "state", "sr")`) {
		t.Fatalf("unknown batch_axis input: %v", err)
	}
	// The data without a state: zeros of [2,1,4].
	noState, _ := data.Tensors(map[string]*tensor.Tensor{"x": x, "sr": sr}, nil)
	if _, err := Bind(noState, inputs, "calibration data"); err == nil {
		t.Fatal("a missing state without Zeros is accepted")
	}
	b, err = BindWith(noState, inputs, "calibration data", BindOptions{Zeros: []string{"state"}})
	if err != nil {
		t.Fatal(err)
	}
	feed, err = b.Feed(firstBatch(t, noState, 1))
	if err != nil || !slices.Equal(feed["state"].Shape, []int{2, 1, 4}) {
		t.Fatalf("zeros state: %v %v", err, feed["state"])
	}
}

// TestNPZScalarConstant: a 0-d array of an .npz (a sample rate) is one value for every
// sample; a model's scalar input takes it as it is.
func TestNPZScalarConstant(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vad.npz")
	sr := tensor.New(tensor.I64)
	sr.I64()[0] = 16000
	arrays := map[string]*tensor.Tensor{"x": tensor.New(tensor.F32, 5, 4), "sr": sr}
	if err := npy.WriteNPZ(context.Background(), path, []string{"x", "sr"}, false, func(n string) (*tensor.Tensor, error) { return arrays[n], nil }); err != nil {
		t.Fatal(err)
	}
	src, err := data.NPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	b := firstBatch(t, src, 2)
	if src.Len() != 5 || !slices.Equal(b.Inputs["sr"].Shape, []int{2}) || b.Inputs["sr"].I64()[1] != 16000 {
		t.Fatalf("%d samples, sr %v", src.Len(), b.Inputs["sr"])
	}
	bind, err := Bind(src, []graph.ValueInfo{{Name: "x", DType: tensor.F32, Shape: []int{-1, 4}}, {Name: "sr", DType: tensor.I64, Shape: []int{}}}, "calibration data")
	if err != nil {
		t.Fatal(err)
	}
	feed, err := bind.Feed(b)
	if err != nil || len(feed["sr"].Shape) != 0 || feed["sr"].I64()[0] != 16000 {
		t.Fatalf("feed %v %v", feed, err)
	}
}
