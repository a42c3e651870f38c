package quant

import (
	"fmt"
	"github.com/qscript-dev/qscript/internal/parallel"
	"math"
)

// Errors summarizes how far an approximation y is from a reference x, all accumulated in
// float64:
//
//	MSE    = Σ(x-y)² / n
//	MaxAbs = max |x-y|
//	SQNR   = 10·log10(Σx² / Σ(x-y)²) dB; +Inf when y equals x (no noise), -Inf when x is
//	         all zeros and y is not
//	Cosine = Σxy / (√Σx² · √Σy²); 1 when both are all zeros, 0 when only one is
//
// Non-finite inputs give NaN or infinite results; empty inputs give MSE 0, SQNR +Inf,
// Cosine 1.
type Errors struct {
	MSE, MaxAbs, SQNR, Cosine float64
}

// Compare computes every metric in one pass over x and y, which must have equal length.
func Compare(x, y []float32) (Errors, error) {
	if len(x) != len(y) {
		return Errors{}, fmt.Errorf("quant: comparing %d values with %d", len(x), len(y))
	}
	chunks := len(x)/blockElems + 1
	m := NewMeter(chunks, 0)
	_ = parallel.Ranges(chunks, 8*len(x), func(c0, c1 int) error {
		for c := c0; c < c1; c++ {
			lo, hi := min(c*blockElems, len(x)), min((c+1)*blockElems, len(x))
			var s ErrorSums
			s.Add(x[lo:hi], y[lo:hi])
			m.SetPiece(c, s)
		}
		return nil
	})
	e, _ := m.Result()
	return e, nil
}

// ErrorSums accumulates, in float64, the sums behind Errors, so that an approximation
// produced block by block can be measured without materializing it. Merging the blocks
// in a fixed order gives a result that does not depend on scheduling.
type ErrorSums struct {
	n                         int
	xx, yy, xy, noise, maxAbs float64
}

// Add folds the pairs (x[i], y[i]) in; y must be at least as long as x.
func (s *ErrorSums) Add(x, y []float32) {
	y = y[:len(x)]
	xx, yy, xy, noise, maxAbs := s.xx, s.yy, s.xy, s.noise, s.maxAbs
	for i, a := range x {
		fa, fb := float64(a), float64(y[i])
		d := fa - fb
		xx += fa * fa
		yy += fb * fb
		xy += fa * fb
		noise += d * d
		if ad := math.Abs(d); ad > maxAbs || ad != ad {
			maxAbs = ad
		}
	}
	s.xx, s.yy, s.xy, s.noise, s.maxAbs = xx, yy, xy, noise, maxAbs
	s.n += len(x)
}

// Merge adds the sums of another block.
func (s *ErrorSums) Merge(p ErrorSums) {
	s.n += p.n
	s.xx += p.xx
	s.yy += p.yy
	s.xy += p.xy
	s.noise += p.noise
	if p.maxAbs > s.maxAbs || p.maxAbs != p.maxAbs {
		s.maxAbs = p.maxAbs
	}
}

// Errors turns the sums into the metrics, with the conventions documented on Errors.
func (s ErrorSums) Errors() Errors {
	e := Errors{MaxAbs: s.maxAbs, SQNR: sqnr(s.xx, s.noise), Cosine: cosine(s.xy, s.xx, s.yy)}
	if s.n > 0 {
		e.MSE = s.noise / float64(s.n)
	}
	return e
}

func sqnr(signal, noise float64) float64 {
	if noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(signal/noise)
}

func cosine(xy, xx, yy float64) float64 {
	switch {
	case xx == 0 && yy == 0:
		return 1
	case xx == 0 || yy == 0:
		return 0
	}
	return xy / (math.Sqrt(xx) * math.Sqrt(yy))
}

// SQNR is 10·log10(Σx²/Σ(x-y)²) in dB, +Inf when y equals x (see Errors).
func SQNR(x, y []float32) (float64, error) {
	e, err := Compare(x, y)
	return e.SQNR, err
}

// CosineSimilarity is Σxy/(|x||y|) (see Errors).
func CosineSimilarity(x, y []float32) (float64, error) {
	e, err := Compare(x, y)
	return e.Cosine, err
}
