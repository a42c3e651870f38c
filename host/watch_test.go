package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host"
)

// saveByRename writes content the way editors save: a temporary file, renamed over path.
func saveByRename(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitResult returns the next watch result; the bound only keeps a broken watch from
// hanging the test.
func waitResult(t *testing.T, results <-chan host.Result) host.Result {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no watch result")
		return host.Result{}
	}
}

func TestWatchRerunsCancelsAndSurvivesSyntaxErrors(t *testing.T) {
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.lua")
	module := filepath.Join(dir, "lib", "m.lua")
	write(t, module, `return { v = "m1" }`)
	write(t, recipe, `return "r1 " .. require("lib.m").v`)
	h, _, _ := newHost(t, dir, host.Options{})
	started := make(chan struct{}, 1)
	h.Register("started", func(L *lua.LState) int {
		started <- struct{}{}
		L.Push(lua.LTrue)
		return 1
	})

	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan host.Result)
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- h.Watch(ctx, "r.lua", nil, func(r host.Result) { results <- r })
	}()
	expect := func(run int, value string, changed ...string) host.Result {
		t.Helper()
		r := waitResult(t, results)
		if r.Err != nil || r.Value() != value || r.Run != run {
			t.Fatalf("run %d: got run %d value %v err %v, want %q", run, r.Run, r.Value(), r.Err, value)
		}
		if strings.Join(changed, ",") != strings.Join(r.Changed, ",") {
			t.Fatalf("run %d: changed = %v, want %v", run, r.Changed, changed)
		}
		return r
	}
	first := expect(1, "r1 m1")
	if len(first.Files) != 2 || first.Files[0] != recipe || first.Files[1] != module {
		t.Fatalf("files = %v", first.Files)
	}

	saveByRename(t, recipe, `return "r2 " .. require("lib.m").v`)
	expect(2, "r2 m1", recipe)

	saveByRename(t, module, `return { v = "m2" }`)
	expect(3, "r2 m2", module)

	saveByRename(t, recipe, `return "r3" ..`)
	r := waitResult(t, results)
	var e *host.Error
	if !errors.As(r.Err, &e) || !e.Syntax || e.File != "r.lua" || e.Line != 1 || r.Run != 4 {
		t.Fatalf("syntax error result: run %d err %v", r.Run, r.Err)
	}

	// A run that never ends is cancelled by the next save.
	saveByRename(t, recipe, `require "started"; while true do end`)
	saveByRename(t, filepath.Join(dir, "unrelated.txt"), "ignored")
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the endless run did not start")
	}
	saveByRename(t, recipe, `return "r5 " .. require("lib.m").v`)
	expect(6, "r5 m2", recipe)

	cancel()
	if err := <-watchErr; err != nil {
		t.Fatalf("Watch returned %v", err)
	}
}

func TestWatchRefusesBuiltinsAndMissingFiles(t *testing.T) {
	h, _, _ := newHost(t, t.TempDir(), host.Options{})
	err := h.Watch(context.Background(), "recipes/hello.lua", nil, func(host.Result) {})
	if err == nil || !strings.Contains(err.Error(), "qscript new hello") {
		t.Errorf("built-in: %v", err)
	}
	err = h.Watch(context.Background(), "missing.lua", nil, func(host.Result) {})
	if !errors.Is(err, host.ErrRecipeNotFound) {
		t.Errorf("missing: %v", err)
	}
}

// TestWatchCancelsStuckMatchAndSurvivesFolderRecreated: a save cancels a run stuck in a
// backtracking string.find (which used to hold the watch until it ended: seconds here,
// ages with a longer subject), and the watch
// goes on after its folder is deleted and created again.
func TestWatchCancelsStuckMatchAndSurvivesFolderRecreated(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "work")
	recipe := filepath.Join(dir, "r.lua")
	write(t, recipe, `require "started"; local s = string.rep("a", 20); return s:find(string.rep("a*", 9) .. "b")`)
	h, _, _ := newHost(t, root, host.Options{})
	started := make(chan struct{}, 4)
	h.Register("started", func(L *lua.LState) int {
		started <- struct{}{}
		return 0
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan host.Result, 4)
	watchErr := make(chan error, 1)
	go func() { watchErr <- h.Watch(ctx, recipe, nil, func(r host.Result) { results <- r }) }()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the first run did not start")
	}
	saveByRename(t, recipe, `return "fixed"`)
	if r := waitResult(t, results); r.Err != nil || r.Value() != "fixed" || r.Run != 2 {
		t.Fatalf("after the save: run %d value %v err %v", r.Run, r.Value(), r.Err)
	}

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	// The deletion is a change of the recipe: that run fails, the file being gone.
	if r := waitResult(t, results); r.Err == nil {
		t.Fatalf("run %d after the deletion: value %v, want an error", r.Run, r.Value())
	}
	write(t, recipe, `return "recreated"`)
	for {
		r := waitResult(t, results)
		if r.Err == nil && r.Value() == "recreated" {
			break
		}
	}
	cancel()
	if err := <-watchErr; err != nil {
		t.Fatalf("Watch returned %v", err)
	}
}
