package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/qscript-dev/qscript/host"
	"github.com/qscript-dev/qscript/internal/paths"
	"github.com/qscript-dev/qscript/internal/suggest"
)

const recipesHelp = `Usage: qscript recipes

Lists the recipes built into qscript, with the first line of each one's leading comment.
Run one with "qscript recipes/NAME.lua [key=value ...]", copy one for editing with
"qscript new NAME".
`

func runRecipes(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprint(stderr, recipesHelp)
		return exitUsage
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, b := range host.Builtins() {
		fmt.Fprintf(tw, "%s\t%s\n", b.Path, b.Summary)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "qscript recipes: %v\n", err)
		return exitRecipeError
	}
	return exitOK
}

const newHelp = `Usage: qscript new NAME

Copies the built-in recipe NAME to ./recipes/NAME.lua, so you can edit it; a file already
there is never overwritten. "qscript recipes/NAME.lua" then runs your copy.
`

// runNew is `qscript new NAME`.
func runNew(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, newHelp)
		return exitUsage
	}
	name := strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(args[0]), "recipes/"), ".lua")
	src, err := host.BuiltinSource(name)
	if err != nil || strings.ContainsAny(name, "/.") {
		var names []string
		for _, b := range host.Builtins() {
			names = append(names, b.Name)
		}
		hint := ""
		if near, ok := suggest.Near(name, names); ok {
			hint = fmt.Sprintf(" (did you mean %q?)", near)
		}
		fmt.Fprintf(stderr, "qscript new: there is no built-in recipe %q%s; \"qscript recipes\" lists them\n", args[0], hint)
		return exitUsage
	}
	dest := filepath.Join("recipes", name+".lua")
	if err := createNew(dest, src); err != nil {
		if errors.Is(err, os.ErrExist) {
			fmt.Fprintf(stderr, "qscript new: %s already exists; not overwriting it\n", dest)
		} else {
			fmt.Fprintf(stderr, "qscript new: %v\n", err)
		}
		return exitRecipeError
	}
	fmt.Fprintf(stdout, "created %s; run it with: qscript %s\n", dest, filepath.ToSlash(dest))
	return exitOK
}

// createNew writes data to path atomically and only if path does not exist yet: the data goes
// to a synced temporary file that is then hard-linked to path, which fails if path exists.
func createNew(path string, data []byte) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	paths.CleanStale(filepath.Dir(path))
	tmp, err := os.CreateTemp(filepath.Dir(path), paths.TempPattern(filepath.Base(path)))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}

// recipeHelp is `qscript help RECIPE` for a built-in recipe ("llm", "recipes/llm.lua"):
// its leading comment block, which documents its arguments.
func recipeHelp(arg string) (string, bool) {
	name := strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(arg), "recipes/"), ".lua")
	if strings.ContainsAny(name, "/.") {
		return "", false
	}
	src, err := host.BuiltinSource(name)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	for _, line := range strings.Split(string(src), "\n") {
		text, ok := strings.CutPrefix(line, "--")
		if !ok {
			break
		}
		b.WriteString(strings.TrimPrefix(text, " ") + "\n")
	}
	fmt.Fprintf(&b, "\nRun it with: qscript recipes/%s.lua [key=value ...]; copy it with: qscript new %s\n", name, name)
	return b.String(), true
}
