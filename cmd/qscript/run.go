package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/qscript-dev/qscript/host"
	"github.com/qscript-dev/qscript/internal/budget"
)

const runFlagsHelp = `Flags:
  --timeout DURATION   stop the recipe after DURATION (e.g. 30s, 5m); 0 means no limit
  --max-memory SIZE    refuse to use more than SIZE (e.g. 4G, 512M); default a quarter of physical
                       memory, 0 means no limit
  --unsafe             lift the sandbox: io and os in full, require from any path
  -q, --quiet          leave out progress bars and notes
`

const runHelp = `Usage: qscript [run] [flags] RECIPE.lua [key=value ...]

Runs a recipe. key=value arguments arrive in the global table arg, with numbers and
true/false converted (arg.samples == 150 for samples=150). When RECIPE.lua is not a file
but names a built-in recipe ("recipes/hello.lua", "hello"), the built-in runs; list them
with "qscript recipes".

` + runFlagsHelp + `
Example:
  qscript recipes/hello.lua name=Ada
`

const watchHelp = `Usage: qscript watch [flags] RECIPE.lua [key=value ...]

Runs a recipe, then runs it again every time it or a module it requires is saved,
cancelling a run still in progress. A file that does not compile is reported with its
file:line, and watching goes on. Stop with Ctrl-C. --timeout applies to each run.

` + runFlagsHelp

// runOptions are the parsed flags and arguments of run and watch.
type runOptions struct {
	timeout   time.Duration
	maxMemory int64 // bytes; -1 when unset (the host's default)
	unsafe    bool
	quiet     bool
	recipe    string
	args      map[string]string
}

// durationFlag is --timeout: a time.Duration whose parse error says what is expected.
type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }

func (d *durationFlag) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration such as 30s, 5m or 1h30m")
	}
	*d = durationFlag(v)
	return nil
}

// parseRunArgs parses flags anywhere among the arguments (until "--"), the recipe, and
// key=value pairs. It prints usage errors itself; ok is false after one.
func parseRunArgs(name string, args []string, stderr io.Writer) (opts runOptions, ok bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var((*durationFlag)(&opts.timeout), "timeout", "")
	maxMemory := ""
	fs.StringVar(&maxMemory, "max-memory", "", "")
	fs.BoolVar(&opts.unsafe, "unsafe", false, "")
	fs.BoolVar(&opts.quiet, "q", false, "")
	fs.BoolVar(&opts.quiet, "quiet", false, "")

	usageError := func(format string, a ...any) (runOptions, bool) {
		fmt.Fprintf(stderr, "qscript %s: %s\nRun \"qscript help %s\" for usage.\n", name, fmt.Sprintf(format, a...), name)
		return opts, false
	}
	var positional []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return usageError("%v", err)
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if opts.timeout < 0 {
		return usageError("--timeout must not be negative")
	}
	opts.maxMemory = -1
	if maxMemory != "" {
		n, err := budget.ParseSize(maxMemory)
		if err != nil {
			return usageError("--max-memory: %v", err)
		}
		opts.maxMemory = n
	}
	if len(positional) == 0 {
		return usageError("missing the recipe to run")
	}
	opts.recipe = positional[0]
	if isModelFile(opts.recipe) {
		return usageError("%s is a model or data file, not a Lua recipe: look inside it with \"qscript inspect %[1]s\", or quantize it with a recipe, such as \"qscript recipes/int8_dynamic.lua model=%[1]s\"", opts.recipe)
	}
	opts.args = map[string]string{}
	for _, kv := range positional[1:] {
		key, value, found := strings.Cut(kv, "=")
		if !found || key == "" || strings.ContainsAny(key, " \t") {
			return usageError("argument %q is not key=value", kv)
		}
		opts.args[key] = value
	}
	return opts, true
}

// modelExtensions end the names of the files qscript reads as models or data.
var modelExtensions = []string{".safetensors", ".json", ".pt", ".pth", ".bin", ".onnx", ".npy", ".npz"}

// isModelFile reports whether path names a model or data file rather than a recipe, a
// common slip when one means `qscript inspect` or a recipe's model= argument.
func isModelFile(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return slices.Contains(modelExtensions, ext)
}

func newHost(opts runOptions, stdout, stderr io.Writer) (*host.Host, error) {
	maxMemory := opts.maxMemory // the host reads 0 as its default and < 0 as none
	switch maxMemory {
	case -1:
		maxMemory = 0
	case 0:
		maxMemory = -1
	}
	if limit := maxMemory; limit >= 0 {
		if limit == 0 {
			limit = budget.Default()
		}
		// The collector works harder near the limit, so the live heap the watchdog reads
		// stays fresh; this is the CLI's process, so it may set it.
		debug.SetMemoryLimit(limit + limit/4)
	}
	return host.New(host.Options{
		MaxMemory:  maxMemory,
		Stdout:     stdout,
		Stderr:     stderr,
		Unsafe:     opts.unsafe,
		Quiet:      opts.quiet,
		Version:    version,
		RunTimeout: opts.timeout,
	})
}

// runRecipe is `qscript run` and `qscript RECIPE.lua`.
func runRecipe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, ok := parseRunArgs("run", args, stderr)
	if !ok {
		return exitUsage
	}
	h, err := newHost(opts, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "qscript: %v\n", err)
		return exitRecipeError
	}
	defer h.Close()
	_, err = h.RunFile(ctx, opts.recipe, opts.args)
	return reportRunError(ctx, err, opts, stderr)
}

// reportRunError prints a run's error, if any, and returns the exit code.
func reportRunError(ctx context.Context, err error, opts runOptions, stderr io.Writer) int {
	var e *host.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &e) && e.Internal:
		fmt.Fprintf(stderr, "qscript: %v\n(this is a bug in qscript: please report it with the recipe)\n", err)
		return exitInternal
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "qscript: %v\n", err)
		return exitInterrupted
	case errors.Is(err, host.ErrRecipeNotFound), errors.As(err, &e) && e.Usage:
		fmt.Fprintf(stderr, "qscript: %v\n", err)
		return exitUsage
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(stderr, "qscript: %v (--timeout %s)\n", err, opts.timeout)
		return exitRecipeError
	}
	fmt.Fprintf(stderr, "qscript: %v\n", err)
	return exitRecipeError
}

// runWatch is `qscript watch`.
func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, ok := parseRunArgs("watch", args, stderr)
	if !ok {
		return exitUsage
	}
	h, err := newHost(opts, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "qscript: %v\n", err)
		return exitRecipeError
	}
	defer h.Close()
	p := &watchPrinter{stdout: stdout, stderr: stderr, opts: opts}
	err = h.WatchRuns(ctx, opts.recipe, opts.args, host.WatchCallbacks{Started: p.started, Finished: p.finished})
	switch {
	case errors.Is(err, host.ErrRecipeNotFound):
		fmt.Fprintf(stderr, "qscript: %v\n", err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "qscript: %v\n", err)
		return exitRecipeError
	}
	if !opts.quiet {
		fmt.Fprintln(stderr, "qscript: stopped watching")
	}
	return exitInterrupted
}

// watchPrinter prints a separator before each run and the outcome after it.
type watchPrinter struct {
	stdout, stderr io.Writer
	opts           runOptions
	lastStarted    int
}

func (p *watchPrinter) started(r host.Result) {
	p.lastStarted = r.Run
	p.separator(r, "run")
}

func (p *watchPrinter) finished(r host.Result) {
	if r.Run != p.lastStarted { // a syntax error found before any run started
		p.separator(r, "check")
	}
	var e *host.Error
	switch {
	case r.Err == nil:
		if !p.opts.quiet {
			fmt.Fprintf(p.stdout, "ok in %s; watching for changes (Ctrl-C to stop)\n", roughDuration(r.Duration))
		}
	case errors.As(r.Err, &e) && e.Syntax:
		fmt.Fprintf(p.stderr, "qscript: %v\n(not run: the file does not compile; watching for the fix)\n", r.Err)
	case errors.Is(r.Err, context.DeadlineExceeded):
		fmt.Fprintf(p.stderr, "qscript: %v (--timeout %s); watching for changes\n", r.Err, p.opts.timeout)
	default:
		fmt.Fprintf(p.stderr, "qscript: %v\nwatching for changes\n", r.Err)
	}
}

// separator prints a line that tells runs apart: number, time, and the files saved.
func (p *watchPrinter) separator(r host.Result, what string) {
	line := fmt.Sprintf("── %s %d · %s", what, r.Run, r.Started.Format("15:04:05"))
	if len(r.Changed) > 0 {
		names := make([]string, len(r.Changed))
		for i, f := range r.Changed {
			names[i] = relativeName(f)
		}
		line += " · saved " + strings.Join(names, ", ")
	}
	if r.Run > 1 {
		fmt.Fprintln(p.stdout)
	}
	fmt.Fprintf(p.stdout, "%s ──\n", line)
}

// relativeName shows a path relative to the current folder when it is inside it.
func relativeName(p string) string {
	abs, err := filepath.Abs(".")
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(abs, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}

// roughDuration shows a run's duration to a useful precision: "0.4ms", "12ms", "1.25s".
func roughDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}
