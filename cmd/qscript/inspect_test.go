package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestInspectJSON(t *testing.T) {
	for _, c := range []struct {
		path, format string
		tensors      int
		bytes        uint64
	}{
		{"../../formats/safetensors/testdata/real/all-dtypes.safetensors", "safetensors", 16, 753},
		{"../../formats/safetensors/testdata/real/sharded/model.safetensors.index.json", "safetensors index", 4, 3*(6*4) + 3*4},
		{"../../formats/torch/testdata/batchnorm.pt", "PyTorch .pt", 7, 284},
		{"../../formats/npy/testdata/real/arrays.npz", "npz", 6, 12*4 + 4*8 + 6 + 4 + 0 + 24*4},
		{"../../formats/npy/testdata/real/f64.npy", "npy", 1, 48},
		{"../../formats/gguf/testdata/real/gguf-py.gguf", "GGUF", 3, 60 + 16 + 136},
	} {
		t.Run(c.format, func(t *testing.T) {
			code, out, errOut := runCLI(t, "inspect", c.path, "--json")
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var s formats.Summary
			dec := json.NewDecoder(strings.NewReader(out))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&s); err != nil {
				t.Fatalf("output is not a Summary: %v\n%s", err, out)
			}
			if s.File != c.path || s.Format != c.format || s.TotalTensors != c.tensors || len(s.Tensors) != c.tensors || s.TotalBytes != c.bytes {
				t.Errorf("file %q format %q, %d tensors (%d listed), %d bytes; want %q %d %d",
					s.File, s.Format, s.TotalTensors, len(s.Tensors), s.TotalBytes, c.format, c.tensors, c.bytes)
			}
		})
	}
}

func TestInspectJSONQuantizationRecord(t *testing.T) {
	_, out, _ := runCLI(t, "inspect", "--json", "../../formats/safetensors/testdata/real/all-dtypes.safetensors")
	var s struct {
		Tensors []struct {
			Name  string `json:"name"`
			DType string `json:"dtype"`
			Shape []int  `json:"shape"`
			Bytes uint64 `json:"bytes"`
		} `json:"tensors"`
		Metadata     map[string]string `json:"metadata"`
		Quantization struct {
			Scheme string   `json:"scheme"`
			Layers []string `json:"layers"`
		} `json:"quantization"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.Quantization.Scheme != "int8" || len(s.Quantization.Layers) != 1 || s.Metadata["format"] != "pt" {
		t.Errorf("quantization %+v metadata %v", s.Quantization, s.Metadata)
	}
	for _, ts := range s.Tensors {
		if ts.Name == "bf16" && (ts.DType != "BF16" || len(ts.Shape) != 3 || ts.Bytes != 16) {
			t.Errorf("bf16: %+v", ts)
		}
	}
}

func TestInspectTable(t *testing.T) {
	code, out, _ := runCLI(t, "inspect", "../../formats/torch/testdata/batchnorm.pt")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"batchnorm.pt  (PyTorch .pt, 7 tensors, 284 B)\n",
		"NAME                    DTYPE  SHAPE         SIZE\n",
		"conv.weight             F32    [3, 2, 3, 3]  216 B\n",
		"bn.num_batches_tracked  I64    []            8 B\n",
		"F32    6        276 B\n",
		"total  7        284 B\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestInspectQuotesHostileNames(t *testing.T) {
	header := `{"\u001b[2Jevil":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`
	b := append([]byte{byte(len(header)), 0, 0, 0, 0, 0, 0, 0}, header...)
	path := filepath.Join(t.TempDir(), "x.safetensors")
	os.WriteFile(path, append(b, 7), 0o644)
	_, out, _ := runCLI(t, "inspect", path)
	if strings.Contains(out, "\x1b") || !strings.Contains(out, `"\x1b[2Jevil"`) {
		t.Errorf("escape sequence not quoted:\n%q", out)
	}
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	pt := filepath.Join(dir, "model.safetensors")
	b, _ := os.ReadFile("../../formats/torch/testdata/plain.pt")
	os.WriteFile(pt, b, 0o644)
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"inspect"}, exitUsage, "qscript inspect: no FILE given\nUsage: qscript inspect FILE [--json]\n"},
		{[]string{"inspect", "--yaml", "x"}, exitUsage, "qscript inspect: unknown flag --yaml\nUsage: qscript inspect FILE [--json]\n"},
		{[]string{"inspect", "a", "b"}, exitUsage, "qscript inspect: one FILE expected, got \"a\" and \"b\"\nUsage: qscript inspect FILE [--json]\n"},
		{[]string{"inspect", filepath.Join(dir, "missing.npy")}, exitRecipeError,
			"qscript inspect: open " + filepath.Join(dir, "missing.npy") + ": no such file or directory\n"},
		{[]string{"inspect", pt}, exitRecipeError, "qscript inspect: " + pt + " looks like a zip archive (PyTorch .pt?), not safetensors\n"},
		{[]string{"inspect", "../../formats/safetensors/testdata/shape-dtype-mismatch.safetensors"}, exitRecipeError,
			`qscript inspect: ../../formats/safetensors/testdata/shape-dtype-mismatch.safetensors: tensor "a": safetensors: byte length does not match shape and dtype: F32 [2 3] needs 24 bytes, data_offsets [0, 20] hold 20` + "\n"},
	} {
		code, out, errOut := runCLI(t, c.args...)
		if code != c.code || errOut != c.err || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr\n got %q\nwant %q", c.args, code, out, errOut, c.err)
		}
	}
}

// TestInspectONNXGraph: an ONNX model's inspect adds its graph (inputs with symbolic dims,
// opsets, op counts, what graph/ cannot run) to the text and, under "graph", to the JSON.
func TestInspectONNXGraph(t *testing.T) {
	code, out, errOut := runCLI(t, "inspect", "../../examples/models/digits_cnn.onnx")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"input   input   FLOAT  [N, 1, 8, 8]", "opsets  ai.onnx 13", "ops     11 nodes: Relu 4, Conv 3, Gemm 2", "graph/ runs every node"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	_, out, _ = runCLI(t, "inspect", "--json", "../../examples/models/digits_cnn.onnx")
	var s struct {
		Graph struct {
			Inputs []struct {
				Name string   `json:"name"`
				Dims []string `json:"dims"`
			} `json:"inputs"`
			Nodes int `json:"nodes"`
		} `json:"graph"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.Graph.Nodes != 11 || s.Graph.Inputs[0].Dims[0] != "N" {
		t.Fatalf("JSON graph %+v (%v)\n%s", s.Graph, err, out)
	}
}

// TestInspectFolder: a Hugging Face folder is inspected through its weights, with its
// config's architectures and, for a folder llm.lua wrote, the quantization_config; a folder
// without config.json is refused with a hint.
func TestInspectFolder(t *testing.T) {
	root := t.TempDir()
	in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
	llamaFolder(t, in)
	code, stdout, stderr := runCLI(t, "inspect", in)
	if code != exitOK || stderr != "" || !strings.Contains(stdout, "(Hugging Face folder, model.safetensors, 18 tensors") ||
		!strings.Contains(stdout, `config.architectures  ["LlamaForCausalLM"]`) || strings.Contains(stdout, "Quantization config") {
		t.Fatalf("input folder: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, "-q", "recipes/llm.lua", "model="+in, "out="+out, "scheme=W8A16"); code != exitOK {
		t.Fatalf("llm.lua: exit %d, %s", code, stderr)
	}
	code, stdout, stderr = runCLI(t, "inspect", "--json", out)
	var s formats.Summary
	if code != exitOK || json.Unmarshal([]byte(stdout), &s) != nil {
		t.Fatalf("output folder: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	var qc struct {
		QuantMethod string `json:"quant_method"`
	}
	if err := json.Unmarshal(s.QuantizationConfig, &qc); err != nil || qc.QuantMethod != "compressed-tensors" {
		t.Errorf("quantization_config %s (%v)", s.QuantizationConfig, err)
	}
	code, _, stderr = runCLI(t, "inspect", root)
	if code != exitRecipeError || !strings.Contains(stderr, "is a folder without config.json, not a Hugging Face model folder") {
		t.Errorf("plain folder: exit %d, %s", code, stderr)
	}
}
