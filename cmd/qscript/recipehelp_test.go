package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/host"
)

// TestHelpRecipe: `qscript help RECIPE` prints every built-in recipe's header comment.
func TestHelpRecipe(t *testing.T) {
	for _, b := range host.Builtins() {
		code, out, stderr := runCLI(t, "help", b.Name)
		if code != exitOK || !strings.HasPrefix(out, b.Summary) || !strings.Contains(out, "qscript recipes/"+b.Name+".lua") {
			t.Errorf("help %s: exit %d, stdout %q, stderr %q", b.Name, code, out, stderr)
		}
	}
	code, out, _ := runCLI(t, "help", "recipes/llm.lua")
	if code != exitOK || !strings.Contains(out, "override=") || !strings.Contains(out, "max_shard_size=") {
		t.Errorf("help recipes/llm.lua: %d %q", code, out)
	}
	if code, _, _ := runCLI(t, "help", "nosuchthing"); code != exitUsage {
		t.Errorf("help nosuchthing: exit %d", code)
	}
}

// TestRecipeutilStem: default output names keep a folder's dots ("Llama-3.2-1B") and
// ignore a trailing slash; only a model file's extension is dropped.
func TestRecipeutilStem(t *testing.T) {
	dir := t.TempDir()
	recipe := filepath.Join(dir, "stem.lua")
	src := `local util = require "recipeutil"
for path, want in pairs({
  ["examples/models/digits_cnn.pt"] = "digits_cnn",
  ["m/model.safetensors.index.json"] = "model",
  ["M.ONNX"] = "M",
  ["models/Llama-3.2-1B"] = "Llama-3.2-1B",
  ["models/Llama-3.2-1B/"] = "Llama-3.2-1B",
  ["qwen2.5-0.5b.F16.gguf"] = "qwen2.5-0.5b.F16",
}) do
  assert(util.stem(path) == want, path .. " -> " .. util.stem(path))
end
`
	if err := os.WriteFile(recipe, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCLI(t, "-q", recipe); code != exitOK {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}
