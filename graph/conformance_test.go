package graph

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
)

// Tolerances of ONNX's own backend test runner.
const (
	conformanceRTol = 1e-3
	conformanceATol = 1e-7
)

type caseResult struct {
	op, name string
	skip     string // reason, empty when the case ran
}

// TestONNXNodeConformance runs every official ONNX node test copied into testdata (see
// generate.go), plus the extra cases of scripts/fixtures/graph_extra_tests.py, and fails on any case of a claimed op that neither passes nor is skipped with a
// written reason (an unsupported dtype or training mode, reported by Load or by the tensor
// reader).
func TestONNXNodeConformance(t *testing.T) {
	var results []caseResult
	for _, suite := range []string{"onnx-node-tests", "extra-node-tests"} {
		root := filepath.Join("testdata", suite)
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			res, err := runNodeCase(filepath.Join(root, e.Name()))
			res.name = e.Name()
			if err != nil {
				t.Errorf("%s/%s (%s): %v", suite, e.Name(), res.op, err)
				res.skip = "FAILED"
			}
			results = append(results, res)
		}
	}
	t.Log("\n" + conformanceTable(results))
}

func conformanceTable(results []caseResult) string {
	type row struct {
		passed, skipped, failed int
		reasons                 []string
	}
	rows := map[string]*row{}
	for _, r := range results {
		rw := rows[r.op]
		if rw == nil {
			rw = &row{}
			rows[r.op] = rw
		}
		switch r.skip {
		case "":
			rw.passed++
		case "FAILED":
			rw.failed++
		default:
			rw.skipped++
			rw.reasons = append(rw.reasons, strings.TrimPrefix(r.name, "test_")+": "+r.skip)
		}
	}
	names := make([]string, 0, len(rows))
	for n := range rows {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-32s %6s %7s %6s  %s\n", "op", "passed", "skipped", "failed", "skip reasons")
	var tp, ts, tf int
	for _, n := range names {
		rw := rows[n]
		tp, ts, tf = tp+rw.passed, ts+rw.skipped, tf+rw.failed
		fmt.Fprintf(&sb, "%-32s %6d %7d %6d  %s\n", n, rw.passed, rw.skipped, rw.failed, strings.Join(rw.reasons, "; "))
	}
	fmt.Fprintf(&sb, "%-32s %6d %7d %6d\n", "TOTAL", tp, ts, tf)
	return sb.String()
}

// caseOp names the op a case tests: the single node's op, or "<Op> (expanded)" for a
// function-expanded case, found as the longest op name that prefixes the folder name.
func caseOp(dir string, m *onnxpb.ModelProto) string {
	nodes := m.GetGraph().GetNode()
	if len(nodes) == 1 {
		return nodes[0].GetOpType()
	}
	folder := strings.ReplaceAll(strings.TrimPrefix(filepath.Base(dir), "test_"), "_", "")
	best := ""
	for _, op := range append(SupportedOps(), "CastLike", "Celu", "GreaterOrEqual", "LessOrEqual", "Range", "Softmax", "LogSoftmax", "HardSwish",
		"BlackmanWindow", "HammingWindow", "HannWindow", "DynamicQuantizeLinear", "MeanVarianceNormalization", "MVN") {
		if strings.HasPrefix(folder, strings.ToLower(op)) && len(op) > len(best) {
			best = op
		}
	}
	if best == "" {
		best = filepath.Base(dir)
	}
	return best + " (expanded)"
}

func readTensorFile(path string) (*tensor.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tp onnxpb.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tensorFromProto(&tp, nil)
}

func runNodeCase(dir string) (caseResult, error) {
	var res caseResult
	b, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return res, err
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		return res, err
	}
	res.op = caseOp(dir, &m)
	res.skip, err = runLoadedCase(dir, &m)
	return res, err
}

// runLoadedCase returns a skip reason when Load or the tensor reader refuses the case as
// unsupported, and an error when it runs but does not match.
func runLoadedCase(dir string, m *onnxpb.ModelProto) (string, error) {
	skip, err := loadAndRunCase(dir, m)
	if errors.Is(err, ErrUnsupported) {
		reason := strings.TrimPrefix(err.Error(), "graph: unsupported: ")
		if i := strings.Index(reason, "): "); i >= 0 {
			reason = reason[i+3:]
		}
		return reason, nil
	}
	return skip, err
}

// loadAndRunCase loads the case's model, feeds input_N.pb and compares with output_N.pb.
func loadAndRunCase(dir string, m *onnxpb.ModelProto) (string, error) {
	g, err := Load(m, Options{})
	if err != nil {
		return "", err
	}
	data := filepath.Join(dir, "test_data_set_0")
	inputs := map[string]*tensor.Tensor{}
	for i, in := range g.Inputs() {
		t, err := readTensorFile(filepath.Join(data, fmt.Sprintf("input_%d.pb", i)))
		if err != nil {
			return "", err
		}
		inputs[in.Name] = t
	}
	wants := make([]*tensor.Tensor, len(g.Outputs()))
	for i := range wants {
		if wants[i], err = readTensorFile(filepath.Join(data, fmt.Sprintf("output_%d.pb", i))); err != nil {
			return "", err
		}
	}
	outs, err := g.Run(context.Background(), inputs, nil)
	if err != nil {
		return "", err
	}
	for i, o := range g.Outputs() {
		if err := compareTensors(outs[o.Name], wants[i]); err != nil {
			return "", fmt.Errorf("output %q: %w", o.Name, err)
		}
	}
	return "", nil
}

// compareTensors checks dtype, shape and values: floats within atol + rtol*|want| (NaN
// matching NaN), everything else exactly.
func compareTensors(got, want *tensor.Tensor) error {
	if got == nil {
		return errors.New("missing")
	}
	if got.DType != want.DType {
		return fmt.Errorf("dtype %v, want %v", got.DType, want.DType)
	}
	if !slices.Equal(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	g, w := got.ToF64(), want.ToF64()
	exact := !want.DType.IsFloat()
	for i := range w {
		if math.IsNaN(w[i]) && math.IsNaN(g[i]) {
			continue
		}
		if exact && g[i] != w[i] || !exact && !(math.Abs(g[i]-w[i]) <= conformanceATol+conformanceRTol*math.Abs(w[i])) {
			return fmt.Errorf("element %d: got %v, want %v", i, g[i], w[i])
		}
	}
	return nil
}
