package report

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output; got:\n%s", path, got)
	}
}

func TestTableGolden(t *testing.T) {
	checkGolden(t, "sample.table.golden", sampleReport().String())

	minimal := &Report{Title: "fp16: m.safetensors", Input: "m.safetensors", Layers: []Layer{
		{Name: "w", Type: "Linear", Shape: []int{4, 4}, DType: "F32", QDType: "fp16", Granularity: "cast",
			Quantized: true, SQNR: 71.5, MSE: 3e-12, Cosine: 1, BytesBefore: 64, BytesAfter: 32},
	}}
	minimal.Finish()
	checkGolden(t, "minimal.table.golden", minimal.String())
}

func TestTableColumnsAlign(t *testing.T) {
	lines := strings.Split(sampleReport().String(), "\n")
	var header, rule string
	for i, l := range lines {
		if strings.HasPrefix(l, "layer ") {
			header, rule = l, lines[i+1]
			break
		}
	}
	if header == "" {
		t.Fatal("no layer table header")
	}
	// Every column title lies over its rule segment, whichever side it is aligned to.
	for _, col := range []string{"type", "shape", "dtype", "granularity", "scale min", "SQNR dB", "cosine"} {
		at := strings.Index(header, col)
		if at <= 0 || strings.Trim(rule[at:at+len(col)], "-") != "" {
			t.Errorf("column %q at %d is not over a rule segment:\n%s\n%s", col, at, header, rule)
		}
	}
	if strings.Contains(sampleReport().String(), "\x1b") {
		t.Error("table contains a terminal escape")
	}
}

func TestFormatBytes(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.00 KiB"}, {1536, "1.50 KiB"},
		{10 * 1024, "10.0 KiB"}, {190_400, "186 KiB"}, {1 << 20, "1.00 MiB"},
		{5 << 30, "5.00 GiB"}, {-2048, "-2.00 KiB"}, {1 << 62, "4096 PiB"},
	} {
		if got := FormatBytes(c.n); got != c.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	for n, want := range map[uint64]string{1023: "1023 B", 100 << 20: "100 MiB", 15 << 30: "15.0 GiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(uint64 %d) = %q, want %q", n, got, want)
		}
	}
}

// TestTableQuotesControlCharacters: names come from the model file; an escape sequence in
// one must reach the terminal quoted, never raw.
func TestTableQuotesControlCharacters(t *testing.T) {
	r := &Report{Title: "t\x1b[2J", Layers: []Layer{
		{Name: "fc\x1b[31m", Type: "Linear", Shape: []int{2, 2}, DType: "F32", Quantized: true, QDType: "int8"},
		{Name: "ok", Type: "Linear", Shape: []int{2, 2}, DType: "F32", Reason: "skip: a\rb"},
	}, Warnings: []string{"layer x\x07 stays in float"}}
	r.Finish()
	out := r.String()
	prev := &Report{Layers: []Layer{{Name: "fc\x1b[31m", Quantized: true, QDType: "int4"}}}
	out += Diff(prev, r)
	if strings.ContainsAny(out, "\x1b\r\x07") {
		t.Fatalf("control characters reached the output:\n%q", out)
	}
	for _, want := range []string{`"fc\x1b[31m"`, `"t\x1b[2J"`, `"skipped: skip: a\rb"`, `"layer x\a stays in float"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}
