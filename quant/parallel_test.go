package quant

import (
	"errors"
	"github.com/qscript-dev/qscript/internal/parallel"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// TestParallelEqualsSerial runs every tensor-level kernel on inputs above
// parallel.MinBytes with several workers and with one, for each granularity and blocking
// (fused and not), and requires identical qparams, codes and floats. Under -race it
// also proves the workers write disjoint blocks.
func TestParallelEqualsSerial(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	shapes := [][]int{{300, 1000}, {64, 48, 3, 37}} // 1.2 MB and 1.4 MB of f32
	grans := []Granularity{PerTensor(), PerChannel(0), PerChannel(1), PerChannel(-1), PerGroup(128), PerGroup(100)}
	schemes := []Scheme{{QType: QInt8, Symmetric: true}, {QType: QUInt8}, {QType: Int4, Symmetric: true}, {QType: QUInt8, Numerics: ORT}}
	for _, shape := range shapes {
		n, _ := tensor.Numel(shape)
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64()) * float32(1+i%13)
		}
		w := tensor.FromF32(shape, x)
		if 4*n < parallel.MinBytes {
			t.Fatalf("shape %v is below the parallel threshold", shape)
		}
		for _, s := range schemes {
			for _, g := range grans {
				type result struct {
					codes, deq []byte
					scale      []float32
					zp         []int32
				}
				run := func() (res result) {
					q, p, err := ChooseAndQuantize(w, s, g)
					if err != nil {
						t.Fatalf("%v %s %v: %v", shape, s.QType.Name, g, err)
					}
					p2, err := ChooseQParams(w, s, g)
					if err != nil || !sameBits(p2.Scale, p.Scale) || !slices.Equal(p2.ZeroPoint, p.ZeroPoint) {
						t.Fatalf("%v %s %v: ChooseQParams differs from ChooseAndQuantize (%v)", shape, s.QType.Name, g, err)
					}
					q2, err := Quantize(w, p)
					if err != nil || string(codeBytes(q2)) != string(codeBytes(q)) {
						t.Fatalf("%v %s %v: Quantize differs from ChooseAndQuantize (%v)", shape, s.QType.Name, g, err)
					}
					d, err := Dequantize(q, p)
					if err != nil {
						t.Fatal(err)
					}
					res = result{codes: codeBytes(q), deq: d.Data, scale: p.Scale, zp: p.ZeroPoint}
					return res
				}
				prev := runtime.GOMAXPROCS(4)
				par := run()
				runtime.GOMAXPROCS(1)
				ser := run()
				runtime.GOMAXPROCS(prev)
				if !sameBits(par.scale, ser.scale) || !slices.Equal(par.zp, ser.zp) ||
					string(par.codes) != string(ser.codes) || string(par.deq) != string(ser.deq) {
					t.Fatalf("%v %s %v: parallel and serial results differ", shape, s.QType.Name, g)
				}
			}
		}
	}
}

// TestParallelReportsFirstNonFinite: with several workers, a NaN in a late block and an
// Inf in an early one give the Inf's index, the first in C order.
func TestParallelReportsFirstNonFinite(t *testing.T) {
	prev := runtime.GOMAXPROCS(4)
	defer runtime.GOMAXPROCS(prev)
	rows, cols := 512, 1024
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(i%17) - 8
	}
	first := 200*cols + 5
	x[first] = float32(math.Inf(-1))
	x[480*cols+7] = float32(math.NaN())
	w := tensor.FromF32([]int{rows, cols}, x)
	s := Scheme{QType: QInt8, Symmetric: true}
	for _, g := range []Granularity{PerTensor(), PerChannel(0), PerChannel(1), PerGroup(128)} {
		_, _, err := ChooseAndQuantize(w, s, g)
		var nf *NonFiniteError
		if !errors.As(err, &nf) || nf.Index != first {
			t.Fatalf("%v: %v, want the -Inf at %d", g, err, first)
		}
	}
	dst := make([]int8, len(x))
	var nf *NonFiniteError
	if err := QuantizeTo(dst, x, 0.1, 0, s); !errors.As(err, &nf) || nf.Index != first {
		t.Fatalf("QuantizeTo: %v, want the -Inf at %d", err, first)
	}
}
