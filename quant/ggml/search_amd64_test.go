//go:build amd64 && !purego

package ggml

import (
	"testing"
	"unsafe"
)

// TestQkxLanesLayout pins the offsets that search_amd64.s hard-codes.
func TestQkxLanesLayout(t *testing.T) {
	var s qkxLanes
	got := []uintptr{unsafe.Offsetof(s.x), unsafe.Offsetof(s.w), unsafe.Offsetof(s.L), unsafe.Offsetof(s.min),
		unsafe.Offsetof(s.max), unsafe.Offsetof(s.sumW), unsafe.Offsetof(s.sumX), unsafe.Offsetof(s.bestErr),
		unsafe.Offsetof(s.scale), unsafe.Offsetof(s.active), unsafe.Offsetof(s.aux)}
	want := []uintptr{0, 1024, 2048, 3072, 3104, 3136, 3168, 3200, 3232, 3264, 3296}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("qkxLanes field %d at offset %d, search_amd64.s expects %d", i, got[i], want[i])
		}
	}
}

// TestQ3LanesLayout pins the q3Lanes offsets of search_amd64.s.
func TestQ3LanesLayout(t *testing.T) {
	var s q3Lanes
	got := []uintptr{unsafe.Offsetof(s.x), unsafe.Offsetof(s.L), unsafe.Offsetof(s.sumlx),
		unsafe.Offsetof(s.suml2), unsafe.Offsetof(s.hi), unsafe.Offsetof(s.lo), unsafe.Offsetof(s.amax),
		unsafe.Offsetof(s.nm)}
	want := []uintptr{0, 512, 1024, 1056, 1088, 1120, 1152, 1184}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("q3Lanes field %d at offset %d, search_amd64.s expects %d", i, got[i], want[i])
		}
	}
}

// TestQxLanesLayout pins the qxLanes offsets of search_amd64.s.
func TestQxLanesLayout(t *testing.T) {
	var s qxLanes
	got := []uintptr{unsafe.Offsetof(s.x), unsafe.Offsetof(s.w), unsafe.Offsetof(s.L), unsafe.Offsetof(s.aux),
		unsafe.Offsetof(s.scale), unsafe.Offsetof(s.amax), unsafe.Offsetof(s.cand), unsafe.Offsetof(s.hi),
		unsafe.Offsetof(s.lo), unsafe.Offsetof(s.nm)}
	want := []uintptr{0, 1024, 2048, 3072, 4096, 4128, 4160, 4256, 4288, 4320}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("qxLanes field %d at offset %d, search_amd64.s expects %d", i, got[i], want[i])
		}
	}
}
