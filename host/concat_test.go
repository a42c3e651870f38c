package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/host"
)

// TestConcatLikeLua: .. compiled as a checked call (concat.go) gives what gopher-lua's
// CONCAT instruction gives: numbers formatted, runs of strings joined, __concat of the
// left operand then the right one, one value in a return, and the same errors at the same
// lines.
func TestConcatLikeLua(t *testing.T) {
	h, stdout, _ := newHost(t, t.TempDir(), host.Options{})
	src := `local mt = {__concat = function(a, b) return "M(" .. type(a) .. "," .. type(b) .. ")" end}
local t = setmetatable({}, mt)
print("a" .. 1 .. 2.5 .. "b", 1 .. 2)
print(t .. "x", "x" .. t, "a" .. "b" .. t .. "c" .. "d")
local function f() return "a" .. "b" end
print(select('#', f()), f())
print(pcall(function() return "a" .. nil end))
print(pcall(function() return {} .. "a" end))
local s = ""
for i = 1, 5 do s = s .. i .. "," end
local tt = {"a" .. "b", k = ("c" .. "d"):upper()}
print(s, tt[1], tt.k, loadstring("return 'l' .. 'm'")())
local x = "e"
error("boom " .. x .. 42)`
	_, err := h.RunString(context.Background(), "c.lua", src, nil)
	want := `a12.5b	12
M(table,string)	M(string,table)	abM(table,string)
1	ab
false	c.lua:7: cannot perform concat operation between string and nil
false	c.lua:8: cannot perform concat operation between table and string
1,2,3,4,5,	ab	CD	lm
`
	if got := stdout.String(); got != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
	}
	if err == nil || err.Error() != "c.lua:14: boom e42" {
		t.Errorf("err = %v, want c.lua:14: boom e42", err)
	}
	if strings.Contains(stdout.String()+errString(err), "qscript:concat") {
		t.Error("the placeholder shows")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestConcatCheckedInFiles: an unsafe run's loadfile and dofile compile like loadstring,
// so .. is checked in the files they load too; a first line starting with # is skipped.
func TestConcatCheckedInFiles(t *testing.T) {
	dir := t.TempDir()
	h, stdout, _ := newHost(t, dir, host.Options{Unsafe: true, MaxMemory: 64 << 20})
	big := filepath.Join(dir, "big.lua")
	src := "#!/usr/bin/env qscript\nlocal s = string.rep('x', 2^24)\nreturn #(s .. s .. s .. s .. s)\n"
	if err := os.WriteFile(big, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	recipe := fmt.Sprintf("print(type(loadfile(%[1]q)), loadfile(%[1]q .. 'x'))\ndofile(%[1]q)", big)
	_, err := h.RunString(context.Background(), "files.lua", recipe, nil)
	if err == nil || !strings.Contains(err.Error(), big+":3: the string built with .. needs 80 MiB") {
		t.Fatalf("err = %v", err)
	}
	if got, want := stdout.String(), "function\tnil\tcan not open file: "+big+"x\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
}
