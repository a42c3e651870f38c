package modules_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qscript-dev/qscript/host/modules"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := &modules.Env{WorkDir: root, Root: root}
	for _, p := range []string{"m.onnx", "sub/new/out.safetensors", filepath.Join(root, "x"), "sub/../y"} {
		got, err := env.Resolve(p)
		if err != nil {
			t.Errorf("Resolve(%q): %v", p, err)
			continue
		}
		if !filepath.IsAbs(got) || filepath.Dir(got) == dir {
			t.Errorf("Resolve(%q) = %q", p, got)
		}
	}
	for _, p := range []string{"../escape", "/etc/passwd", "sub/../../escape", ""} {
		if got, err := env.Resolve(p); err == nil {
			t.Errorf("Resolve(%q) = %q, want an error", p, got)
		} else if p != "" && !errors.Is(err, modules.ErrOutsideRoot) {
			t.Errorf("Resolve(%q): %v, want ErrOutsideRoot", p, err)
		}
	}
	if err := os.Symlink(dir, filepath.Join(root, "link")); err == nil {
		if got, err := env.Resolve("link/outside.txt"); !errors.Is(err, modules.ErrOutsideRoot) {
			t.Errorf("Resolve through a symlink out of root = %q, %v", got, err)
		}
	}
	unsafe := &modules.Env{WorkDir: root, Root: root, Unsafe: true}
	if got, err := unsafe.Resolve("../escape"); err != nil || got != filepath.Join(dir, "escape") {
		t.Errorf("unsafe Resolve = %q, %v", got, err)
	}
	free := &modules.Env{WorkDir: root}
	if got, err := free.Resolve("../escape"); err != nil || got != filepath.Join(dir, "escape") {
		t.Errorf("unconfined Resolve = %q, %v", got, err)
	}
}

type closer struct{ closed atomic.Int32 }

func (c *closer) Close() error { c.closed.Add(1); return nil }

func TestCacheFileReloadsWhenTheFileChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.bin")
	if err := os.WriteFile(path, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := modules.NewCache(0)
	loads := 0
	load := func() (any, error) {
		loads++
		b, err := os.ReadFile(path)
		return &struct {
			closer
			data string
		}{data: string(b)}, err
	}
	v1, err := c.File(path, "model", load)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.File(path, "model", load)
	if again != v1 || loads != 1 {
		t.Fatalf("second File call loaded again (loads=%d)", loads)
	}
	if _, err := c.File(path, "other-kind", load); err != nil || loads != 2 {
		t.Fatalf("a different kind must load separately (loads=%d)", loads)
	}
	// A new size and mtime make the entry stale.
	if err := os.WriteFile(path, []byte("v2 longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
	v2, err := c.File(path, "model", load)
	if err != nil || v2 == v1 || loads != 3 {
		t.Fatalf("changed file was not reloaded (loads=%d)", loads)
	}
	old := v1.(*struct {
		closer
		data string
	})
	if old.closed.Load() != 0 {
		t.Fatal("stale value closed before Sweep")
	}
	if err := c.Sweep(); err != nil {
		t.Fatal(err)
	}
	if old.closed.Load() != 1 {
		t.Fatal("Sweep did not close the stale value")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if v2.(*struct {
		closer
		data string
	}).closed.Load() != 1 || c.Len() != 0 {
		t.Fatal("Close did not close and drop the live values")
	}
}

func TestCacheValueLoadsOnceAndDoesNotCacheErrors(t *testing.T) {
	c := modules.NewCache(0)
	var loads atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Value("calib", func() (any, error) {
				loads.Add(1)
				time.Sleep(10 * time.Millisecond) // keep the other goroutines waiting on this load
				return 42, nil
			})
			if err != nil || v != 42 {
				t.Errorf("Value = %v, %v", v, err)
			}
		}()
	}
	wg.Wait()
	if loads.Load() != 1 {
		t.Errorf("loaded %d times, want once", loads.Load())
	}
	boom := errors.New("boom")
	if _, err := c.Value("bad", func() (any, error) { return nil, boom }); err != boom {
		t.Fatalf("err = %v", err)
	}
	v, err := c.Value("bad", func() (any, error) { return "ok", nil })
	if err != nil || v != "ok" {
		t.Errorf("error was cached: %v, %v", v, err)
	}
	_, err = c.Value("panics", func() (any, error) { panic("oops") })
	if err == nil {
		t.Error("a panicking load returned no error")
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := modules.NewCache(2)
	first := &closer{}
	c.Value("a", func() (any, error) { return first, nil })
	c.Value("b", func() (any, error) { return 2, nil })
	c.Value("a", func() (any, error) { return nil, errors.New("a must still be cached") })
	c.Value("c", func() (any, error) { return 3, nil }) // evicts b, the least recently used
	if c.Len() != 2 {
		t.Fatalf("Len = %d, want 2", c.Len())
	}
	reloaded := false
	c.Value("b", func() (any, error) { reloaded = true; return 2, nil })
	if !reloaded {
		t.Error("b was not evicted")
	}
	c.Sweep()
	if first.closed.Load() != 1 {
		t.Error("a was not evicted and closed after b came back")
	}
	key1, err := c.FileKey(os.Args[0])
	if err != nil || key1 == "" {
		t.Fatalf("FileKey: %q, %v", key1, err)
	}
}
