package quant

import "math"

// nonLinearParamSearch is HistogramObserver._non_linear_param_search of torch 1.13: an
// approximate L2-error minimization that trims the histogram's range from whichever
// side drops more mass, one step of 1e-5 of the total at a time, and stops as soon as
// the modelled quantization error grows. Python floats are float64, tensors float32;
// each line notes which.
func (h *Histogram) nonLinearParamSearch() (lo, hi float32) {
	binWidth := (h.max - h.min) / float32(h.bins) // float32 tensor
	total := float64(torchSumF32(h.hist))         // torch.sum(...).item()
	cSum := make([]float32, h.bins)
	torchCumsumF32(cSum, h.hist)
	normScratch := make([]float32, h.bins)

	const stepSize = 1e-5
	alpha, beta := 0.0, 1.0
	startBin, endBin := 0, h.bins-1
	normMin := math.Inf(1)
	// The scans below restart from the previous stopping points: the thresholds only
	// move inward and the bins only narrow, so everything skipped was already known to
	// fail the test. This keeps the loop linear without changing its result.
	scanL, scanR := 0, h.bins-1
	for alpha < beta {
		nextAlpha := alpha + stepSize
		nextBeta := beta - stepSize
		// cSum[l] < next_alpha * total compares in float32: the Python float is cast.
		alphaMass := float32(nextAlpha * total)
		betaMass := float32(nextBeta * total)

		l := max(startBin, min(scanL, endBin))
		for l < endBin && cSum[l] < alphaMass {
			l++
		}
		r := min(endBin, max(scanR, startBin))
		for r > startBin && cSum[r] > betaMass {
			r--
		}
		scanL, scanR = l, r

		nextStart, nextEnd := startBin, endBin
		if l-startBin > endBin-r {
			nextStart = l
			alpha = nextAlpha
		} else {
			nextEnd = r
			beta = nextBeta
		}
		if nextStart == startBin && nextEnd == endBin {
			continue
		}
		norm := h.quantizationError(nextStart, nextEnd, normScratch)
		if norm > normMin {
			break
		}
		normMin = norm
		startBin, endBin = nextStart, nextEnd
	}
	lo = h.min + float32(binWidth*float32(startBin))
	hi = h.min + float32(binWidth*float32(endBin+1))
	return lo, hi
}

// quantizationError is HistogramObserver._compute_quantization_error: the L2 error of
// quantizing the histogram's density to dst_nbins levels spread over bins
// [startBin, endBin]. Each source bin contributes density*(end^3-begin^3)/3 for its
// partial first and last destination bins and a full-bin term for those in between.
func (h *Histogram) quantizationError(startBin, endBin int, norm []float32) float64 {
	binWidth := (float64(h.max) - float64(h.min)) / float64(h.bins)  // .item() floats
	dstBinWidth := binWidth * float64(endBin-startBin+1) / h.dstBins // float64
	if dstBinWidth == 0 {
		return 0
	}
	bw := float32(binWidth)     // Python float used with a float32 tensor
	dbw := float32(dstBinWidth) // likewise
	halfDst := float32(dstBinWidth / 2)
	negHalfDst := float32(-dstBinWidth / 2)
	lastDst := float32(h.dstBins - 1)
	// _get_norm(torch.tensor(-dbw/2), torch.tensor(dbw/2), density) without the density.
	fullBin := cubeDiffThird(halfDst, negHalfDst)
	norm = norm[:h.bins]
	for i := range norm {
		srcBegin := float32(float32(i-startBin) * bw)
		srcEnd := srcBegin + bw
		dstOfBegin := clampF32(torchDivFloorF32(srcBegin, dbw), 0, lastDst)
		dstOfBeginCenter := float32((dstOfBegin + 0.5) * dbw)
		dstOfEnd := clampF32(torchDivFloorF32(srcEnd, dbw), 0, lastDst)
		density := h.hist[i] / bw

		n := float32(density * cubeDiffThird(halfDst, srcBegin-dstOfBeginCenter))
		n += float32((dstOfEnd - dstOfBegin - 1) * float32(density*fullBin))
		dstOfEndCenter := float32(dstOfEnd*dbw) + halfDst
		n += float32(density * cubeDiffThird(srcEnd-dstOfEndCenter, negHalfDst))
		norm[i] = n
	}
	return float64(torchSumF32(norm))
}

// cubeDiffThird is (end*end*end - begin*begin*begin) / 3 in float32, the body of
// HistogramObserver._get_norm.
func cubeDiffThird(end, begin float32) float32 {
	e3 := float32(float32(end*end) * end)
	b3 := float32(float32(begin*begin) * begin)
	return (e3 - b3) / 3
}
