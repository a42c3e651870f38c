package llm

import (
	"io"
	"time"

	"github.com/qscript-dev/qscript/internal/progress"
	"github.com/qscript-dev/qscript/report"
)

// Bar draws Write's progress on a terminal: a one-line bar with tensors done, bytes,
// rate and ETA, first drawn after a second (short runs stay silent) and redrawn at most
// every 100 ms.
type Bar struct {
	line *progress.Line
	pr   Progress
}

// NewBar returns a bar writing to w, or nil when w is not a terminal (a nil *Bar ignores
// every call).
func NewBar(w io.Writer) *Bar {
	if !progress.Terminal(w) {
		return nil
	}
	return newBar(w, time.Now())
}

// newBar is a bar on w started at start, whatever w is.
func newBar(w io.Writer, start time.Time) *Bar {
	return &Bar{line: progress.NewLine(w, start, time.Second)}
}

// Update records progress, for WriteOptions.Progress.
func (b *Bar) Update(pr Progress) {
	if b == nil {
		return
	}
	b.pr = pr
	if now := time.Now(); b.line.Due(now, false) {
		b.draw(now)
	}
}

// Finish ends the bar's line (when one was drawn).
func (b *Bar) Finish() {
	if b == nil || !b.line.Drawn() {
		return
	}
	b.draw(time.Now())
	b.line.End()
}

func (b *Bar) draw(now time.Time) {
	pr := b.pr
	done, total := float64(pr.Bytes), float64(pr.TotalBytes)
	rate := b.line.Rate(done, now)
	eta := "--"
	if rate > 0 && pr.Bytes < pr.TotalBytes {
		eta = progress.Left(done, total, rate).String()
	} else if pr.Bytes >= pr.TotalBytes {
		eta = "0s"
	}
	b.line.Drawf("[%s] %d/%d tensors  %s/%s  %s/s  ETA %s ", progress.Bar(24, done, total),
		pr.Tensors, pr.TotalTensors, report.FormatBytes(pr.Bytes), report.FormatBytes(pr.TotalBytes), report.FormatBytes(int64(rate)), eta)
}
