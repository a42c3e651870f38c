package layering

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/qscript-dev/qscript"

// layers lists the module's packages from the bottom up, as docs/design.md's table does. A
// package matches the longest prefix listed; a prefix ending in "/" covers the packages below
// it. A package may import its own layer and the ones below, never one above.
var layers = [][]string{
	{"internal/"},                           // helpers with no project imports
	{"tensor"},                              // values
	{"quant", "quant/"},                     // math
	{"formats", "formats/", "host/modules"}, // files; the module seam imports nothing of ours
	{"graph", "graph/"},                     // execution
	{"data", "calib", "report", "layer", "quantize", "static", "formats/onnx/qdq", "llm", "onnxquant", "convert/"}, // work
	{"bindings", "scripts"}, // Lua
	{"host"},                // host
	{"cmd/", "examples/", "bench/", "interop/"}, // programs
}

// exceptions are imports that go upward on purpose, each with its reason.
var exceptions = map[string]string{}

func TestImportsPointDown(t *testing.T) {
	for _, v := range violations(packageImports(t, moduleRoot(t))) {
		t.Error(v)
	}
}

// TestViolationsFound proves the check can fail: an upward import and an unplaced package.
func TestViolationsFound(t *testing.T) {
	got := violations(map[string][]string{
		"tensor":  {"quant"},
		"quant":   {"tensor"},
		"mystery": nil,
	})
	want := []string{
		"package mystery is in no layer: add it to the table in internal/layering and to docs/design.md",
		"tensor (layer 1) imports quant (layer 2): imports must point down",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEveryPackageDocumented: each package says what it is for in a package comment
// (doc.go by convention), which `go doc` and `go list -f {{.Doc}}` show.
func TestEveryPackageDocumented(t *testing.T) {
	root := moduleRoot(t)
	for pkg := range packageImports(t, root) {
		if !hasPackageDoc(t, filepath.Join(root, pkg)) {
			t.Errorf("package %s has no package comment: add a doc.go saying what it is for", pkg)
		}
	}
}

// hasPackageDoc reports whether a non-test Go file in dir has a package comment.
func hasPackageDoc(t *testing.T, dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			return true
		}
	}
	return false
}

// violations lists, in package order, each package in no layer and each upward import.
func violations(imports map[string][]string) []string {
	var pkgs, out []string
	for p := range imports {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		from, ok := layerOf(pkg)
		if !ok {
			out = append(out, "package "+pkg+" is in no layer: add it to the table in internal/layering and to docs/design.md")
			continue
		}
		for _, imp := range imports[pkg] {
			to, ok := layerOf(imp)
			if !ok || to <= from {
				continue
			}
			if _, ok := exceptions[pkg+" -> "+imp]; ok {
				continue
			}
			out = append(out, fmt.Sprintf("%s (layer %d) imports %s (layer %d): imports must point down", pkg, from, imp, to))
		}
	}
	return out
}

// layerOf returns the index of the layer whose longest matching prefix names pkg.
func layerOf(pkg string) (int, bool) {
	best, bestLen := -1, -1
	for i, layer := range layers {
		for _, p := range layer {
			match := pkg == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(pkg, p))
			if match && len(p) > bestLen {
				best, bestLen = i, len(p)
			}
		}
	}
	return best, best >= 0
}

// packageImports maps each package (relative to the module) to the module packages its
// non-test files import.
func packageImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
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
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		for _, spec := range f.Imports {
			p, _ := strconv.Unquote(spec.Path.Value)
			if strings.HasPrefix(p, module+"/") {
				out[pkg] = append(out[pkg], strings.TrimPrefix(p, module+"/"))
			}
		}
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
