package calib

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/data"
)

// goldenFile holds a SHA-256 of every calibration result of goldenCases, recorded before
// calibration's observers moved into the graph run (activations no longer copied): the
// speed work must leave every range, qparam and report histogram bit-identical.
// QSCRIPT_UPDATE_GOLDEN=1 rewrites it (only when a change of numerics is intended).
const goldenFile = "testdata/golden_results.txt"

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
		if err := os.WriteFile(goldenFile, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("calibration results changed:\ngot\n%swant\n%s", got, want)
	}
}
