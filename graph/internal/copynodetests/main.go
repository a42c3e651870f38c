// Command copynodetests copies the ONNX backend node tests whose ops graph/ implements into
// graph/testdata, so that `go test` does not depend on ../shared. Run it through
// `go generate ./graph` after adding an op:
//
//	go run ./internal/copynodetests SRC DST
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/graph"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: copynodetests SRC DST")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "copynodetests:", err)
		os.Exit(1)
	}
}

func run(src, dst string) error {
	supported := graph.SupportedOps()
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	copied := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name(), "model.onnx"))
		if err != nil {
			return err
		}
		var m onnxpb.ModelProto
		if err := proto.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s: %w", e.Name(), err)
		}
		ok := len(m.GetGraph().GetNode()) > 0
		for _, n := range m.GetGraph().GetNode() {
			if n.GetDomain() != "" || !slices.Contains(supported, n.GetOpType()) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		if err := copyTree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
		copied++
	}
	fmt.Printf("copied %d node tests into %s\n", copied, dst)
	return nil
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
