package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/host"
	"github.com/qscript-dev/qscript/internal/budget"
)

// The hostile corpus (testdata/hostile): recipes and files that used to crash the process,
// hang it, or overwrite what they should not. Each recipe says in its leading comments
// what must happen:
//
//	-- exit: 1                        the exit code
//	-- stderr: TEXT                   text stderr must contain (stdout: the same for stdout)
//	-- flags: --timeout 1s            flags before the recipe
//	-- max-rss: 1536M                 the peak RSS allowed (default hostileMaxRSS)
//
// Each runs as a child process under an address-space limit (ulimit -v), with
// --max-memory 256M, and its peak RSS is checked too: whatever the recipe tries, the
// process stays small, ends promptly and says what it refused.
const (
	hostileAddressSpace = 4 << 30     // ulimit -v for the child
	hostileMaxMemory    = "256M"      // --max-memory
	hostileMaxRSS       = 384 << 20   // peak RSS allowed unless a case says otherwise (-- max-rss:)
	hostileDeadline     = time.Minute // only keeps a regression from hanging make test
)

type hostileCase struct {
	exit           int
	stderr, stdout []string
	flags          []string
	maxRSS         int64
}

func parseHostile(t *testing.T, path string) hostileCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := hostileCase{exit: -1, maxRSS: hostileMaxRSS}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "-- ")
		if !ok {
			break
		}
		key, val, _ := strings.Cut(line, ": ")
		switch key {
		case "exit":
			c.exit, _ = strconv.Atoi(val)
		case "stderr":
			c.stderr = append(c.stderr, val)
		case "stdout":
			c.stdout = append(c.stdout, val)
		case "flags":
			c.flags = strings.Fields(val)
		case "max-rss":
			n, err := budget.ParseSize(val)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			c.maxRSS = n
		}
	}
	if c.exit < 0 {
		t.Fatalf("%s: no '-- exit:' line", path)
	}
	return c
}

type cappedResult struct {
	cliResult
	maxRSS int64 // bytes
}

// qscriptCapped runs the CLI under ulimit -v and reports its peak RSS. Linux counts in a
// child's peak RSS the RSS of the process that spawned it (at the exec), so the CLI is
// spawned by a fresh, small copy of this test binary (measureChild), never by this one,
// whose RSS would hide the CLI's.
func qscriptCapped(t *testing.T, dir string, args ...string) cappedResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hostileDeadline)
	defer cancel()
	rssFile := filepath.Join(t.TempDir(), "rss")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, self, append([]string{qscriptBin}, args...)...)
	cmd.Env = append(os.Environ(), measureEnv+"="+rssFile)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	res := cappedResult{cliResult: cliResult{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("qscript %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("qscript %v did not end within %s", args, hostileDeadline)
	}
	b, err := os.ReadFile(rssFile)
	if err != nil {
		t.Fatalf("no peak RSS: %v", err)
	}
	if res.maxRSS, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil {
		t.Fatal(err)
	}
	return res
}

// measureEnv names the file where measureChild writes the peak RSS.
const measureEnv = "QSCRIPT_TEST_MEASURE_RSS"

// measureChild runs args (the CLI and its arguments) under ulimit -v, with this process's
// standard streams, writes the child's peak RSS in bytes to out, and returns its exit code.
func measureChild(out string, args []string) int {
	script := fmt.Sprintf(`ulimit -v %d && exec "$0" "$@"`, hostileAddressSpace>>10)
	cmd := exec.Command("/bin/sh", append([]string{"-c", script}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10
	}
	if err := os.WriteFile(out, []byte(strconv.FormatInt(rss, 10)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	return code
}

func TestHostileCorpus(t *testing.T) {
	dir := hostileFolder(t)
	recipes, err := filepath.Glob(filepath.Join(testdata(t, "hostile"), "*.lua"))
	if err != nil || len(recipes) == 0 {
		t.Fatalf("no hostile recipes: %v", err)
	}
	for _, recipe := range recipes {
		name := filepath.Base(recipe)
		t.Run(strings.TrimSuffix(name, ".lua"), func(t *testing.T) {
			c := parseHostile(t, recipe)
			args := append(append([]string{"--max-memory", hostileMaxMemory}, c.flags...), name)
			r := qscriptCapped(t, dir, args...)
			if r.code != c.exit {
				t.Errorf("exit %d, want %d\nstderr: %.2000s", r.code, c.exit, r.stderr)
			}
			for _, want := range c.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not contain %q:\n%.2000s", want, r.stderr)
				}
			}
			for _, want := range c.stdout {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout does not contain %q:\n%.2000s", want, r.stdout)
				}
			}
			if c.exit != 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("the error takes more than one line:\n%.2000s", r.stderr)
			}
			noTraceback(t, r.stderr)
			if r.maxRSS > c.maxRSS && !raceEnabled {
				t.Errorf("peak RSS %d MiB, over %d MiB", r.maxRSS>>20, c.maxRSS>>20)
			}
			t.Logf("exit %d in %s, peak RSS %d MiB", r.code, r.elapsed.Round(time.Millisecond), r.maxRSS>>20)
			afterHostile(t, dir, name)
		})
	}
}

// afterHostile checks what a case must leave on disk.
func afterHostile(t *testing.T, dir, recipe string) {
	switch recipe {
	case "stale-temp.lua":
		if left, _ := filepath.Glob(filepath.Join(dir, ".out.safetensors.tmp-qs*")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	case "config-in-output-folder.lua":
		if b, _ := os.ReadFile(filepath.Join(dir, "out", "config.json")); string(b) != userNotes {
			t.Errorf("the user's out/config.json was changed: %q", b)
		}
	case "report-over-user-file.lua":
		if b, _ := os.ReadFile(filepath.Join(dir, "notes.json")); string(b) != userNotes {
			t.Errorf("the user's notes.json was changed: %q", b)
		}
	}
}

// TestInternalErrorExitCode: a panic that reached the host (a bug) exits with 3, not 1.
func TestInternalErrorExitCode(t *testing.T) {
	var stderr strings.Builder
	err := &host.Error{File: "r.lua", Line: 3, Message: "internal error: assignment to entry in nil map", Internal: true}
	if code := reportRunError(context.Background(), err, runOptions{}, &stderr); code != exitInternal {
		t.Errorf("exit %d, want %d", code, exitInternal)
	}
	if want := "qscript: r.lua:3: internal error: assignment to entry in nil map\n"; !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("stderr %q", stderr.String())
	}
}

// TestHostileRecipeFIFO: a recipe that is a FIFO is refused, not waited for.
func TestHostileRecipeFIFO(t *testing.T) {
	r := qscriptCapped(t, hostileFolder(t), "pipe.lua")
	if r.code != exitRecipeError || !strings.Contains(r.stderr, "pipe.lua: not a regular file (a named pipe)") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestHostileInspect: files that `qscript inspect` must refuse promptly and briefly.
func TestHostileInspect(t *testing.T) {
	dir := hostileFolder(t)
	for _, c := range []struct{ file, want string }{
		{"pipe.safetensors", "pipe.safetensors: not a regular file (a named pipe)"},
		{"meta-fanout.pt", "a 30431-byte pickle describes more than 10336192 bytes of names and values"},
		{"big-dtype.safetensors", `unknown dtype "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"… (52428800 bytes)`},
	} {
		t.Run(c.file, func(t *testing.T) {
			r := qscriptCapped(t, dir, "inspect", c.file)
			if r.code != exitRecipeError || !strings.Contains(r.stderr, c.want) || len(r.stderr) > 1024 {
				t.Errorf("exit %d, stderr (%d bytes) %.1000q, want exit 1 and %q", r.code, len(r.stderr), r.stderr, c.want)
			}
			if r.maxRSS > hostileMaxRSS && !raceEnabled {
				t.Errorf("peak RSS %d MiB, over %d MiB", r.maxRSS>>20, hostileMaxRSS>>20)
			}
		})
	}
}

const (
	userNotes = "{\"mine\": true}\n"
	staleTemp = ".out.safetensors.tmp-qs%d-1"
)

// hostileFolder copies the corpus into a temporary folder and adds what cannot be
// committed: a FIFO, a 50 MB header, symbolic links, a temporary file of a dead process.
func hostileFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := testdata(t, "hostile")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		copyFile(t, filepath.Join(src, e.Name()), filepath.Join(dir, e.Name()))
	}
	copyFile(t, filepath.Join("..", "..", "examples", "models", "digits_cnn.safetensors"), filepath.Join(dir, "model.safetensors"))
	shards := filepath.Join("..", "..", "formats", "safetensors", "testdata", "real", "sharded")
	must(t, os.MkdirAll(filepath.Join(dir, "sharded"), 0o755))
	for _, f := range []string{"model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		copyFile(t, filepath.Join(shards, f), filepath.Join(dir, "sharded", f))
	}
	must(t, os.Symlink(".", filepath.Join(dir, "alias")))
	must(t, os.Symlink("/dev/zero", filepath.Join(dir, "zero.npy")))
	must(t, os.WriteFile(filepath.Join(dir, "notes.json"), []byte(userNotes), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "src"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "out"), 0o755))
	copyFile(t, filepath.Join("..", "..", "examples", "models", "digits_cnn.safetensors"), filepath.Join(dir, "src", "model.safetensors"))
	must(t, os.WriteFile(filepath.Join(dir, "src", "config.json"), []byte(`{"architectures": ["DigitsCNN"]}`), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "out", "config.json"), []byte(userNotes), 0o644))
	for _, fifo := range []string{"pipe.safetensors", "pipe.lua"} {
		if err := syscall.Mkfifo(filepath.Join(dir, fifo), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.WriteFile(filepath.Join(dir, "big-dtype.safetensors"), bigDTypeSafetensors(50<<20), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "broadcast.onnx"), broadcastONNX(t), 0o644))
	dead := exec.Command("true") // its pid names a process that has exited
	must(t, dead.Run())
	must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf(staleTemp, dead.Process.Pid)), []byte("partial"), 0o600))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// bigDTypeSafetensors is a safetensors file whose one tensor has a dtype of n bytes.
func bigDTypeSafetensors(n int) []byte {
	header, _ := json.Marshal(map[string]any{"w": map[string]any{"dtype": strings.Repeat("X", n), "shape": []int{1}, "data_offsets": []int{0, 4}}})
	var b bytes.Buffer
	var size [8]byte
	for i := range 8 {
		size[i] = byte(uint64(len(header)) >> (8 * i))
	}
	b.Write(size[:])
	b.Write(header)
	b.Write([]byte{0, 0, 0, 0})
	return b.Bytes()
}

// broadcastONNX is y = MatMul(x + transpose(x), x) for x of shape [1, 32768, 1]: a model of
// a few hundred bytes whose Add makes 4 GiB per sample.
func broadcastONNX(t *testing.T) []byte {
	t.Helper()
	vi := func(name string, dims ...int64) *onnxpb.ValueInfoProto {
		var d []*onnxpb.TensorShapeProto_Dimension
		for _, x := range dims {
			d = append(d, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: x}})
		}
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1), Shape: &onnxpb.TensorShapeProto{Dim: d}}}}}
	}
	node := func(name, op string, in []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: in, Output: []string{out}, Attribute: attrs}
	}
	perm := &onnxpb.AttributeProto{Name: proto.String("perm"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: []int64{0, 2, 1}}
	g := &onnxpb.GraphProto{Name: proto.String("broadcast"),
		Node: []*onnxpb.NodeProto{
			node("turn", "Transpose", []string{"x"}, "xt", perm),
			node("blowup", "Add", []string{"x", "xt"}, "s"),
			node("mix", "MatMul", []string{"s", "x"}, "y"),
		},
		Input:  []*onnxpb.ValueInfoProto{vi("x", 1, 32768, 1)},
		Output: []*onnxpb.ValueInfoProto{vi("y", 1, 32768, 1)},
	}
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}}}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
