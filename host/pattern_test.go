package host_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/host"
)

// TestPatternsMatchLua51 runs scripts/fixtures/lua_patterns.lua (find, match, gmatch and
// gsub on 16280 cases: fixed subjects and patterns, generated ones, malformed ones) and
// compares every line with what the real Lua 5.1 interpreter printed for it.
func TestPatternsMatchLua51(t *testing.T) {
	src, err := os.ReadFile("../scripts/fixtures/lua_patterns.lua")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/lua51_patterns.txt.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	h, err := host.New(host.Options{Dir: t.TempDir(), Stdout: &stdout, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.RunString(context.Background(), "lua_patterns.lua", string(src), nil); err != nil {
		t.Fatal(err)
	}
	got, exp := strings.Split(stdout.String(), "\n"), strings.Split(string(want), "\n")
	if len(got) != len(exp) {
		t.Errorf("%d lines, Lua 5.1 printed %d", len(got), len(exp))
	}
	bad := 0
	for i := 0; i < min(len(got), len(exp)); i++ {
		if got[i] != exp[i] {
			if bad++; bad <= 10 {
				t.Errorf("line %d:\n got %s\nwant %s", i+1, got[i], exp[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d lines differ from Lua 5.1", bad, len(exp))
	}
}
