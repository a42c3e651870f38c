package static

import (
	"context"
	"fmt"
	"sync"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/formats/onnx/upgrade"
	"github.com/qscript-dev/qscript/graph"
)

// source is the model static quantization plans and exports: f with its constant weights
// folded into initializers (FoldWeights), and that model at opset 13 or later for the QDQ
// export (upgrade.Upgrade), with what was changed, for the report.
type source struct {
	file     *onnx.File         // folded: what layers and weights are read from
	base     *onnxpb.ModelProto // what qdq.Export rewrites (upgraded)
	folded   []string           // initializers made from Constant subgraphs
	upgraded int64              // the opset the model was upgraded from, or 0
}

// normalize folds and upgrades f. Every node that cannot be upgraded is named in the
// error, which comes before any calibration when Prepare calls it.
func normalize(ctx context.Context, f *onnx.File) (*source, error) {
	ff, folded, err := FoldWeights(ctx, f)
	if err != nil {
		return nil, err
	}
	s := &source{file: ff, base: ff.Proto(), folded: folded}
	from := upgrade.Opset(ff.Proto())
	if from >= upgrade.Target {
		return s, nil
	}
	if s.base, err = upgrade.Upgrade(ff.Proto(), upgrade.Options{Rank: ranks(ff)}); err != nil {
		return nil, fmt.Errorf("static: the model imports opset %d and QDQ export needs %d: %w", from, upgrade.Target, err)
	}
	s.upgraded = from
	return s, nil
}

// ranks returns the rank of a value as graph/ infers it (-1 when unknown), loading the
// graph only when an upgrade asks.
func ranks(f *onnx.File) func(string) int {
	var once sync.Once
	var g *graph.Graph
	return func(name string) int {
		once.Do(func() { g, _ = graph.LoadONNX(f) })
		if g == nil {
			return -1
		}
		if vi, ok := g.ValueInfo(name); ok && vi.Shape != nil {
			return len(vi.Shape)
		}
		return -1
	}
}
