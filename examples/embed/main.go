// Command embed shows how a Go program embeds the qscript host: it registers a Lua module
// of its own, runs a small gate recipe that uses it, reads the recipe's result as Go values,
// runs a CI gate that quantizes a model and fails when a layer's SQNR drops, and runs a
// built-in recipe file with arguments.
//
//	go run ./examples/embed [-model examples/models/digits_cnn.pt]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/host"
)

func main() {
	model := flag.String("model", "examples/models/digits_cnn.pt", "the checkpoint the SQNR gate quantizes")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *model); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

// gateRecipe decides whether a model may be published, from facts the Go side provides
// through the "registry" module.
const gateRecipe = `
local registry = require "registry"
local name = arg.model
local params = registry.params(name)
print(("%s has %d parameters"):format(name, params))
return { model = name, params = params, approved = params <= arg.max_params }
`

// sqnrGateRecipe quantizes a checkpoint to int8 in memory (nothing is written) and returns
// the lowest per-layer SQNR, for a CI job to compare with its threshold.
const sqnrGateRecipe = `
local qs = require "qs"
local report = qs.quantize(qs.load(arg.model), { weights = { dtype = "int8" } }):report()
local worst = { sqnr_db = 1/0 }
for _, l in ipairs(report.layers) do
  if l.quantized and l.sqnr_db < worst.sqnr_db then worst = l end
end
return { layer = worst.name, sqnr_db = worst.sqnr_db, ratio = report.totals.ratio }
`

// parameterCounts stands in for the embedding program's own data.
var parameterCounts = map[string]int{"digits_cnn": 12_810, "encoder_block": 1_183_744}

// registryLoader is a gopher-lua loader: require "registry" returns its table.
func registryLoader(L *lua.LState) int {
	L.Push(L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"params": func(L *lua.LState) int {
			name := L.CheckString(1)
			n, ok := parameterCounts[name]
			if !ok {
				L.ArgError(1, fmt.Sprintf("unknown model %q", name))
			}
			L.Push(lua.LNumber(n))
			return 1
		},
	}))
	return 1
}

func run(ctx context.Context, stdout io.Writer, model string) error {
	h, err := host.New(host.Options{Dir: ".", Stdout: stdout, RunTimeout: time.Minute})
	if err != nil {
		return err
	}
	defer h.Close()
	h.Register("registry", registryLoader)

	for _, model := range []string{"digits_cnn", "encoder_block"} {
		res, err := h.RunString(ctx, "gate.lua", gateRecipe, map[string]string{"model": model, "max_params": "1000000"})
		if err != nil {
			return err
		}
		verdict := res.Value().(map[string]any) // a Lua table arrives as map[string]any
		fmt.Fprintf(stdout, "%s approved: %v\n", verdict["model"], verdict["approved"])
	}

	// A recipe's error carries its file:line and the failing call.
	_, err = h.RunString(ctx, "gate.lua", gateRecipe, map[string]string{"model": "unknown", "max_params": "1"})
	fmt.Fprintf(stdout, "expected error: %v\n", err)

	// A CI gate: the recipe does the quantization, Go decides.
	res, err := h.RunString(ctx, "sqnr_gate.lua", sqnrGateRecipe, map[string]string{"model": model})
	if err != nil {
		return err
	}
	gate := res.Value().(map[string]any)
	const minSQNR = 30.0
	sqnr := number(gate["sqnr_db"])
	fmt.Fprintf(stdout, "int8: worst layer %s at %.2f dB SQNR, %.2fx smaller; passes the %.0f dB gate: %v\n",
		gate["layer"], sqnr, number(gate["ratio"]), minSQNR, sqnr >= minSQNR)

	// Built-in recipes run by name when no such file exists on disk.
	_, err = h.RunFile(ctx, "recipes/hello.lua", map[string]string{"name": "embedder"})
	return err
}

// number reads a Lua number that arrived in Go: integral values come as int, others as
// float64.
func number(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case float64:
		return x
	}
	return 0
}
