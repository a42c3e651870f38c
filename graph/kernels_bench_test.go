package graph

import (
	"math"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// benchTensor is a float32 tensor of shape filled with a smooth pattern in [-3, 3].
func benchTensor(shape ...int) *tensor.Tensor {
	t, d := newTensor[float32](tensor.F32, shape)
	for i := range d {
		d[i] = float32(3 * math.Sin(float64(i)*0.37))
	}
	return t
}

// benchKernel runs f on a recycled arena, as Run does, and reports bytes read and written.
func benchKernel(b *testing.B, bytes int, f func(mem *arena)) {
	mem := &arena{}
	b.SetBytes(int64(bytes))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f(mem)
		mem.finish(true)
	}
}

// The shapes are those of the bench models at batch 32 (cnn13's first conv output, the
// encoder's feed-forward activations and attention scores).

func BenchmarkRelu(b *testing.B) {
	x := benchTensor(32, 32, 32, 32)
	benchKernel(b, 2*x.Nbytes(), func(mem *arena) { mapSigned(mem, x, "Relu") })
}

func BenchmarkAddBias(b *testing.B) {
	x, bias := benchTensor(32, 32, 512), benchTensor(512)
	benchKernel(b, 2*x.Nbytes(), func(mem *arena) { binaryOf(mem, "Add", bias, x) })
}

func BenchmarkErf(b *testing.B) {
	x := benchTensor(32, 32, 512)
	f := unaryMath["Erf"]
	benchKernel(b, 2*x.Nbytes(), func(mem *arena) { mapFloat(mem, x, f) })
}

func BenchmarkMaxPool2x2(b *testing.B) {
	x := benchTensor(32, 32, 32, 32)
	p, err := spatialParams(nil, []int{32, 32}, []int{2, 2}, []int64{2, 2}, nil, nil, "NOTSET", false)
	if err != nil {
		b.Fatal(err)
	}
	benchKernel(b, x.Nbytes()*5/4, func(mem *arena) { pool(mem, x, p, true, false) })
}

func BenchmarkReduceMeanLastAxis(b *testing.B) {
	x := benchTensor(32, 32, 128)
	benchKernel(b, x.Nbytes(), func(mem *arena) { reduce(mem, "ReduceMean", x, []bool{false, false, true}, true) })
}

func BenchmarkSoftmax(b *testing.B) {
	x := benchTensor(128, 32, 32)
	k, err := softmaxOp("Softmax")(&builder{n: &Node{Inputs: []string{"x"}, Outputs: []string{"y"}}, opset: 13, used: map[string]bool{}, out: make([]ValueInfo, 1), ins: []ValueInfo{{}}})
	if err != nil {
		b.Fatal(err)
	}
	benchKernel(b, 2*x.Nbytes(), func(mem *arena) { k(mem, []*tensor.Tensor{x}) })
}
