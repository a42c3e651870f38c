package calib

import (
	"fmt"
	"io"
	"time"

	"github.com/qscript-dev/qscript/internal/progress"
)

// meter draws a one-line bar with samples/s and ETA, redrawn at most every 100 ms.
type meter struct {
	line  *progress.Line
	total int // -1 when unknown
	done  int
}

// newProgress returns a bar, or nil when none should be drawn. Under ProgressAuto the
// bar needs ProgressMinSamples samples (an unknown count counts as enough) and a
// terminal writer.
func newProgress(w io.Writer, mode ProgressMode, total int) *meter {
	if w == nil || mode == ProgressOff {
		return nil
	}
	if mode == ProgressAuto {
		if total >= 0 && total < ProgressMinSamples {
			return nil
		}
		if !progress.Terminal(w) {
			return nil
		}
	}
	return &meter{line: progress.NewLine(w, time.Now(), 0), total: total}
}

func (p *meter) update(samples int) {
	if p == nil {
		return
	}
	p.done = samples
	if now := time.Now(); p.line.Due(now, false) {
		p.draw(now)
	}
}

func (p *meter) finish(ok bool) {
	if p == nil {
		return
	}
	if ok {
		p.draw(time.Now())
	}
	p.line.End()
}

func (p *meter) draw(now time.Time) {
	rate := p.line.Rate(float64(p.done), now)
	if p.total < 0 {
		p.line.Drawf("calibrating %d samples  %.1f samples/s", p.done, rate)
		return
	}
	done, total := float64(p.done), float64(p.total)
	p.line.Drawf("calibrating %*d/%d [%s] %.1f samples/s ETA %s",
		len(fmt.Sprint(p.total)), p.done, p.total, progress.Bar(30, done, total), rate, progress.ETA(done, total, rate))
}
