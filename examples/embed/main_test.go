package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

const wantOutput = `digits_cnn has 12810 parameters
digits_cnn approved: true
encoder_block has 1183744 parameters
encoder_block approved: false
expected error: gate.lua:4: bad argument #1 to 'params' (unknown model "unknown")
int8: worst layer fc1 at 43.54 dB SQNR, 3.90x smaller; passes the 30 dB gate: true
hello, embedder!
`

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, exampleModel(t)); err != nil {
		t.Fatal(err)
	}
	if out.String() != wantOutput {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), wantOutput)
	}
}

// The example must build and run as a program, as its doc comment says.
func TestBuildAndRunProgram(t *testing.T) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		gotool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "embed")
	if out, err := exec.Command(gotool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-model", exampleModel(t))
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("running the example: %v", err)
	}
	if string(out) != wantOutput {
		t.Errorf("output:\n%s\nwant:\n%s", out, wantOutput)
	}
}

// exampleModel is the bundled example checkpoint, by absolute path so that the program
// can run in any folder.
func exampleModel(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../models/digits_cnn.pt")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
