package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/qscript-dev/qscript/host"
)

// updateOutputs rewrites the hashes of this build's kernels (goldenHashes). Only for a deliberate change of what
// qscript writes (a new format, a fixed rounding): a refactor must leave the file as it is.
//
//	go test ./cmd/qscript -run TestOutputsUnchanged -update-outputs
var updateOutputs = flag.Bool("update-outputs", false, "rewrite testdata/outputs*.sha256 (deliberate output changes only)")

// outputCase is one recipe run whose every written file, and whose printed output, is hashed.
// Paths are relative to the run's folder, so none of them depends on where the test runs.
type outputCase struct {
	name, recipe string
	args         map[string]string
}

// outputCases: every built-in recipe and example recipe that writes something, on the bundled
// models and the GGUF converter's fixture folders, in each output format and layout.
var outputCases = []outputCase{
	{"fp16-pt", "recipes/fp16.lua", map[string]string{"out": "o/m.safetensors", "report": "o/r.json"}},
	{"fp16-pt-to-pt", "recipes/fp16.lua", map[string]string{"format": "pt", "out": "o/m.pt"}},
	{"fp16-onnx", "recipes/fp16.lua", map[string]string{"model": "examples/models/digits_cnn.onnx", "out": "o/m.onnx"}},
	{"fp16-encoder", "recipes/fp16.lua", map[string]string{"model": "examples/models/encoder_block_op17.onnx", "out": "o/m.onnx", "keep_io_types": "false"}},
	{"bf16-st", "recipes/bf16.lua", map[string]string{"model": "examples/models/digits_cnn.safetensors", "out": "o/m.safetensors", "skip": "first_conv"}},
	{"bf16-pt", "recipes/bf16.lua", map[string]string{"format": "pt", "out": "o/m.pt"}},
	{"bf16-onnx", "recipes/bf16.lua", map[string]string{"model": "examples/models/encoder_block_op13.onnx", "out": "o/m.onnx"}},
	{"int8-dynamic", "recipes/int8_dynamic.lua", map[string]string{"out": "o/m.safetensors", "skip": "first_conv", "report": "o/r.html"}},
	{"int8-dynamic-fake", "recipes/int8_dynamic.lua", map[string]string{"model": "examples/models/digits_cnn.safetensors", "layout": "fake", "out": "o/m.safetensors"}},
	{"int8-dynamic-pt", "recipes/int8_dynamic.lua", map[string]string{"format": "pt", "out": "o/m.pt", "report": "o/r.json"}},
	{"int8-dynamic-onnx", "recipes/int8_dynamic.lua", map[string]string{"model": "examples/models/digits_cnn.onnx", "out": "o/m.onnx"}},
	{"int8-dynamic-encoder", "recipes/int8_dynamic.lua", map[string]string{"model": "examples/models/encoder_block_op17.onnx", "out": "o/m.onnx", "reduce_range": "true", "report": "o/r.json"}},
	{"int8-dynamic-gptq", "recipes/int8_dynamic.lua", map[string]string{"model": "examples/models/encoder_block_op17.onnx", "out": "o/m.onnx",
		"method": "gptq", "calib": "examples/models/encoder_calib.npy", "samples": "8", "heldout": "4"}},
	{"int4", "recipes/int4_weight_only.lua", map[string]string{"out": "o/m.safetensors", "report": "o/r.json"}},
	{"int4-asym-fake", "recipes/int4_weight_only.lua", map[string]string{"symmetric": "false", "group_size": "32", "layers": "Linear,Conv", "layout": "fake", "out": "o/m.safetensors"}},
	{"int4-onnx", "recipes/int4_weight_only.lua", map[string]string{"model": "examples/models/encoder_block_op17.onnx", "group_size": "32", "out": "o/m.onnx", "report": "o/r.json"}},
	{"int4-onnx-dql", "recipes/int4_weight_only.lua", map[string]string{"model": "examples/models/encoder_block_op13.onnx", "group_size": "16", "int4_form": "dequantizelinear", "symmetric": "false", "out": "o/m.onnx"}},
	{"int4-gptq", "recipes/int4_weight_only.lua", map[string]string{"model": "examples/models/encoder_block_op17.onnx", "group_size": "32", "out": "o/m.onnx",
		"method": "gptq", "calib": "examples/models/encoder_calib.npy", "samples": "8", "act_order": "true"}},
	{"int8-static", "recipes/int8_static.lua", map[string]string{"samples": "50", "out": "o/m.onnx", "report": "o/r.json"}},
	{"int8-static-minmax", "recipes/int8_static.lua", map[string]string{"samples": "30", "observer": "minmax", "per_channel": "false", "activations": "int8", "out": "o/m.onnx"}},
	{"int8-static-st", "recipes/int8_static.lua", map[string]string{"samples": "30", "out": "o/m.safetensors"}},
	{"int8-static-encoder13", "recipes/int8_static.lua", map[string]string{"model": "examples/models/encoder_block_op13.onnx", "calib": "examples/models/encoder_calib.npy", "out": "o/m.onnx", "report": "o/r.html"}},
	{"int8-static-encoder17", "recipes/int8_static.lua", map[string]string{"model": "examples/models/encoder_block_op17.onnx", "calib": "examples/models/encoder_calib.npy", "observer": "entropy", "out": "o/m.onnx"}},
	{"gguf-llama-q8", "recipes/gguf.lua", map[string]string{"model": "llama", "out": "o/m.gguf"}},
	{"gguf-llama-q4km", "recipes/gguf.lua", map[string]string{"model": "llama", "type": "Q4_K_M", "out": "o/m.gguf"}},
	{"gguf-qwen2-mix", "recipes/gguf.lua", map[string]string{"model": "qwen2", "type": "Q5_K_S", "override": `attn_v=Q8_0,ffn_down=Q6_K`, "out": "o/m.gguf"}},
	{"llm-w4a16", "recipes/llm.lua", map[string]string{"model": "llama", "out": "o/m", "group_size": "32", "report": "o/r.json"}},
	{"llm-mixed", "recipes/llm.lua", map[string]string{"model": "qwen2", "out": "o/m", "scheme": "W4A16_ASYM", "group_size": "32",
		"override": "re:.*down_proj=W8A16;re:.*[qkv]_proj=FP8_DYNAMIC;re:.*o_proj=W8A8", "max_shard_size": "40KB"}},
	{"llm-fp8", "recipes/llm.lua", map[string]string{"model": "llama", "out": "o/m", "scheme": "W8A16_FP8"}},
	{"example-custom-int8", "examples/custom_int8.lua", map[string]string{"out": "o/m.safetensors", "report": "o/r.html"}},
	{"example-tensors", "examples/tensors.lua", nil},
	{"example-sensitivity", "examples/sensitivity.lua", map[string]string{"samples": "20"}},
	{"int4-pt", "recipes/int4_weight_only.lua", map[string]string{"format": "pt", "group_size": "16", "include": "fc1", "out": "o/m.pt"}},
	{"int4-onnx-acc", "recipes/int4_weight_only.lua", map[string]string{"model": "examples/models/encoder_block_op17.onnx", "group_size": "16", "accuracy_level": "4", "out": "o/m.onnx"}},
	{"int8-static-pt", "recipes/int8_static.lua", map[string]string{"samples": "30", "observer": "percentile", "out": "o/m.pt"}},
	{"int8-static-minsqnr", "recipes/int8_static.lua", map[string]string{"samples": "40", "observer": "mse", "skip": "none", "min_sqnr": "45", "out": "o/m.onnx"}},
	{"int8-static-maxdrop", "recipes/int8_static.lua", map[string]string{"samples": "40", "observer": "moving_average", "eval": "examples/models/test.npz", "max_drop": "0.001", "out": "o/m.onnx"}},
	{"llm-ignore", "recipes/llm.lua", map[string]string{"model": "llama", "out": "o/m", "scheme": "W8A8", "ignore": "re:.*layers.0.*,model.layers.1.mlp.down_proj"}},
	{"hello", "recipes/hello.lua", map[string]string{"name": "golden", "times": "2", "shout": "true"}},
	{"api", "testdata/outputs_api.lua", nil},
}

// TestOutputsUnchanged runs outputCases and compares the sha256 of everything they write and
// print with testdata/outputs.sha256 (or outputs-purego.sha256, see goldenHashes), made from main before the issue 14 restructuring: a
// refactor that changes a single output byte fails here. What legitimately varies between
// runs is fixed rather than masked where it can be: the host's Version (written into
// metadata) is a constant, and every path given is relative to the run's folder. The one thing
// normalized after the fact is that folder itself, a temporary one, which recipes/llm.lua
// prints and writes into its report as an absolute path: it reads $DIR before hashing.
func TestOutputsUnchanged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every recipe")
	}
	work := outputsFolder(t)
	got := map[string]string{}
	for _, c := range outputCases {
		hashes, err := runOutputCase(t, work, c)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		for k, v := range hashes {
			got[c.name+"/"+k] = v
		}
	}
	for k, v := range inspectHashes(t) {
		got[k] = v
	}
	name, ok := goldenHashes()
	if !ok {
		t.Skipf("no hashes for %s's kernels: run -update-outputs on the base commit, then the test on the change", runtime.GOARCH)
	}
	golden := filepath.Join("testdata", name)
	if *updateOutputs {
		if err := os.WriteFile(golden, []byte(formatHashes(got)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	want := parseHashes(t, name, string(data))
	for _, k := range sortedKeys(want, got) {
		switch w, g := want[k], got[k]; {
		case g == "":
			t.Errorf("%s: no longer written", k)
		case w == "":
			t.Errorf("%s: new output (sha256 %s)", k, g)
		case w != g:
			t.Errorf("%s: sha256 %s, want %s", k, g, w)
		}
	}
}

// goldenHashes names the file of hashes for the kernels this build runs. The float32 kernels'
// results differ in the last bits between instruction sets (FMA rounds once where Go rounds
// twice, vector sums add in another order), and calibration and the report carry those bits
// into the outputs. amd64 with AVX2, FMA and F16C (the assembly kernels; AVX-512 gives the
// same bytes) has one file; pure Go on amd64 (-tags purego, or an older CPU) another.
func goldenHashes() (string, bool) {
	switch {
	case runtime.GOARCH != "amd64":
		return "", false
	case !puregoBuild && cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C:
		return "outputs.sha256", true
	}
	return "outputs-purego.sha256", true
}

// outputsFolder is the runs' working folder: the bundled examples, this package's testdata,
// data's test images and the GGUF converter's Hugging Face fixture folders, linked under fixed relative names
// (recipe paths end up in outputs, so they must not depend on where the checkout is).
func outputsFolder(t *testing.T) string {
	t.Helper()
	work := t.TempDir()
	for name, target := range map[string]string{
		"examples": "../../examples",
		"testdata": "testdata",
		"images":   "../../data/testdata/images",
		"llama":    "../../convert/llamagguf/testdata/llama/model",
		"qwen2":    "../../convert/llamagguf/testdata/qwen2/model",
	} {
		abs, err := filepath.Abs(target)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(work, name)); err != nil {
			t.Skip("no symlinks:", err)
		}
	}
	return work
}

// runOutputCase runs one case in its own folder under work and hashes what it wrote (under
// o/) and printed.
func runOutputCase(t *testing.T, work string, c outputCase) (map[string]string, error) {
	dir := filepath.Join(work, c.name)
	if err := os.MkdirAll(filepath.Join(dir, "o"), 0o755); err != nil {
		return nil, err
	}
	for _, link := range []string{"examples", "testdata", "images", "llama", "qwen2"} {
		if err := os.Symlink(filepath.Join(work, link), filepath.Join(dir, link)); err != nil {
			return nil, err
		}
	}
	var stdout, stderr bytes.Buffer
	h, err := host.New(host.Options{Dir: dir, Stdout: &stdout, Stderr: &stderr, Quiet: true, Version: "golden"})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if _, err := h.RunFile(context.Background(), c.recipe, c.args); err != nil {
		return nil, fmt.Errorf("%w\n%s%s", err, stdout.String(), stderr.String())
	}
	hash := func(b []byte) string {
		b = bytes.ReplaceAll(b, []byte(dir), []byte("$DIR"))
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			b = bytes.ReplaceAll(b, []byte(real), []byte("$DIR"))
		}
		return sha(b)
	}
	hashes := map[string]string{"stdout": hash(stdout.Bytes()), "stderr": hash(stderr.Bytes())}
	err = filepath.WalkDir(filepath.Join(dir, "o"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		hashes[filepath.ToSlash(rel)] = hash(data)
		return nil
	})
	return hashes, err
}

// inspectHashes hashes `qscript inspect` and `inspect --json` of each bundled model and
// fixture folder, run in this package's folder so the paths it prints are the same anywhere.
func inspectHashes(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, path := range []string{"../../examples/models/digits_cnn.safetensors", "../../examples/models/digits_cnn.pt",
		"../../examples/models/digits_cnn.onnx", "../../examples/models/encoder_block_op13.onnx",
		"../../examples/models/test.npz", "../../convert/llamagguf/testdata/qwen2/model"} {
		for form, args := range map[string][]string{"text": {"inspect", path}, "json": {"inspect", "--json", path}} {
			code, stdout, stderr := runCLI(t, args...)
			if code != exitOK {
				t.Errorf("qscript %v: exit %d: %s", args, code, stderr)
			}
			out["inspect/"+filepath.Base(path)+"/"+form] = sha([]byte(stdout + stderr))
		}
	}
	return out
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func formatHashes(m map[string]string) string {
	var b strings.Builder
	tags := ""
	if puregoBuild {
		tags = "-tags purego "
	}
	fmt.Fprintf(&b, "# sha256 of every output of cmd/qscript TestOutputsUnchanged. Regenerate only for a\n"+
		"# deliberate output change: go test %s./cmd/qscript -run TestOutputsUnchanged -update-outputs\n", tags)
	for _, k := range sortedKeys(m, nil) {
		fmt.Fprintf(&b, "%s  %s\n", m[k], k)
	}
	return b.String()
}

func parseHashes(t *testing.T, file, s string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for i, line := range strings.Split(s, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("testdata/%s:%d: want \"SHA256  NAME\", got %q", file, i+1, line)
		}
		m[name] = sum
	}
	return m
}

func sortedKeys(a, b map[string]string) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []map[string]string{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}
