package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// sgemmTo is sgemm with gemmKernel, operands to pack and no arena.
func sgemmTo(dst []float32, ldc int, a, b Matrix, m, n, k int) {
	sgemm(nil, gemmKernel, dst, ldc, Operands{A: a, B: b}, m, n, k, 0)
}

// sgemmWith is sgemmTo with the micro-kernel mk.
func sgemmWith(mk microKernel, dst []float32, ldc int, a, b Matrix, m, n, k int) {
	sgemm(nil, mk, dst, ldc, Operands{A: a, B: b}, m, n, k, 0)
}

// at is element (i, j) of the logical matrix.
func (x Matrix) at(i, j int) float32 {
	if x.Trans {
		return x.Data[j*x.LD+i]
	}
	return x.Data[i*x.LD+j]
}

func naiveGemm(dst []float32, a, b Matrix, m, n, k int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(a.at(i, p)) * float64(b.at(p, j))
			}
			dst[i*n+j] += float32(s)
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

// kernelsUnderTest lists the portable kernel and every assembly kernel this CPU can run
// (asmKernels, per architecture), so all are checked against the same float64 reference.
func kernelsUnderTest() map[string]microKernel {
	ks := map[string]microKernel{"go": goKernel}
	for name, mk := range asmKernels() {
		ks[name] = mk
	}
	return ks
}

func TestSgemmMatchesNaive(t *testing.T) {
	for name, mk := range kernelsUnderTest() {
		t.Run(name, func(t *testing.T) { testSgemm(t, mk) })
	}
}

func testSgemm(t *testing.T, mk microKernel) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{1, 1, 1}, {3, 5, 7}, {4, 4, 4}, {17, 33, 300}, {65, 257, 513}, {128, 3, 9}, {1, 1000, 64}, {14, 32, 1}, {15, 33, 257}, {28, 64, 256}, {57, 95, 31}, {13, 31, 5}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				av, bv := randSlice(r, m*k), randSlice(r, k*n)
				a := Matrix{Data: av, LD: k, Trans: ta}
				if ta {
					a.LD = m
				}
				b := Matrix{Data: bv, LD: n, Trans: tb}
				if tb {
					b.LD = k
				}
				// dst ends in guard cells the kernels must not write: edge tiles stop at n, m.
				const guard = 64
				out := randSlice(r, m*n+guard)
				got := out[: m*n : m*n]
				want := append([]float32{}, got...)
				tail := append([]float32{}, out[m*n:]...)
				sgemmWith(mk, got, n, a, b, m, n, k)
				naiveGemm(want, a, b, m, n, k)
				for i, v := range out[m*n:] {
					if v != tail[i] {
						t.Fatalf("%dx%dx%d ta=%v tb=%v: wrote %d past the end of dst", m, n, k, ta, tb, i)
					}
				}
				for i := range got {
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*math.Sqrt(float64(k))+1e-5 {
						t.Fatalf("%dx%dx%d ta=%v tb=%v: [%d] got %v want %v", m, n, k, ta, tb, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestSgemmPrepacked checks that an operand packed in advance (Load's weight panels, A for
// Conv and B for Gemm/MatMul) gives bit for bit the product of the same operands packed during
// the call, on one goroutine and on several. The sizes make gemmKernel's narrow alternative,
// when it has one, win for some and lose for others.
func TestSgemmPrepacked(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, sz := range [][3]int{{1, 1, 1}, {7, 33, 300}, {65, 257, 513}, {130, 40, 9}, {6, 16, 64}, {192, 48, 16}, {8, 9, 36}, {4, 144, 27}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, trans := range []bool{false, true} {
			a := Matrix{Data: randSlice(r, m*k), LD: k, Trans: trans}
			b := Matrix{Data: randSlice(r, k*n), LD: n, Trans: trans}
			if trans {
				a.LD, b.LD = m, k
			}
			want := make([]float32, m*n)
			sgemmTo(want, n, a, b, m, n, k)
			packed := map[string]Operands{
				"A": {PackedA: PrepackA(a, m, k), B: b},
				"B": {A: a, PackedB: PrepackB(b, n, k)},
			}
			for side, ops := range packed {
				for _, workers := range []int{1, 0} {
					got := make([]float32, m*n)
					sgemm(nil, gemmKernel, got, n, ops, m, n, k, workers)
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%dx%dx%d trans=%v %s packed, workers=%d: [%d] %v, packed during the call %v", m, n, k, trans, side, workers, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestKernelsAgree runs every kernel on the same operands: results must agree to float32
// rounding (the FMA kernel rounds once per multiply-add, the Go kernel twice).
func TestKernelsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	// Sizes straddle every kernel's mr (4, 6, 8, 14) and nr (4, 16, 32) and gemmKC, so full
	// tiles, edge tiles and partial depth blocks all run.
	for _, sz := range [][3]int{{37, 45, 700}, {14, 32, 256}, {29, 97, 257}, {8, 31, 3}, {113, 70, 513}, {1, 33, 17}} {
		m, n, k := sz[0], sz[1], sz[2]
		a := Matrix{Data: randSlice(r, m*k), LD: k}
		b := Matrix{Data: randSlice(r, k*n), LD: n}
		ref := make([]float32, m*n)
		sgemmWith(goKernel, ref, n, a, b, m, n, k)
		for name, mk := range kernelsUnderTest() {
			got := make([]float32, m*n)
			sgemmWith(mk, got, n, a, b, m, n, k)
			for i := range got {
				if d := math.Abs(float64(got[i] - ref[i])); d > 2e-5*math.Sqrt(float64(k)) {
					t.Fatalf("%s %dx%dx%d: [%d] %v vs go kernel %v", name, m, n, k, i, got[i], ref[i])
				}
			}
		}
	}
}

// BenchmarkSgemm reports GFLOP/s (2·m·n·k per op) for square and conv-like shapes, for each
// kernel, on all GOMAXPROCS cores.
func BenchmarkSgemm(b *testing.B) {
	for name, mk := range kernelsUnderTest() {
		for _, sz := range [][3]int{{256, 256, 256}, {512, 512, 512}, {64, 3136, 576}, {128, 768, 768}, {1024, 512, 128}, {1024, 128, 512}, {32, 32, 32}, {8, 196, 72}, {192, 48, 16}, {6, 32, 16}, {192, 32, 16}} {
			benchSgemm(b, name, mk, sz)
		}
	}
}

func benchSgemm(b *testing.B, name string, mk microKernel, sz [3]int) {
	{
		m, n, k := sz[0], sz[1], sz[2]
		b.Run(fmt.Sprintf("%s/%dx%dx%d", name, m, n, k), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			a := Matrix{Data: randSlice(r, m*k), LD: k}
			bm := Matrix{Data: randSlice(r, k*n), LD: n}
			dst := make([]float32, m*n)
			b.SetBytes(int64(4 * (m*k + k*n + m*n)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sgemmWith(mk, dst, n, a, bm, m, n, k)
			}
			b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestSgemmFill checks that ops.Fill gives exactly what filling dst first and adding the
// product gives, for several tiles, edge tiles, a nil rowInit, k = 0 and a row stride
// wider than n (whose columns past n must stay untouched).
func TestSgemmFill(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	// 64×256 and 40×96 run the 8×32 kernel (whole tiles through its init form), the others
	// the 6×16 one where the CPU has both.
	for _, sz := range [][3]int{{1, 1, 1}, {13, 31, 5}, {65, 300, 70}, {130, 513, 260}, {9, 17, 0}, {64, 256, 300}, {40, 96, 600}, {20, 100, 7}} {
		m, n, k := sz[0], sz[1], sz[2]
		ldc := n + 3
		a := Matrix{Data: randSlice(r, m*k), LD: k}
		b := Matrix{Data: randSlice(r, k*n), LD: n}
		for _, bias := range [][]float32{nil, randSlice(r, m)} {
			want := randSlice(r, m*ldc)
			got := randSlice(r, m*ldc) // garbage the fill must overwrite
			for i := 0; i < m; i++ {
				copy(got[i*ldc+n:(i+1)*ldc], want[i*ldc+n:(i+1)*ldc])
				for j := 0; j < n; j++ {
					want[i*ldc+j] = 0
					if bias != nil {
						want[i*ldc+j] = bias[i]
					}
				}
			}
			for _, workers := range []int{1, 2} {
				sgemm(nil, gemmKernel, want, ldc, Operands{A: a, B: b}, m, n, k, workers)
				sgemm(nil, gemmKernel, got, ldc, Operands{A: a, B: b, Fill: true, RowInit: bias}, m, n, k, workers)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%dx%dx%d bias=%v workers=%d: element %d is %v, want %v", m, n, k, bias != nil, workers, i, got[i], want[i])
					}
				}
				// Second round: want accumulates again, got refills: reset want to match.
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						want[i*ldc+j] = 0
						if bias != nil {
							want[i*ldc+j] = bias[i]
						}
					}
				}
			}
		}
	}
}
