package bindings_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// luaBlock matches a fenced Lua example in Markdown.
var luaBlock = regexp.MustCompile("(?s)```lua\n(.*?)```")

// TestDocExamples runs every Lua example of the README and of docs/lua-api.md, as a reader
// who copies it into a recipe would: from a folder where examples/ is the repository's, so
// the outputs they write land in a temporary folder. The API reference's examples may leave
// out the `local qs = require "qs"` line that the page starts with.
func TestDocExamples(t *testing.T) {
	dir := t.TempDir()
	examples, err := filepath.Abs(filepath.Join(repoRoot, "examples"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(examples, filepath.Join(dir, "examples")); err != nil {
		t.Skip("no symlinks:", err)
	}
	for _, doc := range []struct {
		file      string
		requireQS bool
	}{{"README.md", false}, {"docs/lua-api.md", true}} {
		src, err := os.ReadFile(filepath.Join(repoRoot, doc.file))
		if err != nil {
			t.Fatal(err)
		}
		blocks := luaBlock.FindAllStringSubmatch(string(src), -1)
		if len(blocks) == 0 {
			t.Fatalf("%s has no Lua examples", doc.file)
		}
		for i, b := range blocks {
			code := b[1]
			if doc.requireQS && !strings.Contains(code, `require "qs"`) {
				code = `local qs = require "qs"; ` + code // same line numbers
			}
			name := fmt.Sprintf("%s-example%02d.lua", filepath.Base(doc.file), i+1)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(code), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, printed, err := runRecipe(t, dir, name, nil); err != nil {
				t.Errorf("%s, example %d:\n%s\n%v\n%s", doc.file, i+1, b[1], err, printed)
			}
		}
	}
}
