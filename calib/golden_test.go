package calib

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/data"
	"golang.org/x/sys/cpu"
)

// goldenFile holds a SHA-256 of every calibration result of goldenCases, recorded before
// calibration's observers moved into the graph run (activations no longer copied): the
// speed work must leave every range, qparam and report histogram bit-identical.
// QSCRIPT_UPDATE_GOLDEN=1 rewrites the file of the kernels this build runs (only when a
// change of numerics is intended; for both files, run it once with and once without
// -tags purego on an AVX2+FMA+F16C machine).
const goldenFile = "testdata/golden_results.txt"

// goldenFilePurego holds the same cases' hashes for the pure-Go kernels. The graph's and
// the observers' float32 kernels differ from the assembly ones in the last bits (FMA rounds
// once where Go rounds twice, vector sums add in another order), and the ranges carry those
// bits; each file was made by its own build, pure Go's with -tags purego.
const goldenFilePurego = "testdata/golden_results_purego.txt"

// goldenFileFor names the hash file of the kernels this build runs: the assembly kernels
// on amd64 with AVX2, FMA and F16C, pure Go on amd64 otherwise; elsewhere there is none
// (other architectures' float32 results were never recorded).
func goldenFileFor() (string, bool) {
	switch {
	case runtime.GOARCH != "amd64":
		return "", false
	case !puregoBuild && cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C:
		return goldenFile, true
	}
	return goldenFilePurego, true
}

type goldenCase struct {
	model, data, observer string
	batch, workers        int
}

func goldenCases() []goldenCase {
	var out []goldenCase
	for _, m := range [][2]string{{"digits_cnn.onnx", "calib.npy"}, {"encoder_block_op13.onnx", "encoder_calib.npy"}, {"encoder_block_op17.onnx", "encoder_calib.npy"}} {
		for _, ob := range Observers {
			for _, bw := range [][2]int{{32, 2}, {7, 3}, {32, 1}} {
				out = append(out, goldenCase{m[0], m[1], ob, bw[0], bw[1]})
			}
		}
	}
	return out
}

func (c goldenCase) String() string {
	return fmt.Sprintf("%s %s %s batch=%d workers=%d", c.model, c.data, c.observer, c.batch, c.workers)
}

func TestResultsGolden(t *testing.T) {
	file, ok := goldenFileFor()
	if !ok {
		t.Skipf("no golden results recorded for %s", runtime.GOARCH)
	}
	var lines []string
	for _, c := range goldenCases() {
		g := loadModel(t, c.model)
		src, err := data.NPY(models + c.data)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Calibrate(context.Background(), g, src, Options{Observer: c.observer, BatchSize: c.batch, Workers: c.workers})
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		b, err := json.Marshal(res.Activations)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		lines = append(lines, c.String()+" "+hex.EncodeToString(sum[:]))
	}
	got := strings.Join(lines, "\n") + "\n"
	if os.Getenv("QSCRIPT_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("calibration results changed:\ngot\n%swant\n%s", got, want)
	}
}
