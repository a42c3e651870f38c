package budget

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1073741824": 1 << 30, "8G": 8 << 30, "8GiB": 8 << 30, "8gb": 8 << 30, "512M": 512 << 20,
		"1.5K": 1536, "0": 0, "2T": 2 << 40, "100B": 100,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "8X", "-1G", "1e30T", "NaN", "G"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q): no error", bad)
		}
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{512: "512 B", 1536: "1.5 KiB", 1 << 40: "1 TiB", 12 << 40: "12 TiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	ctx := WithLimit(context.Background(), 1<<30)
	if err := Check(ctx, 1<<20, "a small thing"); err != nil {
		t.Errorf("1 MiB of 1 GiB: %v", err)
	}
	err := Check(ctx, 2<<30, "qs.zeros: a tensor")
	if !errors.Is(err, ErrExceeded) || !strings.HasPrefix(err.Error(), "qs.zeros: a tensor needs 2 GiB, over the memory limit of 1 GiB (") {
		t.Errorf("2 GiB of 1 GiB: %v", err)
	}
	if err := Check(ctx, Mul(1<<40, 1<<40), "an overflow"); !errors.Is(err, ErrExceeded) || !strings.Contains(err.Error(), "more than 8 EiB") {
		t.Errorf("overflow: %v", err)
	}
	if err := Check(context.Background(), 1<<50, "unlimited"); err != nil {
		t.Errorf("no limit: %v", err)
	}
	if Mul(3, 4, 5) != 60 || Mul(-1, 2) != -1 || Mul(1<<62, 4) != -1 {
		t.Error("Mul")
	}
}

// TestReserveCountsAllocationsInProgress: two workers asking at once for 600 MiB of a
// 1 GiB budget cannot both pass before either has allocated.
func TestReserveCountsAllocationsInProgress(t *testing.T) {
	ctx := WithLimit(context.Background(), 1<<30)
	release, err := Reserve(ctx, 600<<20, "the first worker's output")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Reserve(ctx, 600<<20, "the second worker's output"); !errors.Is(err, ErrExceeded) {
		t.Errorf("second reservation: %v", err)
	}
	release()
	release2, err := Reserve(ctx, 600<<20, "after the first is released")
	if err != nil {
		t.Errorf("after release: %v", err)
	}
	release2()
}
