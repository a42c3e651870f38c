package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/host"
)

// TestUsageErrorIsMarked: qs.usage_error makes a usage error (Error.Usage, for the CLI's
// exit code 2) with error's positions, caught by pcall as a value whose tostring is the
// message and raised again intact; error() and other failures are not usage errors.
func TestUsageErrorIsMarked(t *testing.T) {
	h, _, _ := newHost(t, t.TempDir(), host.Options{})
	cases := []struct {
		name, src, want string
		usage           bool
	}{
		{"level1", "local qs = require 'qs'\nqs.usage_error('bad argument x')", "level1.lua:2: bad argument x", true},
		{"level2", "local qs = require 'qs'\nlocal function check() qs.usage_error('bad y', 2) end\n\ncheck()", "level2.lua:4: bad y", true},
		{"level0", "local qs = require 'qs'\n\nqs.usage_error('bad z', 0)", "level0.lua:3: bad z", true},
		{"rethrown", "local qs = require 'qs'\nlocal ok, e = pcall(qs.usage_error, 'w', 0)\nassert(not ok and tostring(e) == 'w' and type(e) == 'userdata')\nerror(e)", "rethrown.lua:4: w", true},
		{"util", "require('recipeutil').check_args({nmae = 1}, {'name'})", "util.lua:1: unknown argument 'nmae' (did you mean 'name'?); this recipe takes: name", true},
		{"plain", "error('not usage')", "plain.lua:1: not usage", false},
		{"string", "local qs = require 'qs'\nqs.usage_error({})", "bad argument #1 to 'usage_error' (string expected, got table)", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.RunString(context.Background(), c.name+".lua", c.src, nil)
			var e *host.Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if e.Usage != c.usage || e.Internal {
				t.Errorf("Usage = %v, Internal = %v; want Usage %v", e.Usage, e.Internal, c.usage)
			}
		})
	}
}
