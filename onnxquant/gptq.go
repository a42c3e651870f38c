package onnxquant

import (
	"errors"
	"math"
	"sort"

	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// errNotPD is returned when the dampened Hessian has no Cholesky factor.
var errNotPD = errors.New("the dampened Hessian is not positive definite")

// groupParams is the 4-bit quantizer of one group of one row: MLAS's block parameters
// (range2scale with zero point 8, or range2scalezp), so that GPTQ without error feedback
// gives exactly ONNX Runtime's round-to-nearest codes.
type groupParams struct {
	scale, recip float32
	zp           uint8
}

func newGroupParams(vals []float64, symmetric bool) groupParams {
	lo, hi := float32(math.MaxFloat32), float32(-math.MaxFloat32)
	for _, v := range vals {
		f := float32(v)
		lo, hi = min(lo, f), max(hi, f)
	}
	return rangeParams(lo, hi, symmetric, 8)
}

// rangeParams is MLAS's parameters for the range [lo, hi]: range2scale with zero point
// symZP, or range2scalezp, and the reciprocal codes multiply by (0 for a zero scale).
func rangeParams(lo, hi float32, symmetric bool, symZP uint8) groupParams {
	p := groupParams{zp: symZP}
	if symmetric {
		p.scale = range2scale(lo, hi)
	} else {
		p.scale, p.zp = range2scalezp(lo, hi)
	}
	if p.scale != 0 {
		p.recip = 1 / p.scale
	}
	return p
}

// quantize returns the code of w and the value it stands for.
func (p groupParams) quantize(w float64) (uint8, float64) {
	q := quantizeNBits(float32(w), p.recip, p.zp)
	return q, float64(float32(int32(q)-int32(p.zp)) * p.scale)
}

// gptqQuantize runs GPTQ (Frantar et al. 2022; the reference gptq.py's fasterquant) on a
// weight W [rows, cols] (rows = output channels N, cols = inputs K, row-major float64) with
// the Hessian H = 2XᵀX/n [cols, cols] of its inputs, quantizing in groups of `group`
// columns with MLAS's 4-bit parameters (see gptqLoop for the loop itself):
//   - without actOrder, a group's parameters are found from W when the loop reaches its
//     first column, W holding the updates of the blocks before (the reference's
//     static_groups=False);
//   - with actOrder, the parameters of every group are found first from the original W
//     (static_groups=True, llm-compressor's actorder "weight"), so groups stay contiguous
//     in the original order, as MatMulNBits stores them without g_idx.
//
// It returns the codes in blockCodes' layout (zero points included).
func gptqQuantize(W, H []float64, rows, cols, group int, symmetric bool, percdamp float64, actOrder bool, blockSize int) (*blockCodes, error) {
	nb := (cols + group - 1) / group
	bc := newBlockCodes(cols, rows, group)
	params := make([]groupParams, rows*nb) // by original group
	find := func(W []float64, n, col int) {
		params[n*nb+col/group] = newGroupParams(W[n*cols+col:n*cols+min(col+group, cols)], symmetric)
	}
	hooks := gptqHooks{
		quantize: func(n, orig int, w float64) float64 {
			code, q := params[n*nb+orig/group].quantize(w)
			bc.codes[n*cols+orig] = code
			return q
		},
	}
	if actOrder {
		hooks.before = func(W []float64) {
			for n := 0; n < rows; n++ {
				for b := 0; b < nb; b++ {
					find(W, n, b*group)
				}
			}
		}
	} else {
		hooks.reach = func(W []float64, col int) {
			if col%group == 0 {
				for n := 0; n < rows; n++ {
					find(W, n, col)
				}
			}
		}
	}
	if err := gptqLoop(W, H, rows, cols, percdamp, actOrder, blockSize, hooks); err != nil {
		return nil, err
	}
	for i, p := range params {
		bc.scales[i], bc.zps[i] = p.scale, p.zp
	}
	return bc, nil
}

// gptqHooks plug a quantizer into gptqLoop.
type gptqHooks struct {
	// before sees W (dead columns zeroed) before any permutation: static parameters.
	before func(W []float64)
	// reach is called when the loop reaches column col (never with act order), with W
	// holding the updates of the earlier blocks only: dynamic group parameters.
	reach func(W []float64, col int)
	// quantize returns the value that w (row n, original column orig) is quantized to.
	quantize func(n, orig int, w float64) float64
}

// gptqLoop is the GPTQ loop of the reference's fasterquant:
//   - dead inputs (H[k][k] = 0) get H[k][k] = 1 and a zero weight column;
//   - with actOrder, columns are visited in decreasing H[k][k] (a stable sort);
//   - H's diagonal gets percdamp × mean(diag H); Hinv is the upper Cholesky factor of H⁻¹;
//   - columns are processed in blocks of blockSize: each column's error (w - q)/Hinv[i][i]
//     updates the rest of its block at once and the later blocks lazily.
func gptqLoop(W, H []float64, rows, cols int, percdamp float64, actOrder bool, blockSize int, hk gptqHooks) error {
	for k := 0; k < cols; k++ {
		if H[k*cols+k] == 0 {
			H[k*cols+k] = 1
			for n := 0; n < rows; n++ {
				W[n*cols+k] = 0
			}
		}
	}
	if hk.before != nil {
		hk.before(W)
	}
	perm := identity(cols)
	if actOrder {
		sort.SliceStable(perm, func(a, b int) bool { return H[perm[a]*cols+perm[a]] > H[perm[b]*cols+perm[b]] })
		W, H = permuteColumns(W, rows, cols, perm), permuteSym(H, cols, perm)
	}
	var mean float64
	for k := 0; k < cols; k++ {
		mean += H[k*cols+k]
	}
	damp := percdamp * mean / float64(cols)
	for k := 0; k < cols; k++ {
		H[k*cols+k] += damp
	}
	hinv, err := inverseCholeskyUpper(H, cols)
	if err != nil {
		return err
	}
	err1 := make([]float64, rows*blockSize)
	for i1 := 0; i1 < cols; i1 += blockSize {
		i2 := min(i1+blockSize, cols)
		gptqBlock(W, hinv, rows, cols, i1, i2, perm, err1, blockSize, hk)
	}
	return nil
}

// gptqBlock quantizes columns [i1, i2) and applies their error to the later columns.
func gptqBlock(W, hinv []float64, rows, cols, i1, i2 int, perm []int, err1 []float64, blockSize int, hk gptqHooks) {
	w := i2 - i1
	// W1 is W[:, i1:i2] updated within the block; W itself keeps only the updates of
	// earlier blocks until the block ends (the reference finds group parameters there).
	w1 := make([]float64, rows*w)
	for n := 0; n < rows; n++ {
		copy(w1[n*w:(n+1)*w], W[n*cols+i1:n*cols+i2])
	}
	q1 := make([]float64, rows*w)
	for i := 0; i < w; i++ {
		col := i1 + i
		if hk.reach != nil {
			hk.reach(W, col)
		}
		d := hinv[col*cols+col]
		h := hinv[col*cols+i1 : col*cols+i2]
		for n := 0; n < rows; n++ {
			row := w1[n*w : (n+1)*w]
			q := hk.quantize(n, perm[col], row[i])
			q1[n*w+i] = q
			e := (row[i] - q) / d
			err1[n*blockSize+i] = e
			for j := i; j < w; j++ {
				row[j] -= e * h[j]
			}
		}
	}
	for n := 0; n < rows; n++ {
		copy(W[n*cols+i1:n*cols+i2], q1[n*w:(n+1)*w])
		for j := i2; j < cols; j++ {
			var s float64
			for i := 0; i < w; i++ {
				s += err1[n*blockSize+i] * hinv[(i1+i)*cols+j]
			}
			W[n*cols+j] -= s
		}
	}
}

func identity(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

func permuteColumns(W []float64, rows, cols int, perm []int) []float64 {
	out := make([]float64, len(W))
	for n := 0; n < rows; n++ {
		for j, k := range perm {
			out[n*cols+j] = W[n*cols+k]
		}
	}
	return out
}

func permuteSym(H []float64, n int, perm []int) []float64 {
	out := make([]float64, len(H))
	for i, a := range perm {
		for j, b := range perm {
			out[i*n+j] = H[a*n+b]
		}
	}
	return out
}

// cholesky returns the lower factor L of a symmetric positive definite A (A = LLᵀ).
func cholesky(A []float64, n int) ([]float64, error) {
	L := make([]float64, n*n)
	for j := 0; j < n; j++ {
		s := A[j*n+j]
		for k := 0; k < j; k++ {
			s -= L[j*n+k] * L[j*n+k]
		}
		if !(s > 0) {
			return nil, errNotPD
		}
		d := math.Sqrt(s)
		L[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := A[i*n+j]
			for k := 0; k < j; k++ {
				s -= L[i*n+k] * L[j*n+k]
			}
			L[i*n+j] = s / d
		}
	}
	return L, nil
}

// inverseCholeskyUpper returns U with H⁻¹ = UᵀU, U upper triangular: the reference's
// cholesky(cholesky_inverse(cholesky(H)), upper=True).
func inverseCholeskyUpper(H []float64, n int) ([]float64, error) {
	L, err := cholesky(H, n)
	if err != nil {
		return nil, err
	}
	// Linv = L⁻¹ (lower), then H⁻¹ = Linvᵀ Linv.
	Linv := make([]float64, n*n)
	for j := 0; j < n; j++ {
		Linv[j*n+j] = 1 / L[j*n+j]
		for i := j + 1; i < n; i++ {
			var s float64
			for k := j; k < i; k++ {
				s -= L[i*n+k] * Linv[k*n+j]
			}
			Linv[i*n+j] = s / L[i*n+i]
		}
	}
	inv := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			var s float64
			for k := i; k < n; k++ {
				s += Linv[k*n+i] * Linv[k*n+j]
			}
			inv[i*n+j], inv[j*n+i] = s, s
		}
	}
	Lu, err := cholesky(inv, n)
	if err != nil {
		return nil, err
	}
	U := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			U[j*n+i] = Lu[i*n+j]
		}
	}
	return U, nil
}

// int8Tuned is GPTQ's result for a dynamic int8 MatMul weight: codes [K, N] and their
// qparams (per column or per tensor).
type int8Tuned struct {
	codes *tensor.Tensor
	p     *quant.QParams
}

// gptqInt8 runs GPTQ with quantize_dynamic's int8 weight quantizer: the scale (one per
// output channel, MatMulInteger's columns, or one for the tensor) is found once from the
// original weight, as the reference finds its parameters before the loop without groups
// (before zeroing dead inputs),
// and each value becomes clamp(round_half_even(w / scale), qmin, qmax) in float32 as
// quant_utils.quantize_nparray computes it (qmin..qmax: -127..127, or -64..64 with
// reduce_range, which the error feedback must not leave either). t.w is the [K, N]
// weight; W and H are as gptqLoop takes them.
func gptqInt8(t gptqTarget, W, H []float64, perChannel, reduceRange bool, percdamp float64, actOrder bool, blockSize int) (*int8Tuned, error) {
	rows, cols := t.N, t.K
	// Parameters from the weight as it is, before dead inputs are zeroed (the reference's
	// find_params comes first).
	_, p, err := ortDynamicWeight(tensor.FromF32([]int{cols, rows}, t.w), perChannel, reduceRange)
	if err != nil {
		return nil, err
	}
	var hooks gptqHooks
	codes := tensor.New(tensor.I8, cols, rows)
	c := codes.I8()
	hooks.quantize = func(n, orig int, w float64) float64 {
		scale := p.Scale[0]
		if perChannel {
			scale = p.Scale[n]
		}
		qmin, qmax := p.Scheme.Range()
		q := float32(0)
		if scale != 0 {
			q = float32(math.RoundToEven(float64(float32(w) / scale)))
		}
		q = min(max(q, float32(qmin)), float32(qmax))
		c[orig*rows+n] = int8(q)
		return float64(q * scale)
	}
	if err := gptqLoop(W, H, rows, cols, percdamp, actOrder, blockSize, hooks); err != nil {
		return nil, err
	}
	return &int8Tuned{codes: codes, p: p}, nil
}
