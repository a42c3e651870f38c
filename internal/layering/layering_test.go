package layering

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/qscript-dev/qscript"

// design is the file whose layer table this test holds the code to: one source of truth, so
// the note cannot drift from the code.
const design = "docs/design.md"

// pkg is what the test needs of one package: its module imports, whether it is a command,
// whether it has a package comment.
type pkg struct {
	imports    []string
	main       bool
	documented bool
}

func TestImportsPointDown(t *testing.T) {
	root := moduleRoot(t)
	layers, names := readLayers(t, filepath.Join(root, design))
	for _, v := range violations(packages(t, root), layers, names) {
		t.Error(v)
	}
}

// TestViolationsFound proves the check can fail: an upward import and an unplaced package.
func TestViolationsFound(t *testing.T) {
	layers, names := parseLayers("| layer | packages | job |\n| --- | --- | --- |\n" +
		"| values | `tensor` | t |\n| math | `quant`, `quant/{ggml,x}` | q |\n\nafter the table: `mystery`\n")
	got := violations(map[string]pkg{
		"tensor":     {imports: []string{"quant/ggml"}},
		"quant":      {imports: []string{"tensor"}},
		"quant/x":    {imports: []string{"tensor", "quant"}},
		"mystery":    {},
		"cmd/mytool": {imports: []string{"quant/x"}, main: true},
	}, layers, names)
	want := []string{
		"package mystery is in no layer: add it to the layer table of " + design,
		"tensor (values) imports quant/ggml (math): imports must point down",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEveryPackageDocumented: each package says what it is for in a package comment
// (doc.go by convention), which `go doc` and `go list -f {{.Doc}}` show.
func TestEveryPackageDocumented(t *testing.T) {
	for name, p := range packages(t, moduleRoot(t)) {
		if !p.documented {
			t.Errorf("package %s has no package comment: add a doc.go saying what it is for", name)
		}
	}
}

// violations lists, in package order, each package in no layer and each upward import.
// Commands (package main) stand above every layer: nothing imports them.
func violations(pkgs map[string]pkg, layers map[string]int, names []string) []string {
	layerOf := func(name string) (int, bool) {
		if pkgs[name].main {
			return len(names), true
		}
		l, ok := layers[name]
		return l, ok
	}
	var sorted, out []string
	for name := range pkgs {
		sorted = append(sorted, name)
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		from, ok := layerOf(name)
		if !ok {
			out = append(out, "package "+name+" is in no layer: add it to the layer table of "+design)
			continue
		}
		for _, imp := range pkgs[name].imports {
			if to, ok := layerOf(imp); ok && to > from {
				out = append(out, fmt.Sprintf("%s (%s) imports %s (%s): imports must point down", name, names[from], imp, names[to]))
			}
		}
	}
	return out
}

func readLayers(t *testing.T, path string) (map[string]int, []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	layers, names := parseLayers(string(data))
	if len(names) == 0 {
		t.Fatalf("%s has no table under the header | layer | packages | job |", path)
	}
	return layers, names
}

var (
	backticked = regexp.MustCompile("`([^`]+)`")
	braces     = regexp.MustCompile(`^(.*)\{([^}]*)\}(.*)$`)
)

// parseLayers reads the markdown table that starts at "| layer | packages | job |", bottom
// layer first: each row's name, and the layer of every package its second cell names in
// backticks (`formats/{npy,onnx}` names formats/npy and formats/onnx).
func parseLayers(doc string) (map[string]int, []string) {
	layers := map[string]int{}
	var names []string
	_, table, ok := strings.Cut(doc, "| layer | packages | job |\n")
	if !ok {
		return nil, nil
	}
	for _, line := range strings.Split(table, "\n")[1:] { // [1:]: the | --- | row
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 4 {
			break
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[2], -1) {
			for _, name := range expand(m[1]) {
				layers[name] = len(names)
			}
		}
		names = append(names, strings.TrimSpace(cells[1]))
	}
	return layers, names
}

// expand turns "a/{b,c}" into "a/b" and "a/c".
func expand(s string) []string {
	m := braces.FindStringSubmatch(s)
	if m == nil {
		return []string{s}
	}
	var out []string
	for _, alt := range strings.Split(m[2], ",") {
		out = append(out, m[1]+strings.TrimSpace(alt)+m[3])
	}
	return out
}

// packages maps each package of the module (a path relative to it) to its non-test files'
// module imports, whether it is a command, and whether one of them has a package comment.
func packages(t *testing.T, root string) map[string]pkg {
	t.Helper()
	out := map[string]pkg{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		name := filepath.ToSlash(rel)
		p := out[name]
		p.main = f.Name.Name == "main"
		p.documented = p.documented || f.Doc != nil
		for _, spec := range f.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			if imp, ok := strings.CutPrefix(imp, module+"/"); ok && !slices.Contains(p.imports, imp) {
				p.imports = append(p.imports, imp)
			}
		}
		out[name] = p
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's folder")
		}
		dir = parent
	}
}
