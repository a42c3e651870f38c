package clip

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	if got := Quote("F32"); got != `"F32"` {
		t.Errorf("Quote(F32) = %s", got)
	}
	got := Quote(strings.Repeat("X", 50<<20))
	if want := `"` + strings.Repeat("X", MaxQuoted) + `"… (52428800 bytes)`; got != want {
		t.Errorf("Quote(50 MB) = %.100s", got)
	}
}

func TestText(t *testing.T) {
	long := "start " + strings.Repeat("x", 1<<20) + " end"
	got := Text(long)
	if len(got) > MaxMessage+100 || !strings.HasPrefix(got, "start ") || !strings.HasSuffix(got, " end") || !strings.Contains(got, "bytes left out") {
		t.Errorf("Text(1 MB) = %d bytes: %.80s…", len(got), got)
	}
	if Text("short") != "short" {
		t.Error("a short message changed")
	}
}
