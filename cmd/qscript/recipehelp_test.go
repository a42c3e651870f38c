package main

import (
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
