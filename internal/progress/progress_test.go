package progress

import (
	"bytes"
	"testing"
	"time"
)

func TestBar(t *testing.T) {
	for _, c := range []struct {
		done, total float64
		want        string
	}{
		{0, 10, "          "}, {3, 10, "===       "}, {10, 10, "=========="},
		{12, 10, "=========="}, {5, 0, "          "}, {1, 3, "===       "},
	} {
		if got := Bar(10, c.done, c.total); got != c.want {
			t.Errorf("Bar(10, %v, %v) = %q, want %q", c.done, c.total, got, c.want)
		}
	}
}

func TestETA(t *testing.T) {
	for _, c := range []struct {
		done, total, rate float64
		want              string
	}{
		{0, 100, 0, "--:--"}, {40, 100, 1, "01:00"}, {0, 3725, 1, "62:05"}, {99.6, 100, 1, "00:00"},
	} {
		if got := ETA(c.done, c.total, c.rate); got != c.want {
			t.Errorf("ETA(%v, %v, %v) = %q, want %q", c.done, c.total, c.rate, got, c.want)
		}
	}
}

func TestLine(t *testing.T) {
	var buf bytes.Buffer
	if Terminal(&buf) {
		t.Fatal("a buffer is no terminal")
	}
	start := time.Now()
	l := NewLine(&buf, start, time.Second)
	if l.Due(start.Add(500*time.Millisecond), true) {
		t.Error("due before the delay")
	}
	if !l.Due(start.Add(time.Second), false) {
		t.Error("not due after the delay")
	}
	if l.Due(start.Add(time.Second+50*time.Millisecond), false) {
		t.Error("due again within 100 ms")
	}
	if !l.Due(start.Add(time.Second+50*time.Millisecond), true) {
		t.Error("not due when forced")
	}
	if l.Drawn() {
		t.Error("drawn before Drawf")
	}
	l.Drawf("%d/%d", 1, 2)
	l.End()
	if got := buf.String(); got != "\r1/2\n" || !l.Drawn() {
		t.Errorf("line %q", got)
	}
	if r := l.Rate(10, start.Add(2*time.Second)); r != 5 {
		t.Errorf("rate %v, want 5", r)
	}
	if r := l.Rate(10, start); r != 0 {
		t.Errorf("rate at the start %v, want 0", r)
	}
}
