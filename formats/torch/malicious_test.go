package torch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The payloads come from scripts/fixtures/torch_malicious.py. Each would create
// /tmp/qscript-pwned-CASE if anything in it ran.
func TestMaliciousPicklesAreRefused(t *testing.T) {
	cases := []struct {
		file   string
		global string // what the error must name
	}{
		{"reduce_os_system", `"os.system"`},
		{"reduce_posix_system", `"posix.system"`},
		{"builtins_eval", `"builtins.eval"`},
		{"builtins_exec", `"builtins.exec"`},
		{"stack_global", `"os.system"`},
		{"inst", `"os.system"`},
		{"obj", `"os.system"`},
		{"newobj_popen", `"subprocess.Popen"`},
		{"ext_code", "extension registry codes"},
		{"nested_in_state_dict", `"os.system"`},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			marker := "/tmp/qscript-pwned-" + c.file
			if err := os.Remove(marker); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "malicious", c.file+".pt")
			for _, open := range []func() error{
				func() error { _, err := Open(path); return err },
				func() error {
					b, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					_, err = unpickle(dataPkl(t, b), loadPersistentID)
					return err
				},
			} {
				err := open()
				if !errors.Is(err, ErrForbiddenGlobal) || !strings.Contains(err.Error(), c.global) {
					t.Errorf("got %v, want a refusal naming %s", err, c.global)
				}
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s exists after the attempt (stat: %v): the payload ran", marker, err)
			}
		})
	}
	entries, _ := os.ReadDir("testdata/malicious")
	if len(entries) != len(cases) {
		t.Errorf("testdata/malicious holds %d files, the table covers %d", len(entries), len(cases))
	}
}
