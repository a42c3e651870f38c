package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// luaBlock matches a fenced Lua code block of a Markdown file.
var luaBlock = regexp.MustCompile("(?s)```lua\n(.*?)```")

// TestDocLuaSnippetsRun runs every ```lua block of README.md and docs/*.md as a recipe, as a
// reader would paste it, in a folder holding the bundled example files the snippets name.
// docs/lua-api.md says its examples start after `local qs = require "qs"`, so a block
// without that line gets it.
func TestDocLuaSnippetsRun(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{filepath.Join("..", "..", "README.md")}, docs...)
	dir := t.TempDir()
	for _, name := range []string{"digits_cnn.pt", "digits_cnn.onnx", "calib.npy", "test.npz"} {
		copyFile(t, filepath.Join("..", "..", "examples", "models", name), filepath.Join(dir, "examples", "models", name))
	}
	blocks := 0
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range luaBlock.FindAllSubmatchIndex(text, -1) {
			blocks++
			line := 1 + strings.Count(string(text[:m[0]]), "\n")
			src := string(text[m[2]:m[3]])
			if !strings.Contains(src, `require "qs"`) {
				src = "local qs = require \"qs\"\n" + src
			}
			name := fmt.Sprintf("%s_%d.lua", strings.TrimSuffix(filepath.Base(doc), ".md"), line)
			t.Run(name, func(t *testing.T) {
				write(t, filepath.Join(dir, name), src)
				r := qscript(t, dir, "-q", name)
				if r.code != 0 {
					t.Errorf("the snippet at %s:%d fails (exit %d):\n%s", doc, line, r.code, r.stderr)
				}
			})
		}
	}
	if blocks == 0 {
		t.Fatal("no ```lua blocks found in README.md and docs/")
	}
}

// TestREADMEHelloExample checks the CLI example the README shows for key=value arguments.
func TestREADMEHelloExample(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	example := "    $ qscript recipes/hello.lua name=Ada times=2\n    hello, Ada!\n    hello, Ada!\n"
	if !strings.Contains(string(text), example) {
		t.Fatalf("README.md no longer shows the hello example this test checks:\n%s", example)
	}
	r := qscript(t, t.TempDir(), "recipes/hello.lua", "name=Ada", "times=2")
	if r.code != 0 || r.stdout != "hello, Ada!\nhello, Ada!\n" {
		t.Errorf("qscript recipes/hello.lua name=Ada times=2: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
