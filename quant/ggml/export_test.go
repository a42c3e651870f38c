package ggml

// UseAVX2 lets the external tests run the pure-Go searches (on=false) where the assembly
// would run; it cannot enable AVX2 on hardware without it. It returns the restore func.
func UseAVX2(on bool) (restore func()) {
	old := haveAVX2
	haveAVX2 = on && old
	return func() { haveAVX2 = old }
}
