package bindings

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/formats"
	"github.com/qscript-dev/qscript/formats/hf"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/internal/paths"
)

// Every file a run reads is an input: the models it loads (with their shards, external
// data and the config.json beside them) and its data. The path policy (internal/paths)
// confines each to the host's Root, and refuses an output that would replace one of them.

// inputsKey is the registry field that holds the run's *inputSet.
const inputsKey = "qs.inputs"

type inputSet struct {
	files []string
	seen  map[string]bool
}

func inputsOf(L *lua.LState) *inputSet {
	if s, ok := registryGet[*inputSet](L, inputsKey); ok {
		return s
	}
	s := &inputSet{seen: map[string]bool{}}
	registrySet(L, inputsKey, s)
	return s
}

// addInputs records files (absolute paths) as inputs of this run.
func addInputs(L *lua.LState, files ...string) {
	s := inputsOf(L)
	for _, f := range files {
		if !s.seen[f] {
			s.seen[f] = true
			s.files = append(s.files, f)
		}
	}
}

// modelFiles lists every file a model reads: the file itself, the shards of a sharded
// index, the external data of an ONNX model, and the config.json beside it when there is
// one (quantize copies it beside the output).
func modelFiles(f *formats.File) []string {
	files := []string{f.Path}
	dir := filepath.Dir(f.Path)
	switch m := f.Model.(type) {
	case *safetensors.Sharded:
		for _, s := range m.Shards() {
			files = append(files, filepath.Join(dir, s))
		}
	case *onnx.File:
		files = append(files, m.ExternalFiles()...)
	case *hf.Folder:
		dir = m.Dir
	}
	if cfg := filepath.Join(dir, "config.json"); cfg != f.Path {
		if _, err := os.Lstat(cfg); err == nil {
			files = append(files, cfg)
		}
	}
	return files
}

// confineFiles raises an argument error (argument n) for a file that lies outside the
// host's Root once symbolic links are followed: a shard, an image or a config.json linked
// from inside to outside.
func confineFiles(L *lua.LState, n int, files []string) {
	env := envOf(L)
	for _, f := range files {
		if err := env.Confine(f, filepath.Base(f)); err != nil {
			L.ArgError(n, err.Error())
		}
	}
}

// checkOutput raises an argument error when the output abs (given as path in argument n)
// would replace an input of this run or land inside an input folder, even through a
// symbolic link.
func checkOutput(L *lua.LState, n int, abs, path string) {
	if err := paths.CheckOutput(abs, inputsOf(L).files...); err != nil {
		L.ArgError(n, fmt.Sprintf("refusing to write %s: %v", path, err))
	}
}

// ourReport recognizes a report that qscript wrote (HTML or JSON), which a new report may
// replace; any other file at that path is the user's.
func ourReport(path string) bool {
	f, err := paths.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 1024)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	return bytes.Contains(head, []byte(`<meta name="generator" content="qscript"/>`)) ||
		bytes.HasPrefix(head, []byte("{\n  \"title\": "))
}
