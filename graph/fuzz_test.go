package graph

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
)

// FuzzLoad feeds arbitrary model bytes through Load: it must return an error or a graph,
// never panic or allocate without bound. Seeds are the committed models and some node tests.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "models", "*", "model.onnx"))
	more, _ := filepath.Glob(filepath.Join("testdata", "onnx-node-tests", "test_[cdegilrs]*", "model.onnx"))
	for _, p := range append(seeds, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m onnxpb.ModelProto
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		for _, tp := range m.GetGraph().GetInitializer() {
			_, _ = tensorFromProto(tp, nil)
		}
		_, _ = Load(&m, Options{})
	})
}
