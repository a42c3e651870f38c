package onnxquant

import (
	"errors"
	"math"
	"sort"
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
	p := groupParams{zp: 8}
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
// columns with MLAS's 4-bit parameters:
//   - dead inputs (H[k][k] = 0) get H[k][k] = 1 and a zero weight column;
//   - without actOrder, a group's parameters are found from W when the loop reaches its
//     first column, W holding the updates of the blocks before (the reference's
//     static_groups=False); with actOrder, columns are visited in decreasing H[k][k]
//     (a stable sort) and the parameters of every group are found first from the original
//     W (static_groups=True, llm-compressor's actorder "weight"), so groups stay
//     contiguous in the original order, as MatMulNBits stores them without g_idx;
//   - H's diagonal gets percdamp × mean(diag H); Hinv is the upper Cholesky factor of H⁻¹;
//   - columns are processed in blocks of blockSize: each column's error (w - q)/Hinv[i][i]
//     updates the rest of its block at once and the later blocks lazily.
//
// It returns the codes in blockCodes' layout (zero points included).
func gptqQuantize(W, H []float64, rows, cols, group int, symmetric bool, percdamp float64, actOrder bool, blockSize int) (*blockCodes, error) {
	for k := 0; k < cols; k++ {
		if H[k*cols+k] == 0 {
			H[k*cols+k] = 1
			for n := 0; n < rows; n++ {
				W[n*cols+k] = 0
			}
		}
	}
	nb := (cols + group - 1) / group
	bc := newBlockCodes(cols, rows, group)
	params := make([]groupParams, rows*nb) // by original group
	perm := identity(cols)
	if actOrder {
		for n := 0; n < rows; n++ {
			for b := 0; b < nb; b++ {
				params[n*nb+b] = newGroupParams(W[n*cols+b*group:n*cols+min((b+1)*group, cols)], symmetric)
			}
		}
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
		return nil, err
	}
	err1 := make([]float64, rows*blockSize)
	for i1 := 0; i1 < cols; i1 += blockSize {
		i2 := min(i1+blockSize, cols)
		// W1 is W[:, i1:i2] updated within the block; W itself keeps only the updates of
		// earlier blocks until the block ends (the reference finds group parameters there).
		w1 := make([]float64, rows*(i2-i1))
		for n := 0; n < rows; n++ {
			copy(w1[n*(i2-i1):(n+1)*(i2-i1)], W[n*cols+i1:n*cols+i2])
		}
		q1 := make([]float64, rows*(i2-i1))
		for i := 0; i < i2-i1; i++ {
			col := i1 + i
			orig := perm[col]
			if !actOrder && col%group == 0 {
				for n := 0; n < rows; n++ {
					params[n*nb+col/group] = newGroupParams(W[n*cols+col:n*cols+min(col+group, cols)], symmetric)
				}
			}
			d := hinv[col*cols+col]
			for n := 0; n < rows; n++ {
				p := params[n*nb+orig/group]
				w := w1[n*(i2-i1)+i]
				code, q := p.quantize(w)
				bc.codes[n*cols+orig] = code
				q1[n*(i2-i1)+i] = q
				e := (w - q) / d
				err1[n*blockSize+i] = e
				row := w1[n*(i2-i1) : (n+1)*(i2-i1)]
				h := hinv[col*cols+i1 : col*cols+i2]
				for j := i; j < i2-i1; j++ {
					row[j] -= e * h[j]
				}
			}
		}
		for n := 0; n < rows; n++ {
			copy(W[n*cols+i1:n*cols+i2], q1[n*(i2-i1):(n+1)*(i2-i1)])
			for j := i2; j < cols; j++ {
				var s float64
				for i := 0; i < i2-i1; i++ {
					s += err1[n*blockSize+i] * hinv[(i1+i)*cols+j]
				}
				W[n*cols+j] -= s
			}
		}
	}
	for n := 0; n < rows; n++ {
		for b := 0; b < nb; b++ {
			p := params[n*nb+b]
			bc.scales[n*nb+b], bc.zps[n*nb+b] = p.scale, p.zp
		}
	}
	return bc, nil
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
