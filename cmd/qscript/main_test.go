package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qscript-dev/qscript/host"
)

// qscriptBin is the CLI built once for this test binary by TestMain.
var qscriptBin string

func TestMain(m *testing.M) {
	if out := os.Getenv(measureEnv); out != "" {
		os.Exit(measureChild(out, os.Args[1:])) // the test binary as a small parent: hostile_test.go
	}
	dir, err := os.MkdirTemp("", "qscript-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	qscriptBin = filepath.Join(dir, "qscript")
	gotool, err := exec.LookPath("go")
	if err != nil {
		gotool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(gotool, "build", "-o", qscriptBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building qscript:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testdata is the absolute path of this package's testdata folder.
func testdata(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type cliResult struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// qscript runs the CLI in dir and waits for it; the bound only keeps a hung process from
// hanging the test run.
func qscript(t *testing.T, dir string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qscriptBin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("qscript %v: %v", args, err)
	}
	return res
}

func noTraceback(t *testing.T, stderr string) {
	t.Helper()
	for _, noise := range []string{"stack traceback", "goroutine ", "panic:", ".go:"} {
		if strings.Contains(stderr, noise) {
			t.Errorf("stderr contains %q:\n%s", noise, stderr)
		}
	}
}

// Acceptance 2.
func TestHelloGreetsAndGetsArgs(t *testing.T) {
	r := qscript(t, t.TempDir(), "recipes/hello.lua", "name=x")
	if r.code != 0 || r.stdout != "hello, x!\n" || r.stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = qscript(t, t.TempDir(), testdata(t, "args.lua"), "name=x", "samples=150", "--quiet", "fast=true", "model=m.onnx")
	if r.code != 0 || r.stdout != "number\t151\tboolean\ttrue\tstring\tm.onnx\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = qscript(t, t.TempDir(), "run", "hello", "name=y")
	if r.code != 0 || r.stdout != "hello, y!\n" {
		t.Fatalf("qscript run hello: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// Acceptance 3.
func TestBadArgumentNamesLineAndFunction(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, testdata(t, "hello_bad.lua"), filepath.Join(dir, "recipes", "hello_bad.lua"))
	r := qscript(t, dir, "recipes/hello_bad.lua", "name=x")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", r.code, r.stderr)
	}
	want := "qscript: recipes/hello_bad.lua:5: bad argument #2 to 'rep' (number expected, got nil)\n"
	if r.stderr != want {
		t.Errorf("stderr = %q\nwant     %q", r.stderr, want)
	}
	if r.stdout != "greeting x\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	noTraceback(t, r.stderr)
}

// Acceptance 4.
func TestSandbox(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "secret.lua"), `return "secret"`)
	cases := []struct{ name, src, want string }{
		{"execute", `os.execute("touch pwned")`, "execute.lua:1: os.execute is not available in the sandbox"},
		{"popen", `local p = io.popen("id")`, "popen.lua:1: io.popen is not available in the sandbox"},
		{"dofile", `dofile("secret.lua")`, "dofile.lua:1: dofile is not available in the sandbox"},
		{"loadfile", `local f = loadfile("secret.lua")`, "loadfile.lua:1: loadfile is not available in the sandbox"},
		{"require", `return require "../secret"`, `require.lua:1: require "../secret": a module name is a dotted name`},
		{"requireabs", `return require "/etc/passwd"`, `requireabs.lua:1: require "/etc/passwd": a module name is a dotted name`},
	}
	for _, c := range cases {
		write(t, filepath.Join(dir, "recipes", c.name+".lua"), c.src)
		r := qscript(t, dir, "recipes/"+c.name+".lua")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "qscript: recipes/"+c.want) || !strings.Contains(r.stderr, "--unsafe") {
			t.Errorf("%s: exit %d, stderr %q", c.name, r.code, r.stderr)
		}
		noTraceback(t, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Fatal("os.execute ran in the sandbox")
	}
	r := qscript(t, dir, "--unsafe", "recipes/execute.lua")
	if r.code != 0 {
		t.Fatalf("--unsafe: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err != nil {
		t.Fatal("--unsafe did not let os.execute run:", err)
	}
}

// Acceptance 5, first half.
func TestTimeoutStopsEndlessLoop(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "loop.lua"), "local n = 0\nwhile true do n = n + 1 end\n")
	r := qscript(t, dir, "loop.lua", "--timeout", "1s")
	t.Logf("--timeout 1s ended the run after %v", r.elapsed)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", r.code, r.stderr)
	}
	if want := "qscript: loop.lua:2: stopped: time limit exceeded (--timeout 1s)\n"; r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
	if r.elapsed >= 2*time.Second {
		t.Errorf("took %v, want under 2s", r.elapsed)
	}
}

// Acceptance 5, second half.
func TestInterruptExits130(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spin.lua"), "print('started')\nwhile true do end\n")
	p := start(t, dir, "spin.lua")
	p.waitFor(t, "started")
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code := p.wait(t)
	if code != 130 {
		t.Fatalf("exit %d, want 130; output:\n%s", code, p.output())
	}
	if !strings.Contains(p.output(), "spin.lua:2: stopped: interrupted") {
		t.Errorf("output = %q", p.output())
	}
}

// Acceptance 6: watch mode end to end, saving files the way editors do.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	recipe := filepath.Join(dir, "recipes", "w.lua")
	module := filepath.Join(dir, "recipes", "lib", "shared.lua")
	write(t, module, `return { suffix = "from module v1" }`)
	write(t, recipe, `print("recipe v1", require("lib.shared").suffix)`)

	p := start(t, dir, "watch", "recipes/w.lua")
	p.waitFor(t, "── run 1 ·")
	p.waitFor(t, "recipe v1\tfrom module v1")
	p.waitFor(t, "ok in")

	saved := time.Now()
	saveByRename(t, recipe, `print("recipe v2", require("lib.shared").suffix)`)
	p.waitFor(t, "── run 2 · ")
	p.waitFor(t, "recipe v2\tfrom module v1")
	if d := time.Since(saved); d >= time.Second {
		t.Errorf("rerun took %v after the save, want under 1s", d)
	} else {
		t.Logf("rerun output %v after the save", d)
	}
	p.waitFor(t, "ok in")

	saveByRename(t, recipe, "print(\"recipe v3\")\nlocal x = = 1\n")
	p.waitFor(t, "qscript: recipes/w.lua:2: syntax error near '='")
	p.waitFor(t, "watching for the fix")

	saveByRename(t, recipe, `print("recipe v4", require("lib.shared").suffix)`)
	p.waitFor(t, "recipe v4\tfrom module v1")
	p.waitFor(t, "ok in")

	saveByRename(t, module, `return { suffix = "from module v2" }`)
	p.waitFor(t, "saved recipes/lib/shared.lua ──")
	p.waitFor(t, "recipe v4\tfrom module v2")
	p.waitFor(t, "ok in")

	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 130 {
		t.Errorf("watch exit %d after Ctrl-C, want 130", code)
	}
	if strings.Contains(p.output(), "recipe v3") {
		t.Error("the version that did not compile ran")
	}
	noTraceback(t, p.output())
}

// Acceptance 8.
func TestNewNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	r := qscript(t, dir, "new", "hello")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	got, err := os.ReadFile(filepath.Join(dir, "recipes", "hello.lua"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := host.BuiltinSource("hello")
	if !bytes.Equal(got, want) {
		t.Error("recipes/hello.lua differs from the built-in")
	}
	write(t, filepath.Join(dir, "recipes", "hello.lua"), "print('my edit')\n")
	r = qscript(t, dir, "new", "hello")
	if r.code != 1 || !strings.Contains(r.stderr, "recipes/hello.lua already exists; not overwriting it") {
		t.Fatalf("second new: exit %d, stderr %q", r.code, r.stderr)
	}
	r = qscript(t, dir, "recipes/hello.lua")
	if r.stdout != "my edit\n" {
		t.Errorf("the local copy should win over the built-in; stdout %q", r.stdout)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "recipes"))
	if len(entries) != 1 {
		t.Errorf("recipes/ holds %d entries, want only hello.lua (no temp files left)", len(entries))
	}
	if r := qscript(t, dir, "new", "no_such_recipe"); r.code != 2 {
		t.Errorf("new of an unknown recipe: exit %d", r.code)
	}
}

func TestUsageHelpAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	cnn, err := filepath.Abs("../../examples/models/digits_cnn.pt")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{nil, 2, "", "Usage:"},
		{[]string{"--help"}, 0, "Commands:", ""},
		{[]string{"help"}, 0, "inspect", ""},
		{[]string{"help", "watch"}, 0, "Usage: qscript watch", ""},
		{[]string{"help", "nope"}, 2, "", `unknown command or built-in recipe "nope"`},
		{[]string{"help", "gguff"}, 2, "", `(did you mean "gguf"?)`},
		{[]string{"recipes/llm.lua", "--help"}, 0, "scheme=", ""},
		{[]string{"watch", "-q", "int8_static", "-h"}, 0, "calib=", ""},
		{[]string{"run"}, 2, "", "missing the recipe"},
		{[]string{"run", "--bogus", "x.lua"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"hello", "notkeyvalue"}, 2, "", `argument "notkeyvalue" is not key=value`},
		{[]string{"missing.lua"}, 2, "", "recipe not found"},
		{[]string{"recipes/helo.lua"}, 2, "", "did you mean recipes/hello.lua?"},
		{[]string{"inpsect", "m.pt"}, 2, "", `unknown command "inpsect" (did you mean "inspect"?)`},
		{[]string{"recipe"}, 2, "", `unknown command "recipe" (did you mean "recipes"?)`},
		{[]string{"m.safetensors"}, 2, "", `m.safetensors is a model or data file, not a Lua recipe: look inside it with "qscript inspect m.safetensors"`},
		{[]string{"new", "helo"}, 2, "", `there is no built-in recipe "helo" (did you mean "hello"?)`},
		{[]string{"watch", "missing.lua"}, 2, "", "recipe not found"},
		{[]string{"watch", "hello"}, 1, "", "qscript new hello"},
		{[]string{"recipes"}, 0, "Prints a greeting: the smallest recipe", ""},
		{[]string{"version"}, 0, "qscript 0.1.0-dev", ""},
		{[]string{"inspect"}, 2, "", "qscript inspect"},
		{[]string{"--timeout", "-1s", "hello"}, 2, "", "must not be negative"},
		{[]string{"--timeout", "abc", "hello"}, 2, "", `invalid value "abc" for flag -timeout: not a duration such as 30s, 5m or 1h30m`},
		// A recipe's wrong key=value argument is a usage error too (qs.usage_error).
		{[]string{"hello", "nmae=Ada"}, 2, "", "builtin:recipes/hello.lua:4: unknown argument 'nmae' (did you mean 'name'?)"},
		{[]string{"hello", "times=-1"}, 2, "", "builtin:recipes/hello.lua:9: times must be a positive number, got -1"},
		{[]string{"int8_dynamic", "model=" + cnn, "per_channel=3"}, 2, "", "argument per_channel: true or false expected, got 3"},
		{[]string{"int8_dynamic", "report=r.txt"}, 2, "", "argument report=r.txt: the report is written as .html or .json"},
		{[]string{"int4_weight_only", "model=" + cnn, "group_size=0"}, 2, "", "argument group_size: a positive integer or -1 expected, got 0"},
		{[]string{"int8_dynamic", "model=" + cnn, "method=gptq"}, 2, "", "argument method applies to .onnx outputs"},
		{[]string{"llm", "model=m"}, 2, "", "model=DIR and out=DIR are required (qscript help llm)"},
		{[]string{"gguf"}, 2, "", "model= is required"},
		// A file that cannot be read is the recipe's error, not a usage error.
		{[]string{"int8_dynamic", "model=missing.pt"}, 1, "", "argument model=missing.pt: no such file"},
	}
	for _, name := range []string{"run", "watch", "inspect", "recipes", "new", "version", "help"} {
		cases = append(cases, struct {
			args           []string
			code           int
			stdout, stderr string
		}{[]string{name, "--help"}, 0, "Usage: qscript", ""}, struct {
			args           []string
			code           int
			stdout, stderr string
		}{[]string{name, "-h"}, 0, "Usage: qscript", ""})
	}
	for _, c := range cases {
		r := qscript(t, dir, c.args...)
		if r.code != c.code || !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
			t.Errorf("qscript %v: exit %d (want %d)\nstdout %q\nstderr %q", c.args, r.code, c.code, r.stdout, r.stderr)
		}
	}
}

// process is a running qscript whose stdout and stderr lines are collected as they come.
type process struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	seen  int // lines already matched by waitFor
	more  chan struct{}
	done  chan error
}

func start(t *testing.T, dir string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(qscriptBin, args...)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, more: make(chan struct{}, 1), done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var readers sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				p.mu.Lock()
				p.lines = append(p.lines, sc.Text())
				p.mu.Unlock()
				select {
				case p.more <- struct{}{}:
				default:
				}
			}
		}()
	}
	go func() {
		readers.Wait()
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return p
}

// waitFor waits for a line containing text after the lines matched so far; the bound only
// keeps a broken CLI from hanging the test.
func (p *process) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		p.mu.Lock()
		for i := p.seen; i < len(p.lines); i++ {
			if strings.Contains(p.lines[i], text) {
				p.seen = i + 1
				p.mu.Unlock()
				return
			}
		}
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-deadline:
			t.Fatalf("no line with %q; output so far:\n%s", text, p.output())
		}
	}
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("qscript did not exit; output:\n%s", p.output())
		return -1
	}
}

// saveByRename writes content the way editors save: a temporary file renamed over path.
func saveByRename(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".swp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	write(t, to, string(data))
}
