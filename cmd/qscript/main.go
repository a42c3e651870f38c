// Command qscript quantizes neural-network checkpoints with Lua recipes: it runs a recipe,
// runs it again on every save (watch), lists and copies the built-in recipes, and inspects
// model files. It is the only part of qscript that prints to the terminal or exits.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/qscript-dev/qscript/host"
	"github.com/qscript-dev/qscript/internal/suggest"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "0.1.0-dev"

// Exit codes (SPEC §7).
const (
	exitOK          = 0
	exitRecipeError = 1
	exitUsage       = 2
	exitInternal    = 3
	exitInterrupted = 130
)

func main() {
	ctx, stop := interruptContext()
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// interruptContext is cancelled by the first SIGINT or SIGTERM, which stops the recipe at its
// next instruction; a second signal kills the process the usual way.
func interruptContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-signals:
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(signals)
		cancel()
	}
}

// command is one subcommand of qscript.
type command struct {
	name    string
	summary string // one line, for the command list
	help    string // the full help: usage line first
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands in the order help shows them.
func commands() []command {
	return []command{
		{"run", "runs a recipe", runHelp, runRecipe},
		{"watch", "runs a recipe again on every save", watchHelp, runWatch},
		{"inspect", "prints the tensors, dtypes, shapes and metadata of a model file or folder", inspectHelp, runInspect},
		{"recipes", "lists the built-in recipes", recipesHelp, runRecipes},
		{"new", "copies a built-in recipe to ./recipes/NAME.lua for editing", newHelp, runNew},
		{"version", "prints the version", versionHelp, runVersion},
		{"help", "shows help for a command", helpHelp, runHelpCommand},
	}
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return names
}

// isCommandTypo reports whether arg, which names no command, looks like a misspelt command
// rather than a recipe: a bare word that is no file and no built-in recipe, close to a
// command's name ("inpsect", "recipe").
func isCommandTypo(arg string) bool {
	if strings.ContainsAny(arg, `./\-`) {
		return false
	}
	if _, err := os.Stat(arg); err == nil {
		return false
	}
	if _, err := host.BuiltinSource(arg); err == nil {
		return false
	}
	_, ok := suggest.Near(arg, commandNames())
	return ok
}

// cli runs qscript with args (without the program name) and returns the exit code.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainHelp())
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help":
		fmt.Fprint(stdout, mainHelp())
		return exitOK
	case "--version", "-version":
		return runVersion(ctx, nil, stdout, stderr)
	}
	cmd, ok := findCommand(args[0])
	switch {
	case ok:
		args = args[1:]
	case isCommandTypo(args[0]):
		name, _ := suggest.Near(args[0], commandNames())
		fmt.Fprintf(stderr, "qscript: unknown command %q (did you mean %q?); \"qscript help\" lists the commands\n", args[0], name)
		return exitUsage
	default:
		cmd, _ = findCommand("run") // qscript RECIPE.lua [key=value ...]
	}
	if wantsHelp(args) {
		fmt.Fprint(stdout, helpFor(cmd, args))
		return exitOK
	}
	return cmd.run(ctx, args, stdout, stderr)
}

// helpFor is the help `qscript [run|watch] RECIPE --help` shows: a built-in recipe's
// arguments when RECIPE names one (and no file of that name exists), else the command's.
func helpFor(cmd command, args []string) string {
	if cmd.name != "run" && cmd.name != "watch" {
		return cmd.help
	}
	for _, a := range args {
		if strings.HasPrefix(a, "-") || strings.Contains(a, "=") {
			continue
		}
		if _, err := os.Stat(a); err == nil {
			break
		}
		if text, ok := recipeHelp(a); ok {
			return text
		}
	}
	return cmd.help
}

// wantsHelp reports whether -h or --help appears before a "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--help", "-help":
			return true
		}
	}
	return false
}

func mainHelp() string {
	var b strings.Builder
	b.WriteString(`qscript quantizes neural-network checkpoints with small Lua recipes.

Usage:
  qscript RECIPE.lua [key=value ...]   run a recipe (same as "qscript run")
  qscript COMMAND [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Run "qscript help COMMAND" (or "qscript COMMAND --help") for details, and
"qscript help RECIPE" (such as "qscript help llm", or "qscript recipes/llm.lua --help") for
a built-in recipe's arguments.
Exit codes: 0 ok, 1 recipe error, 2 usage error, 3 internal error, 130 interrupted.
`)
	return b.String()
}

const helpHelp = `Usage: qscript help [COMMAND | RECIPE]

Shows the help of COMMAND, the arguments of the built-in recipe RECIPE (as "qscript
recipes" lists them), or the list of commands.
`

func runHelpCommand(_ context.Context, args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		fmt.Fprint(stdout, mainHelp())
		return exitOK
	case 1:
		if c, ok := findCommand(args[0]); ok {
			fmt.Fprint(stdout, c.help)
			return exitOK
		}
		if text, ok := recipeHelp(args[0]); ok {
			fmt.Fprint(stdout, text)
			return exitOK
		}
		known := commandNames()
		for _, b := range host.Builtins() {
			known = append(known, b.Name)
		}
		if name, ok := suggest.Near(args[0], known); ok {
			fmt.Fprintf(stderr, "qscript help: unknown command or built-in recipe %q (did you mean %q?)\n", args[0], name)
			return exitUsage
		}
		fmt.Fprintf(stderr, "qscript help: unknown command or built-in recipe %q\n\n%s", args[0], mainHelp())
		return exitUsage
	}
	fmt.Fprint(stderr, helpHelp)
	return exitUsage
}

const versionHelp = `Usage: qscript version

Prints qscript's version, and the Go version and platform it was built with.
`

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprint(stderr, versionHelp)
		return exitUsage
	}
	fmt.Fprintf(stdout, "qscript %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

const inspectHelp = `Usage: qscript inspect FILE [--json]

Prints the tensors of a model or data file (.safetensors, .safetensors.index.json, .pt/.pth/.bin,
.onnx, .gguf, .npy, .npz) or of a Hugging Face model folder (config.json and its weights):
names, dtypes, shapes and sizes, the metadata, and how it is quantized (a folder's
quantization_config from config.json). Only headers are read.

Flags:
  --json   print the same information as JSON
`
