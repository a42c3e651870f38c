package report

import "sync"

// History keeps the reports of one recipe's last run in the order the recipe made them, so
// that the nth report of a rerun is compared with the nth of the run before (watch mode).
// The host keeps one per recipe across runs; it is safe for concurrent use.
type History struct {
	mu   sync.Mutex
	last map[int]*Report
}

// Swap records r as the nth report of this run and returns the nth of the run before (nil
// on a first run).
func (h *History) Swap(n int, r *Report) *Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last == nil {
		h.last = map[int]*Report{}
	}
	prev := h.last[n]
	h.last[n] = r
	return prev
}
