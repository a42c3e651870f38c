package paths

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestConfineFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	outside := filepath.Join(dir, "outside")
	must(t, os.MkdirAll(root, 0o755), os.MkdirAll(outside, 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "secret.safetensors"), []byte("x"), 0o644))
	must(t, os.Symlink(filepath.Join(outside, "secret.safetensors"), filepath.Join(root, "shard.safetensors")))
	must(t, os.Symlink(outside, filepath.Join(root, "images")))
	for _, p := range []string{
		filepath.Join(root, "shard.safetensors"),
		filepath.Join(root, "images", "cat.png"),
		filepath.Join(root, "..", "outside", "x"),
	} {
		if err := Confine(p, root, filepath.Base(p)); !errors.Is(err, ErrOutsideRoot) {
			t.Errorf("Confine(%s) = %v, want ErrOutsideRoot", p, err)
		}
	}
	if err := Confine(filepath.Join(root, "new", "file.bin"), root, "file.bin"); err != nil {
		t.Errorf("a file to be created inside root: %v", err)
	}
}

func TestReadableRefusesFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pipe.safetensors")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skip("no mkfifo:", err)
	}
	err := Readable(p, "pipe.safetensors")
	if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "pipe.safetensors: not a regular file (a named pipe)") {
		t.Fatalf("Readable(fifo) = %v", err)
	}
}

func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.safetensors")
	folder := filepath.Join(dir, "hf")
	must(t, os.WriteFile(model, []byte("x"), 0o644), os.MkdirAll(folder, 0o755))
	must(t, os.Symlink(dir, filepath.Join(dir, "alias")))
	cases := []struct {
		out  string
		want string
	}{
		{filepath.Join(dir, "alias", "model.safetensors"), "that is an input"},
		{filepath.Join(dir, "alias", "alias", "model.safetensors"), "that is an input"},
		{filepath.Join(folder, "out.safetensors"), "inside the input folder"},
		{filepath.Join(dir, "out.safetensors"), ""},
	}
	for _, c := range cases {
		err := CheckOutput(c.out, model, folder)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckOutput(%s) = %v, want %q", c.out, err, c.want)
		}
	}
}

func TestReplaceable(t *testing.T) {
	dir := t.TempDir()
	user := filepath.Join(dir, "config.json")
	must(t, os.WriteFile(user, []byte(`{"mine": true}`), 0o644))
	notOurs := func(string) bool { return false }
	if err := Replaceable(user, notOurs); !errors.Is(err, ErrNotOurs) {
		t.Errorf("user's file: %v", err)
	}
	if err := Replaceable(user, func(string) bool { return true }); err != nil {
		t.Errorf("our file: %v", err)
	}
	if err := Replaceable(filepath.Join(dir, "new.json"), notOurs); err != nil {
		t.Errorf("missing file: %v", err)
	}
	if err := Replaceable(dir, nil); !errors.Is(err, ErrNotRegular) {
		t.Errorf("folder: %v", err)
	}
}

// TestCleanStale leaves a temporary file of a process that has exited and one of this
// process, and expects only the first to go.
func TestCleanStale(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	dead := cmd.Process.Pid
	deadName := ".model.safetensors.tmp-qs" + strconv.Itoa(dead) + "-123"
	live, err := os.CreateTemp(dir, TempPattern("model.safetensors"))
	must(t, err)
	live.Close()
	must(t, os.WriteFile(filepath.Join(dir, deadName), []byte("partial"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, ".notes.tmp-other"), nil, 0o600))
	removed := CleanStale(dir)
	if len(removed) != 1 || removed[0] != deadName {
		t.Fatalf("removed %v, want [%s]", removed, deadName)
	}
	for _, keep := range []string{live.Name(), filepath.Join(dir, ".notes.tmp-other")} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s: %v", keep, err)
		}
	}
}

func FuzzPolicy(f *testing.F) {
	dir := f.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		f.Fatal(err)
	}
	_ = os.Symlink(dir, filepath.Join(root, "up"))
	_ = os.Symlink(filepath.Join(root, "loop"), filepath.Join(root, "loop"))
	for _, s := range []string{"a", "../x", "sub/../../x", "up/root/a", "up/x", "loop/x", "./sub//a/", "/etc/passwd", ".x.tmp-qs1-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		if strings.ContainsRune(rel, 0) {
			return
		}
		p, err := Abs(rel, root)
		if err != nil {
			return
		}
		if Confine(p, root, rel) == nil {
			real, err := Resolve(p)
			if err != nil {
				t.Fatalf("confined %q but cannot resolve it: %v", rel, err)
			}
			realRoot, _ := filepath.EvalSymlinks(root)
			if !Within(realRoot, real) {
				t.Fatalf("confined %q resolves to %s, outside %s", rel, real, realRoot)
			}
		}
		_, _ = tempPID(filepath.Base(rel))
		_ = CheckOutput(p, filepath.Join(root, "sub"))
	})
}

func must(t testing.TB, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
func TestReadLimited(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadLimited(p, 10); err != nil || string(b) != "0123456789" {
		t.Errorf("at the limit: %q, %v", b, err)
	}
	if _, err := ReadLimited(p, 9); err == nil || err.Error() != p+": larger than 9 bytes" {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := ReadLimited(dir, 10); !errors.Is(err, ErrNotRegular) {
		t.Errorf("a folder: %v, want ErrNotRegular", err)
	}
}
