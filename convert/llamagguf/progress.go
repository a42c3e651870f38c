package llamagguf

import (
	"fmt"
	"io"
	"time"

	"github.com/qscript-dev/qscript/internal/progress"
	"github.com/qscript-dev/qscript/report"
)

// meter draws one line: tensors done, input bytes done, MiB/s and ETA, redrawn at most
// every 100 ms, only on a terminal.
type meter struct {
	line                  *progress.Line
	tensors, done         int
	totalBytes, doneBytes uint64
}

func newProgress(w io.Writer, tensors []*srcTensor) *meter {
	if !progress.Terminal(w) {
		return nil
	}
	p := &meter{line: progress.NewLine(w, time.Now(), 0), tensors: len(tensors)}
	for _, t := range tensors {
		p.totalBytes += t.srcBytes
	}
	return p
}

func (p *meter) update(done int, bytes uint64) {
	if p == nil {
		return
	}
	p.done, p.doneBytes = done, p.doneBytes+bytes
	if now := time.Now(); p.line.Due(now, done == p.tensors) {
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
	done, total := float64(p.doneBytes), float64(p.totalBytes)
	rate := p.line.Rate(done, now)
	p.line.Drawf("gguf %*d/%d tensors [%s] %s/%s %.1f MiB/s ETA %s", len(fmt.Sprint(p.tensors)), p.done, p.tensors,
		progress.Bar(30, done, total), report.FormatBytes(p.doneBytes), report.FormatBytes(p.totalBytes), rate/(1<<20), progress.ETA(done, total, rate))
}
