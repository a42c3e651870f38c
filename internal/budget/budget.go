package budget

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// ErrExceeded is wrapped by every error about the memory limit.
var ErrExceeded = errors.New("memory limit exceeded")

type key struct{}

// state is a run's budget: its limit and the bytes reserved by allocations in progress.
type state struct {
	limit   int64
	pending atomic.Int64
	refused atomic.Pointer[Error] // the latest refusal, for Refusal
}

// WithLimit returns a context whose runs may use up to limit bytes; limit <= 0 means none.
func WithLimit(ctx context.Context, limit int64) context.Context {
	return context.WithValue(ctx, key{}, &state{limit: max(limit, 0)})
}

func stateOf(ctx context.Context) *state {
	if ctx == nil {
		return nil
	}
	s, _ := ctx.Value(key{}).(*state)
	return s
}

// Limit is the context's limit in bytes, or 0 when it has none.
func Limit(ctx context.Context) int64 {
	if s := stateOf(ctx); s != nil {
		return s.limit
	}
	return 0
}

// Error is a refused allocation.
type Error struct {
	What  string // what needed the memory: "qs.zeros: a tensor of shape [1048576, 1048576]"
	Need  int64  // bytes asked for; math.MaxInt64 when the size overflows
	Limit int64
	Live  int64 // live heap when it was asked for
}

func (e *Error) Error() string {
	need := Size(e.Need)
	if e.Need == math.MaxInt64 {
		need = "more than 8 EiB"
	}
	if e.Limit == 0 {
		return fmt.Sprintf("%s needs %s, more than any machine has", e.What, need)
	}
	return fmt.Sprintf("%s needs %s, over the memory limit of %s (%s in use; raise it with --max-memory)",
		e.What, need, Size(e.Limit), Size(e.Live))
}

func (e *Error) Unwrap() error { return ErrExceeded }

// Check refuses an allocation of need bytes when it would take the heap over the
// context's limit. A negative need stands for a size that overflowed. The heap is read as
// it is now (garbage included, so nothing just allocated escapes it); only when that says
// no does Check collect garbage and look at the live heap, so the common case costs
// nothing.
func Check(ctx context.Context, need int64, what string) error {
	release, err := Reserve(ctx, need, what)
	release()
	return err
}

// Reserve is Check for allocations that goroutines make at the same time (the workers of a
// calibration): the bytes count as in use until release is called, which the caller does
// once it has allocated them (then the heap counts them). release is never nil.
func Reserve(ctx context.Context, need int64, what string) (release func(), err error) {
	s := stateOf(ctx)
	limit := Limit(ctx)
	if need < 0 {
		return refuse(s, &Error{What: what, Need: math.MaxInt64, Limit: limit, Live: Heap()})
	}
	if limit == 0 {
		return func() {}, nil
	}
	if need > limit {
		return refuse(s, &Error{What: what, Need: need, Limit: limit, Live: Heap()})
	}
	pending := s.pending.Add(need) - need
	release = func() { s.pending.Add(-need) }
	if need <= limit-Heap()-pending {
		return release, nil
	}
	runtime.GC()
	if live := Live() + pending; need > limit-live {
		release()
		return refuse(s, &Error{What: what, Need: need, Limit: limit, Live: live})
	}
	return release, nil
}

func refuse(s *state, e *Error) (release func(), err error) {
	if s != nil {
		s.refused.Store(e)
	}
	return func() {}, e
}

// Refusal is the run's latest refusal when msg carries its message, else nil. An error
// raised in Lua reaches the host as text; Refusal gives it back its identity, so that
// errors.Is(err, ErrExceeded) holds for it.
func Refusal(ctx context.Context, msg string) error {
	if s := stateOf(ctx); s != nil {
		if e := s.refused.Load(); e != nil && strings.Contains(msg, e.Error()) {
			return e
		}
	}
	return nil
}

// Mul returns a*b*c... bytes, or -1 when the product overflows int64 or a factor is
// negative; Check treats -1 as too large.
func Mul(factors ...int64) int64 {
	p := int64(1)
	for _, f := range factors {
		if f < 0 {
			return -1
		}
		if f != 0 && p > math.MaxInt64/f {
			return -1
		}
		p *= f
	}
	return p
}

var liveSample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}

// Live is the heap in use: the live heap as of the last GC, or the bytes in heap objects
// (which include garbage not collected yet) when no GC has run.
func Live() int64 {
	s := make([]metrics.Sample, len(liveSample))
	copy(s, liveSample)
	metrics.Read(s)
	var n uint64
	if s[0].Value.Kind() == metrics.KindUint64 {
		n = s[0].Value.Uint64()
	}
	if n == 0 && s[1].Value.Kind() == metrics.KindUint64 {
		n = s[1].Value.Uint64()
	}
	return int64(min(n, math.MaxInt64))
}

// Heap is the bytes in heap objects now, garbage included: what the watchdog compares.
func Heap() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(min(s[0].Value.Uint64(), math.MaxInt64))
}

// Physical is the machine's memory in bytes, or 0 when it cannot be read.
func Physical() int64 {
	var info syscall.Sysinfo_t
	if err := syscall.Sysinfo(&info); err != nil {
		return 0
	}
	return int64(info.Totalram) * int64(info.Unit)
}

// DefaultFraction of physical memory is the default limit of a run.
const DefaultFraction = 0.25

// Default is the default limit: a quarter of physical memory (8 GiB when it cannot be read).
func Default() int64 {
	if p := Physical(); p > 0 {
		return int64(float64(p) * DefaultFraction)
	}
	return 8 << 30
}

// Size formats bytes with a binary unit: "512 B", "3.5 MiB", "16 GiB".
func Size(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	i := -1
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f == math.Trunc(f) {
		return fmt.Sprintf("%.0f %ciB", f, units[i])
	}
	return fmt.Sprintf("%.1f %ciB", f, units[i])
}

// ParseSize reads a size such as "8GiB", "512M", "2g" or "1073741824" (bytes). Units are
// binary (K = 1024); a trailing "B" or "iB" is optional.
func ParseSize(s string) (int64, error) {
	num := s
	mult := int64(1)
	for i, u := range []string{"K", "M", "G", "T", "P"} {
		for _, suffix := range []string{u + "IB", u + "B", u} {
			if len(num) > len(suffix) && strings.EqualFold(num[len(num)-len(suffix):], suffix) {
				num = num[:len(num)-len(suffix)]
				mult = 1 << (10 * (i + 1))
				goto parsed
			}
		}
	}
	if len(num) > 1 && strings.EqualFold(num[len(num)-1:], "B") {
		num = num[:len(num)-1]
	}
parsed:
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("size %q: expected a number of bytes with an optional unit (K, M, G, T), such as 8G", s)
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v), nil
}
