package llm

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Bar draws Write's progress on a terminal: a one-line bar with tensors done, bytes,
// rate and ETA, first drawn after a second (short runs stay silent) and redrawn at most
// every 100 ms.
type Bar struct {
	w     io.Writer
	start time.Time
	last  time.Time
	drawn bool
	pr    Progress
}

// NewBar returns a bar writing to w, or nil when w is not a terminal (a nil *Bar ignores
// every call).
func NewBar(w io.Writer) *Bar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &Bar{w: w, start: time.Now()}
}

// Update records progress, for WriteOptions.Progress.
func (b *Bar) Update(pr Progress) {
	if b == nil {
		return
	}
	b.pr = pr
	now := time.Now()
	if now.Sub(b.start) < time.Second || now.Sub(b.last) < 100*time.Millisecond {
		return
	}
	b.last = now
	b.draw(now)
}

// Finish ends the bar's line (when one was drawn).
func (b *Bar) Finish() {
	if b == nil || !b.drawn {
		return
	}
	b.draw(time.Now())
	fmt.Fprintln(b.w)
}

func (b *Bar) draw(now time.Time) {
	b.drawn = true
	pr := b.pr
	frac := 0.0
	if pr.TotalBytes > 0 {
		frac = float64(pr.Bytes) / float64(pr.TotalBytes)
	}
	const width = 24
	fill := int(frac * width)
	secs := now.Sub(b.start).Seconds()
	rate := float64(pr.Bytes) / max(secs, 1e-9)
	eta := "--"
	if rate > 0 && pr.Bytes < pr.TotalBytes {
		eta = time.Duration(float64(pr.TotalBytes-pr.Bytes) / rate * float64(time.Second)).Round(time.Second).String()
	} else if pr.Bytes >= pr.TotalBytes {
		eta = "0s"
	}
	fmt.Fprintf(b.w, "\r[%s%s] %d/%d tensors  %s/%s  %s/s  ETA %s ", strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		pr.Tensors, pr.TotalTensors, HumanBytes(pr.Bytes), HumanBytes(pr.TotalBytes), HumanBytes(int64(rate)), eta)
}

// HumanBytes writes a byte count with a decimal unit ("1.2 GB").
func HumanBytes(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "kB", "MB", "GB", "TB"} {
		if f < 1000 || u == "TB" {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return fmt.Sprintf("%.1f %s", f, u)
		}
		f /= 1000
	}
	return ""
}
