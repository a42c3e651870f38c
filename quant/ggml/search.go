package ggml

// The scale searches of ggml-quants.c's k-quant section. Every product that feeds a sum is
// converted to float32 on its own, as ggml's C computes it (no fused multiply-add).

// groupMaxEps is GROUP_MAX_EPS: a group whose largest magnitude is below it is all zero.
const groupMaxEps = float32(1e-15)

func clampI(l, lo, hi int32) int32 { return max(lo, min(hi, l)) }

// makeQxQuants is make_qx_quants with rmse_type 1 (the only one the quantizers use):
// symmetric codes L in [0, 2*nmax) for x ≈ scale*(L-nmax), chosen by trying 18 scales
// around -nmax/max and keeping the one with the best weighted fit sum(w*x*l)²/sum(w*l²).
// The weights w are the importance (x² when the caller has none, as ggml's NULL case).
func makeQxQuants(n, nmax int, x []float32, L []int8, w []float32) float32 {
	x, L, w = x[:n], L[:n], w[:n]
	var max_, amax float32
	for _, v := range x {
		if a := absf(v); a > amax {
			amax, max_ = a, v
		}
	}
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	nm := int32(nmax)
	iscale := -float32(nmax) / max_
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampI(nearestInt(iscale*v), -nm, nm-1)
		L[i] = int8(l + nm)
		fl := float32(l)
		sumlx += float32(float32(w[i]*v) * fl)
		suml2 += float32(float32(w[i]*fl) * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	if haveAVX2 {
		return qxSearch8(nmax, x, L, w, max_, scale, best)
	}
	var aux [256]int8
	for is := int32(-9); is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(0.1*float32(is))) / max_
		sumlx, suml2 = 0, 0
		for i, v := range x {
			l := clampI(nearestInt(iscale*v), -nm, nm-1)
			aux[i] = int8(l + nm)
			fl := float32(l)
			sumlx += float32(float32(w[i]*v) * fl)
			suml2 += float32(float32(w[i]*fl) * fl)
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			copy(L, aux[:n])
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

// makeQ3Quants is make_q3_quants with do_rmse: codes in [0, 2*nmax) from -nmax/max, then
// up to five rounds that move single codes while that improves the x²-weighted fit.
func makeQ3Quants(nmax int, x []float32, L []int8) float32 {
	L = L[:len(x)]
	sumlx, suml2, ok := q3Init(nmax, x, L)
	if !ok {
		return 0
	}
	nm := int32(nmax)
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			w := v * v
			li := float32(L[i])
			slx := sumlx - float32(float32(w*v)*li)
			if slx > 0 {
				sl2 := suml2 - float32(float32(w*li)*li)
				newL := clampI(nearestInt(float32(v*sl2)/slx), -nm, nm-1)
				if newL != int32(L[i]) {
					fl := float32(newL)
					slx += float32(float32(w*v) * fl)
					sl2 += float32(float32(w*fl) * fl)
					if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i], sumlx, suml2 = int8(newL), slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	return q3Finish(nmax, L, sumlx, suml2)
}

// q3Init is make_q3_quants up to its refinement: signed codes L from -nmax/max and the
// x²-weighted sums; ok is false for an all-zero group (codes 0, scale 0).
func q3Init(nmax int, x []float32, L []int8) (sumlx, suml2 float32, ok bool) {
	var max_, amax float32
	for _, v := range x {
		if a := absf(v); a > amax {
			amax, max_ = a, v
		}
	}
	if amax < groupMaxEps {
		clear(L)
		return 0, 0, false
	}
	nm := int32(nmax)
	iscale := -float32(nmax) / max_
	for i, v := range x {
		l := clampI(nearestInt(iscale*v), -nm, nm-1)
		L[i] = int8(l)
		w := v * v
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	return sumlx, suml2, true
}

// q3Finish offsets the codes to [0, 2*nmax) and returns the fitted scale.
func q3Finish(nmax int, L []int8, sumlx, suml2 float32) float32 {
	for i := range L {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// qkxStart is the part of make_qkx2_quants/make_qkx3_quants before the candidate loop: the
// range (min clamped to <= 0), the weighted sums sum(w) and sum(w*x), the first codes L from
// nmax/(max-min), and their weighted error. ok is false for a group with max <= min, whose
// codes are all 0 (the two functions test max == min and max <= min, which agree on finite
// input).
type qkxStart struct {
	min, max, sumW, sumX, scale, bestErr float32
	ok                                   bool
}

func qkxInit(nmax int, x, weights []float32, L []uint8, useMad bool) (s qkxStart) {
	n := len(x)
	weights, L = weights[:n], L[:n]
	s.min, s.max = x[0], x[0]
	s.sumW = weights[0]
	s.sumX = s.sumW * x[0]
	for i := 1; i < n; i++ {
		v := x[i]
		if v < s.min {
			s.min = v
		}
		if v > s.max {
			s.max = v
		}
		w := weights[i]
		s.sumW += w
		s.sumX += float32(w * v)
	}
	if s.min > 0 {
		s.min = 0
	}
	if s.max <= s.min {
		clear(L)
		return s
	}
	s.ok = true
	nm := int32(nmax)
	iscale := float32(nmax) / (s.max - s.min)
	s.scale = 1 / iscale
	for i, v := range x {
		l := clampI(nearestInt(iscale*(v-s.min)), 0, nm)
		L[i] = uint8(l)
		diff := float32(s.scale*float32(l)) + s.min - v
		if useMad {
			diff = absf(diff)
		} else {
			diff = diff * diff
		}
		s.bestErr += float32(weights[i] * diff)
	}
	return s
}

// makeQkxQuants is make_qkx2_quants (useMad selects its absolute-error option) and, with
// useMad false, make_qkx3_quants with weights. Codes L in [0, nmax] for x ≈ scale*L -
// theMin with theMin >= 0: a least-squares fit of scale and min for each of nstep+1
// candidate scales, keeping the best by weighted error. A kept candidate's min is used by
// the candidates after it.
func makeQkxQuants(nmax int, x, weights []float32, L, aux []uint8, rmin, rdelta float32, nstep int, useMad bool) (scale, theMin float32) {
	n := len(x)
	weights, L, aux = weights[:n], L[:n], aux[:n]
	s := qkxInit(nmax, x, weights, L, useMad)
	if !s.ok {
		return 0, -s.min
	}
	if nstep < 1 {
		return s.scale, -s.min
	}
	min_, max_, sumW, sumX := s.min, s.max, s.sumW, s.sumX
	scale, bestErr := s.scale, s.bestErr
	fnmax, nm := float32(nmax), int32(nmax)
	for is := 0; is <= nstep; is++ {
		iscale := (rmin + float32(rdelta*float32(is)) + fnmax) / (max_ - min_)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clampI(nearestInt(iscale*(v-min_)), 0, nm)
			aux[i] = uint8(l)
			fl := float32(l)
			wl := float32(weights[i] * fl)
			sumL += wl
			sumL2 += float32(wl * fl)
			sumXL += float32(wl * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curErr float32
			for i, v := range x {
				diff := float32(thisScale*float32(aux[i])) + thisMin - v
				if useMad {
					diff = absf(diff)
				} else {
					diff = diff * diff
				}
				curErr += float32(weights[i] * diff)
			}
			if curErr < bestErr {
				copy(L, aux)
				bestErr, scale, min_ = curErr, thisScale, thisMin
			}
		}
	}
	return scale, -min_
}

// makeQkxGroups runs makeQkxQuants on each group of n elements of x (len(x)/n groups, n <=
// 32), writing each group's codes into L and its scale and min into scales and mins; with
// AVX2, eight groups at a time side by side (qkxLanesAVX2), with the same results.
func makeQkxGroups(nmax, n int, x, w []float32, L []uint8, scales, mins []float32, rmin, rdelta float32, nstep int, useMad bool) {
	groups := len(x) / n
	g := 0
	if haveAVX2 && nstep >= 1 {
		for ; g < groups; g += 8 {
			k := min(8, groups-g)
			qkxLanes8(nmax, n, k, x[g*n:], w[g*n:], L[g*n:], scales[g:], mins[g:], rmin, rdelta, nstep, useMad)
		}
		return
	}
	var aux [32]uint8
	for ; g < groups; g++ {
		lo, hi := g*n, (g+1)*n
		scales[g], mins[g] = makeQkxQuants(nmax, x[lo:hi], w[lo:hi], L[lo:hi], aux[:n], rmin, rdelta, nstep, useMad)
	}
}

// makeQxGroups runs makeQxQuants(n, nmax, ...) on each group of n <= 32 elements of x
// (weights w, codes L), writing the scales; with AVX2, eight groups side by side
// (qxLanesAVX2), with the same results.
func makeQxGroups(n, nmax int, x, w []float32, L []int8, scales []float32) {
	groups := len(x) / n
	if haveAVX2 {
		for g := 0; g < groups; g += 8 {
			makeQxLanes8(n, nmax, min(8, groups-g), x[g*n:], w[g*n:], L[g*n:], scales[g:])
		}
		return
	}
	for g := range groups {
		lo, hi := g*n, (g+1)*n
		scales[g] = makeQxQuants(n, nmax, x[lo:hi], L[lo:hi], w[lo:hi])
	}
}

// makeQpQuants is make_qp_quants: unsigned codes L in [0, nmax] for the non-negative x (a
// super-block's scales or mins), with importance qw: nine candidate scales, then up to
// five rounds of single-code moves that improve the weighted fit.
func makeQpQuants(nmax int, x []float32, L []uint8, qw []float32) float32 {
	n := len(x)
	L, qw = L[:n], qw[:n]
	var max_ float32
	for _, v := range x {
		if !(max_ > v) {
			max_ = v
		}
	}
	if max_ < groupMaxEps {
		clear(L)
		return 0
	}
	fnmax := float32(nmax)
	nm := int32(nmax)
	iscale := fnmax / max_
	for i, v := range x {
		L[i] = uint8(nearestInt(iscale * v))
	}
	scale := 1 / iscale
	var bestMse float32
	for i, v := range x {
		diff := v - float32(scale*float32(L[i]))
		bestMse += float32(float32(qw[i]*diff) * diff)
	}
	for is := int32(-4); is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := (float32(0.1*float32(is)) + fnmax) / max_
		scaleIs := 1 / iscaleIs
		var mse float32
		for i, v := range x {
			l := min(nm, nearestInt(iscaleIs*v))
			diff := v - float32(scaleIs*float32(l))
			mse += float32(float32(qw[i]*diff) * diff)
		}
		if mse < bestMse {
			bestMse, iscale = mse, iscaleIs
		}
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := min(nm, nearestInt(iscale*v))
		L[i] = uint8(l)
		w, fl := qw[i], float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			w := qw[i]
			li := float32(L[i])
			slx := sumlx - float32(float32(w*v)*li)
			sl2 := suml2 - float32(float32(w*li)*li)
			if slx > 0 && sl2 > 0 {
				newL := min(nm, nearestInt(float32(v*sl2)/slx))
				if newL != int32(L[i]) {
					fl := float32(newL)
					slx += float32(float32(w*v) * fl)
					sl2 += float32(float32(w*fl) * fl)
					if float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i], sumlx, suml2 = uint8(newL), slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// qxSearch8 is the candidate loop of makeQxQuants with the AVX2 kernel: the 18 candidate
// scales are independent (max does not change), so their sums come eight at a time and
// the choice then runs in candidate order as the scalar loop's.
func qxSearch8(nmax int, x []float32, L []int8, w []float32, max_, scale, best float32) float32 {
	n := len(x)
	var wx [256]float32
	for i, v := range x {
		wx[i] = w[i] * v
	}
	nm := int32(nmax)
	var isc [8]float32
	var sums [2][8]float32
	var cand [18]float32
	var sumlx, suml2 [18]float32
	for k := range cand {
		is := int32(k - 9)
		if is >= 0 {
			is++
		}
		cand[k] = -(float32(nmax) + float32(0.1*float32(is))) / max_
	}
	for base := 0; base < len(cand); base += 8 {
		for k := range 8 {
			isc[k] = cand[min(base+k, len(cand)-1)]
		}
		qxSumsAVX2(&x[0], &w[0], &wx[0], n, &isc, &sums, nm)
		for k := 0; k < 8 && base+k < len(cand); k++ {
			sumlx[base+k], suml2[base+k] = sums[0][k], sums[1][k]
		}
	}
	for k, iscale := range cand {
		if suml2[k] > 0 && float32(sumlx[k]*sumlx[k]) > float32(best*suml2[k]) {
			for i, v := range x {
				L[i] = int8(clampI(nearestInt(iscale*v), -nm, nm-1) + nm)
			}
			scale = sumlx[k] / suml2[k]
			best = scale * sumlx[k]
		}
	}
	return scale
}

// requantGroups is the last step of the k-quants for groups of 16 elements: for each group
// g whose d[g] is not 0, L = clamp(nearest_int((x + m[g]) / d[g]), lo, hi) + off; the
// other groups keep their codes. (x + 0 differs from x only for -0, which rounds the same,
// so the quantizers without a min pass zeros.)
func requantGroups(L []byte, x, d, m []float32, lo, hi, off int32) {
	if haveAVX2 && len(d) > 0 {
		requantAVX2(&L[0], &x[0], &d[0], &m[0], len(d), lo, hi, off)
		return
	}
	for g, dg := range d {
		if dg == 0 {
			continue
		}
		xs, ls := (*[16]float32)(x[16*g:]), (*[16]byte)(L[16*g:])
		for i, v := range xs {
			ls[i] = byte(clampI(nearestInt((v+m[g])/dg), lo, hi) + off)
		}
	}
}
