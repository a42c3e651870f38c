package llamagguf

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// progress draws one line: tensors done, input bytes done, MiB/s and ETA, redrawn at most
// every 100 ms, only on a terminal (as calib's bar).
type progress struct {
	w                     io.Writer
	tensors, done         int
	totalBytes, doneBytes uint64
	start, last           time.Time
}

func newProgress(w io.Writer, tensors []*srcTensor) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	p := &progress{w: w, tensors: len(tensors), start: time.Now()}
	for _, t := range tensors {
		p.totalBytes += t.srcBytes
	}
	return p
}

func (p *progress) update(done int, bytes uint64) {
	if p == nil {
		return
	}
	p.done, p.doneBytes = done, p.doneBytes+bytes
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || done == p.tensors {
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
	const width = 30
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.doneBytes) / elapsed
	}
	filled := 0
	if p.totalBytes > 0 {
		filled = int(min(width, width*p.doneBytes/p.totalBytes))
	}
	eta := "--:--"
	if rate > 0 {
		left := time.Duration(float64(p.totalBytes-p.doneBytes) / rate * float64(time.Second)).Round(time.Second)
		eta = fmt.Sprintf("%02d:%02d", int(left.Minutes()), int(left.Seconds())%60)
	}
	fmt.Fprintf(p.w, "\rgguf %*d/%d tensors [%s%s] %s/%s %.1f MiB/s ETA %s", len(fmt.Sprint(p.tensors)), p.done, p.tensors,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), mib(p.doneBytes), mib(p.totalBytes), rate/(1<<20), eta)
}
