package host

import (
	"bufio"
	"bytes"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/qscript-dev/qscript/internal/suggest"
	"github.com/qscript-dev/qscript/scripts"
)

// builtinDir is the folder of the built-in recipes inside the scripts library.
const builtinDir = "recipes"

// Builtin describes a recipe embedded in the binary.
type Builtin struct {
	Name    string // "hello"
	Path    string // "recipes/hello.lua", the path that runs it
	Summary string // the first line of the recipe's leading comment
}

// Builtins lists the built-in recipes of the embedded scripts library, sorted by name.
func Builtins() []Builtin {
	return listBuiltins(scripts.FS)
}

// BuiltinSource returns the source of the built-in recipe name ("hello"), for `qscript new`.
func BuiltinSource(name string) ([]byte, error) {
	return fs.ReadFile(scripts.FS, path.Join(builtinDir, name+".lua"))
}

func listBuiltins(lib fs.FS) []Builtin {
	entries, err := fs.ReadDir(lib, builtinDir)
	if err != nil {
		return nil
	}
	var list []Builtin
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".lua")
		if !ok || e.IsDir() {
			continue
		}
		p := path.Join(builtinDir, e.Name())
		src, err := fs.ReadFile(lib, p)
		if err != nil {
			continue
		}
		list = append(list, Builtin{Name: name, Path: p, Summary: summaryLine(src)})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

// summaryLine is the text of the first non-empty comment line at the top of a recipe.
func summaryLine(src []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#!") {
			continue
		}
		text, ok := strings.CutPrefix(line, "--")
		if !ok {
			return ""
		}
		if text = strings.TrimSpace(strings.TrimLeft(text, "-[")); text != "" {
			return text
		}
	}
	return ""
}

// builtinName maps the ways a user names a built-in recipe ("recipes/hello.lua",
// "./recipes/hello.lua", "hello.lua", "hello") to its name.
func builtinName(p string) (string, bool) {
	p = strings.TrimPrefix(path.Clean(strings.ReplaceAll(p, `\`, "/")), "./")
	p = strings.TrimPrefix(p, builtinDir+"/")
	p = strings.TrimSuffix(p, ".lua")
	if p == "" || strings.ContainsAny(p, "/.") {
		return "", false
	}
	return p, true
}

// nearestBuiltin returns the path of the built-in recipe whose name name is a plausible
// misspelling of ("int8_statc" → "recipes/int8_static.lua"), or "".
func (h *Host) nearestBuiltin(name string) string {
	var names []string
	for _, b := range listBuiltins(h.library) {
		names = append(names, b.Name)
	}
	if near, ok := suggest.Near(name, names); ok {
		return path.Join(builtinDir, near+".lua")
	}
	return ""
}

// builtinChunk loads a built-in recipe from the host's library.
func (h *Host) builtinChunk(name string) (*chunk, error) {
	p := path.Join(builtinDir, name+".lua")
	src, err := fs.ReadFile(h.library, p)
	if err != nil {
		return nil, err
	}
	return &chunk{name: builtinPrefix + p, dir: builtinDir, library: true, src: src}, nil
}
