package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// every is the shortest time between two redraws: faster is flicker and wasted writes.
const every = 100 * time.Millisecond

// Terminal reports whether w is a terminal (a pipe or a log file gets no bar).
func Terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Line is one line of w, redrawn in place with "\r".
type Line struct {
	w     io.Writer
	start time.Time
	last  time.Time
	delay time.Duration
	drawn bool
}

// NewLine starts a line on w at start (time.Now() but in tests). Nothing is due before
// delay has passed, so that short runs can stay silent (0: due at once).
func NewLine(w io.Writer, start time.Time, delay time.Duration) *Line {
	return &Line{w: w, start: start, delay: delay}
}

// Due reports whether a redraw is due at now (force: always, once the delay has passed)
// and if so takes now as the time of the last draw.
func (l *Line) Due(now time.Time, force bool) bool {
	if now.Sub(l.start) < l.delay || (!force && now.Sub(l.last) < every) {
		return false
	}
	l.last = now
	return true
}

// Drawf writes the line's new text over the old.
func (l *Line) Drawf(format string, args ...any) {
	l.drawn = true
	fmt.Fprintf(l.w, "\r"+format, args...)
}

// Drawn reports whether the line was drawn at all.
func (l *Line) Drawn() bool { return l.drawn }

// End ends the line, so what follows starts on a fresh one.
func (l *Line) End() { fmt.Fprintln(l.w) }

// Rate returns n per second since the line started (0 at the start).
func (l *Line) Rate(n float64, now time.Time) float64 {
	if secs := now.Sub(l.start).Seconds(); secs > 0 {
		return n / secs
	}
	return 0
}

// Bar returns width cells, the share done of total filled with '=' and the rest blank.
func Bar(width int, done, total float64) string {
	filled := 0
	if total > 0 {
		filled = min(width, max(0, int(float64(width)*done/total)))
	}
	return strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
}

// Left returns the time the total-done still to go takes at rate, to the second.
func Left(done, total, rate float64) time.Duration {
	return time.Duration((total - done) / rate * float64(time.Second)).Round(time.Second)
}

// ETA writes the time left as MM:SS, or "--:--" while the rate is not known.
func ETA(done, total, rate float64) string {
	if rate <= 0 {
		return "--:--"
	}
	left := Left(done, total, rate)
	return fmt.Sprintf("%02d:%02d", int(left.Minutes()), int(left.Seconds())%60)
}
