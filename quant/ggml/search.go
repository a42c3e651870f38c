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
	n := len(x)
	L = L[:n]
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
		L[i] = int8(l)
		w := v * v
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
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
	for i := range L {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// makeQkxQuants is make_qkx2_quants (useMad selects its absolute-error option) and, with
// useMad false, make_qkx3_quants with weights (the two differ only in the test for an
// all-equal group, max == min against max <= min, which agree on finite input). Codes L in
// [0, nmax] for x ≈ scale*L - theMin with theMin >= 0: a least-squares fit of scale and
// min for each of nstep+1 candidate scales, keeping the best by weighted error.
func makeQkxQuants(nmax int, x, weights []float32, L, aux []uint8, rmin, rdelta float32, nstep int, useMad bool) (scale, theMin float32) {
	n := len(x)
	weights, L, aux = weights[:n], L[:n], aux[:n]
	min_, max_ := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		v := x[i]
		if v < min_ {
			min_ = v
		}
		if v > max_ {
			max_ = v
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * v)
	}
	if min_ > 0 {
		min_ = 0
	}
	if max_ <= min_ {
		clear(L)
		return 0, -min_
	}
	fnmax := float32(nmax)
	nm := int32(nmax)
	iscale := fnmax / (max_ - min_)
	scale = 1 / iscale
	var bestErr float32
	for i, v := range x {
		l := clampI(nearestInt(iscale*(v-min_)), 0, nm)
		L[i] = uint8(l)
		diff := float32(scale*float32(l)) + min_ - v
		if useMad {
			diff = absf(diff)
		} else {
			diff = diff * diff
		}
		bestErr += float32(weights[i] * diff)
	}
	if nstep < 1 {
		return scale, -min_
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + fnmax) / (max_ - min_)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clampI(nearestInt(iscale*(v-min_)), 0, nm)
			aux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			wl := float32(w * fl)
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

// makeQkx3Quants is make_qkx3_quants with weights and use_mad false.
func makeQkx3Quants(nmax int, x, weights []float32, L, aux []uint8, rmin, rdelta float32, nstep int) (float32, float32) {
	return makeQkxQuants(nmax, x, weights, L, aux, rmin, rdelta, nstep, false)
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
