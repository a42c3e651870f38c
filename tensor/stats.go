package tensor

import "math"

// Stats summarizes a tensor's values. They accumulate in float64 whatever the dtype and
// follow torch on the tensor cast to float64: a NaN anywhere makes Min, Max, AbsMax and
// the moments NaN, and Std is the unbiased (n-1) estimate, NaN for fewer than two values.
// An empty tensor has Count 0 and Sum 0; its other fields are NaN (torch's mean and std
// of an empty tensor are NaN; its min and max raise).
type Stats struct {
	Count            int
	Min, Max, AbsMax float64
	Sum, Mean, Std   float64
}

// Stats returns the summary statistics of t's values (in C order for the sums).
func (t *Tensor) Stats() Stats { return StatsOf(t.ToF64()) }

// StatsOf returns the summary statistics of x, as Tensor.Stats does for a tensor holding
// x. The reference loops: Sum adds in order, Mean = Sum/n, and
//
//	Std = sqrt(Σ (x[i]-Mean)² / (n-1))
func StatsOf(x []float64) Stats {
	s := Stats{Count: len(x)}
	nan := math.NaN()
	if len(x) == 0 {
		s.Min, s.Max, s.AbsMax, s.Mean, s.Std = nan, nan, nan, nan, nan
		return s
	}
	s.Min, s.Max, s.AbsMax = x[0], x[0], math.Abs(x[0])
	for _, v := range x { // math.Min and math.Max keep a NaN once they meet one
		s.Min = math.Min(s.Min, v)
		s.Max = math.Max(s.Max, v)
		s.AbsMax = math.Max(s.AbsMax, math.Abs(v))
		s.Sum += v
	}
	s.Mean = s.Sum / float64(len(x))
	s.Std = nan
	if len(x) >= 2 {
		ss := 0.0
		for _, v := range x {
			ss += (v - s.Mean) * (v - s.Mean)
		}
		s.Std = math.Sqrt(ss / float64(len(x)-1))
	}
	return s
}
