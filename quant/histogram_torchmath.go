package quant

import (
	"math"
	"math/bits"
)

// This file reproduces, operation by operation, the float32 arithmetic of the ATen CPU
// kernels that torch 1.13's HistogramObserver runs, so that our scale and zero point
// have the same bits as torch's. Every helper names the kernel it mirrors. Explicit
// float32(...) conversions around products stop the Go compiler from fusing a
// multiply and an add into one FMA, which the C++ kernels do not do.

// torchSumLanes is the width of Vectorized<float> in the AVX2 kernels that Debian's
// torch 1.13 dispatches to ("CPU capability usage: AVX2").
const torchSumLanes = 8

type torchVec [torchSumLanes]float32

func (v *torchVec) addSlice(x []float32) {
	x = x[:torchSumLanes]
	for k := range v {
		v[k] += x[k]
	}
}

func (v *torchVec) addVec(w *torchVec) {
	for k := range v {
		v[k] += w[k]
	}
}

// torchSumF32 is torch.sum of a contiguous float32 vector shorter than the parallel
// grain (32768): ATen's cascade_sum → vectorized_inner_sum in SumKernel.cpp. The vector
// part is summed by row_sum (4-way ILP over multi_row_sum's 4-level cascade), the scalar
// tail is added first and then the 8 lanes in order.
func torchSumF32(x []float32) float32 {
	vecCount := len(x) / torchSumLanes
	acc := torchRowSum(x, vecCount)
	var final float32
	for _, v := range x[vecCount*torchSumLanes:] {
		final += v
	}
	for _, v := range acc {
		final += v
	}
	return final
}

// torchRowSum is SumKernel.cpp's row_sum over vecCount vectors with ilp_factor 4.
func torchRowSum(x []float32, vecCount int) torchVec {
	const ilp = 4
	rows := vecCount / ilp
	partial := torchMultiRowSum(x, rows)
	for i := rows * ilp; i < vecCount; i++ {
		partial[0].addSlice(x[i*torchSumLanes:])
	}
	for k := 1; k < ilp; k++ {
		partial[0].addVec(&partial[k])
	}
	return partial[0]
}

// torchMultiRowSum is SumKernel.cpp's multi_row_sum with nrows = 4 vector columns:
// chunks of 2^level_power rows are summed, then carried up through 4 levels.
func torchMultiRowSum(x []float32, rows int) [4]torchVec {
	const levels = 4
	const cols = 4
	levelPower := max(4, torchCeilLog2(rows)/levels)
	levelStep := 1 << levelPower
	levelMask := levelStep - 1
	var acc [levels][cols]torchVec
	row := func(i int) []float32 { return x[i*cols*torchSumLanes:] }
	i := 0
	for i+levelStep <= rows {
		for j := 0; j < levelStep; j++ {
			base := row(i)
			for k := 0; k < cols; k++ {
				acc[0][k].addSlice(base[k*torchSumLanes:])
			}
			i++
		}
		for j := 1; j < levels; j++ {
			for k := 0; k < cols; k++ {
				acc[j][k].addVec(&acc[j-1][k])
				acc[j-1][k] = torchVec{}
			}
			if i&(levelMask<<(j*levelPower)) != 0 {
				break
			}
		}
	}
	for ; i < rows; i++ {
		base := row(i)
		for k := 0; k < cols; k++ {
			acc[0][k].addSlice(base[k*torchSumLanes:])
		}
	}
	for j := 1; j < levels; j++ {
		for k := 0; k < cols; k++ {
			acc[0][k].addVec(&acc[j][k])
		}
	}
	return acc[0]
}

// torchCeilLog2 is ATen's utils::CeilLog2 (1 for x <= 2).
func torchCeilLog2(x int) int {
	if x <= 2 {
		return 1
	}
	return bits.Len64(uint64(x - 1))
}

// torchCumsumF32 is torch.cumsum of a float32 vector on CPU: a sequential sum in the
// accumulate type (double), each prefix stored rounded to float32.
func torchCumsumF32(dst, src []float32) {
	dst = dst[:len(src)]
	var acc float64
	for i, v := range src {
		acc += float64(v)
		dst[i] = float32(acc)
	}
}

// torchDivFloorF32 is torch.div(a, b, rounding_mode='floor') for float32 (ATen's
// div_floor_floating, Python's floor division): the quotient is built from fmod so
// that a == (a // b) * b + a % b holds.
func torchDivFloorF32(a, b float32) float32 {
	if b == 0 {
		return a / b
	}
	// fmod is exact, so computing it in float64 gives the float32 result bit for bit.
	mod := float32(math.Mod(float64(a), float64(b)))
	div := (a - mod) / b
	if mod != 0 && (b < 0) != (mod < 0) {
		div--
	}
	if div == 0 {
		return float32(math.Copysign(0, float64(a/b)))
	}
	floorDiv := float32(math.Floor(float64(div)))
	if div-floorDiv > 0.5 {
		floorDiv++
	}
	return floorDiv
}

// torchRoundF32 is torch.round on float32: half to even.
func torchRoundF32(x float32) float32 { return float32(math.RoundToEven(float64(x))) }

// clampF32 is torch.clamp(x, lo, hi) for finite x: min(max(x, lo), hi).
func clampF32(x, lo, hi float32) float32 {
	if x < lo {
		x = lo
	}
	if x > hi {
		x = hi
	}
	return x
}
