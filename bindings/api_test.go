package bindings

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// methodSet is the methods of one userdata type, with the class name that
// scripts/qs.d.lua gives it and the receiver name that docs/lua-api.md writes calls with.
type methodSet struct {
	class, receiver string
	methods         map[string]lua.LGFunction
}

// methodSets is a function, not a variable: the method maps are filled by init functions,
// which run after package variables are initialized.
func methodSets() []methodSet {
	return []methodSet{
		{"Tensor", "t", tensorMethods},
		{"QTensor", "qt", qtensorMethods},
		{"Observer", "obs", observerMethods},
		{"Model", "m", modelMethods},
		{"Quantized", "q", quantizedMethods},
		{"Report", "r", reportMethods},
		{"Data", "d", dataMethods},
	}
}

// exportedFunctions lists the functions that `require "qs"` gives recipes, by their full
// Lua name ("qs.load", "qs.observer.minmax"), read from the module table itself.
func exportedFunctions(t *testing.T) []string {
	L := lua.NewState()
	defer L.Close()
	PreloadQS(L, nil)
	if err := L.DoString(`qs = require "qs"`); err != nil {
		t.Fatal(err)
	}
	var names []string
	var walk func(prefix string, tbl *lua.LTable)
	walk = func(prefix string, tbl *lua.LTable) {
		tbl.ForEach(func(k, v lua.LValue) {
			switch v := v.(type) {
			case *lua.LFunction:
				names = append(names, prefix+k.String())
			case *lua.LTable:
				walk(prefix+k.String()+".", v)
			}
		})
	}
	walk("qs.", L.GetGlobal("qs").(*lua.LTable))
	slices.Sort(names)
	return names
}

// TestAPIDocumented checks that every function and method the bindings give recipes is
// annotated in scripts/qs.d.lua and described in docs/lua-api.md, and that qs.d.lua
// annotates nothing the bindings do not have.
func TestAPIDocumented(t *testing.T) {
	annotations := readFile(t, "../scripts/qs.d.lua")
	reference := readFile(t, "../docs/lua-api.md")
	funcs := exportedFunctions(t)
	if !slices.Contains(funcs, "qs.load") || !slices.Contains(funcs, "qs.observer.minmax") {
		t.Fatalf("the qs table lacks qs.load or qs.observer.minmax: %v", funcs)
	}
	have := map[string]bool{}
	for _, name := range funcs {
		have["function "+name+"("] = true
		if !strings.Contains(annotations, "function "+name+"(") {
			t.Errorf("scripts/qs.d.lua does not annotate %s", name)
		}
		if !strings.Contains(reference, name+"(") && !strings.Contains(reference, name+"{") {
			t.Errorf("docs/lua-api.md does not describe %s", name)
		}
	}
	for _, set := range methodSets() {
		for _, name := range slices.Sorted(maps.Keys(set.methods)) {
			have["function "+set.class+":"+name+"("] = true
			if !strings.Contains(annotations, "function "+set.class+":"+name+"(") {
				t.Errorf("scripts/qs.d.lua does not annotate %s:%s", set.class, name)
			}
			if !strings.Contains(reference, "`"+set.receiver+":"+name+"(") {
				t.Errorf("docs/lua-api.md does not describe %s:%s (as `%s:%s(...)`)", set.class, name, set.receiver, name)
			}
		}
	}
	for _, decl := range regexp.MustCompile(`function [\w.:]+\(`).FindAllString(annotations, -1) {
		if !have[decl] {
			t.Errorf("scripts/qs.d.lua annotates %s), which the bindings do not have", strings.TrimPrefix(decl, "function "))
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPreloadWithoutEnv checks that a bare Lua state given no Env still works, with paths
// relative to the process's folder.
func TestPreloadWithoutEnv(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	PreloadQS(L, nil)
	if err := L.DoString(`local qs = require "qs"
assert(#qs.load("../examples/models/digits_cnn.pt"):layers() == 6)`); err != nil {
		t.Fatal(err)
	}
}
