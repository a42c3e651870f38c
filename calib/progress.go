package calib

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// progress draws a one-line bar with samples/s and ETA, redrawn at most every 100 ms.
type progress struct {
	w     io.Writer
	total int // -1 when unknown
	start time.Time
	last  time.Time
	done  int
}

// newProgress returns a bar, or nil when none should be drawn. Under ProgressAuto the
// bar needs ProgressMinSamples samples (an unknown count counts as enough) and a
// terminal writer.
func newProgress(w io.Writer, mode ProgressMode, total int) *progress {
	if w == nil || mode == ProgressOff {
		return nil
	}
	if mode == ProgressAuto {
		if total >= 0 && total < ProgressMinSamples {
			return nil
		}
		f, ok := w.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return nil
		}
	}
	now := time.Now()
	return &progress{w: w, total: total, start: now}
}

func (p *progress) update(samples int) {
	if p == nil {
		return
	}
	p.done = samples
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		p.draw(now)
	}
}

func (p *progress) finish(ok bool) {
	if p == nil {
		return
	}
	if ok {
		p.draw(time.Now())
	}
	fmt.Fprintln(p.w)
}

func (p *progress) draw(now time.Time) {
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.done) / elapsed
	}
	if p.total < 0 {
		fmt.Fprintf(p.w, "\rcalibrating %d samples  %.1f samples/s", p.done, rate)
		return
	}
	const width = 30
	filled := 0
	if p.total > 0 {
		filled = min(width, width*p.done/p.total)
	}
	eta := "--:--"
	if rate > 0 {
		left := time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second)
		eta = fmt.Sprintf("%02d:%02d", int(left.Minutes()), int(left.Seconds())%60)
	}
	fmt.Fprintf(p.w, "\rcalibrating %*d/%d [%s%s] %.1f samples/s ETA %s",
		len(fmt.Sprint(p.total)), p.done, p.total, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), rate, eta)
}
