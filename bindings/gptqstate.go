package bindings

import (
	"fmt"
	"sort"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/onnxquant"
	"github.com/qscript-dev/qscript/quantize"
)

// stateGPTQKeys are qs.quantize's options of GPTQ for a state dict through its ONNX
// export (onnxquant.GPTQStateDict); the ONNX outputs take GPTQ from qs.save's onnx option.
var stateGPTQKeys = []string{"method", "graph", "calib", "samples", "heldout", "percdamp", "act_order", "block_size"}

// stateGPTQ is qs.quantize's GPTQ request: the export's path and the options.
type stateGPTQ struct {
	graph string
	opts  onnxquant.GPTQOptions
}

// takeStateGPTQ reads the GPTQ keys of qs.quantize's options t and returns a copy of t
// without them (the rest goes to modelOptions), and nil when method is not gptq.
func takeStateGPTQ(L *lua.LState, n int, t *lua.LTable) (*lua.LTable, *stateGPTQ) {
	if t.RawGetString("method") == lua.LNil {
		return t, nil
	}
	method := optString(L, n, t, "method", onnxquant.MethodRTN)
	rest := copyTable(L, t)
	for _, k := range stateGPTQKeys {
		rest.RawSetString(k, lua.LNil)
	}
	switch method {
	case onnxquant.MethodRTN:
		return rest, nil
	case onnxquant.MethodGPTQ:
	default:
		L.ArgError(n, fmt.Sprintf("option 'method': %q is not a method; valid: %s, %s", method, onnxquant.MethodRTN, onnxquant.MethodGPTQ))
	}
	g := &stateGPTQ{graph: optString(L, n, t, "graph", ""), opts: onnxquant.DefaultOptions().GPTQ}
	if g.graph == "" {
		L.ArgError(n, "method \"gptq\" needs graph = \"model.onnx\" (an ONNX export of this model, whose MatMul inputs build each layer's Hessian)")
	}
	if t.RawGetString("calib") == lua.LNil {
		L.ArgError(n, "method \"gptq\" needs calib = data (the samples fed to the graph)")
	}
	readGPTQ(L, n, t, &g.opts)
	return rest, g
}

// runStateGPTQ runs GPTQ for plan (a state dict's) on the export g names, and records in
// the plan's warnings which layers kept round to nearest and why.
func runStateGPTQ(L *lua.LState, n int, m *LoadedModel, plan *quantize.WeightPlan, g *stateGPTQ) {
	if _, isONNX := m.File.Model.(*onnx.File); isONNX {
		L.ArgError(n, "method \"gptq\" of qs.quantize is for state dicts; for an ONNX model give qs.save onnx = {method = \"gptq\", calib = data}")
	}
	f := openCached(L, n, g.graph)
	src, ok := f.Model.(*onnx.File)
	if !ok {
		L.ArgError(n, fmt.Sprintf("option 'graph': %s is %s, not an ONNX model", g.graph, f.Format))
	}
	res, err := onnxquant.GPTQStateDict(ctxOf(L), plan, src, g.opts)
	if err != nil {
		raise(L, err)
	}
	names := make([]string, 0, len(res.RTN))
	for l := range res.RTN {
		names = append(names, l)
	}
	sort.Strings(names)
	for _, l := range names {
		plan.AddWarning(fmt.Sprintf("gptq: layer %s stays round to nearest: %s", l, res.RTN[l]))
	}
	for _, w := range res.Warnings {
		plan.AddWarning(w)
	}
	for _, c := range res.Layers {
		plan.AddWarning(fmt.Sprintf("gptq: layer %s on %d held-out samples: output MSE %.4g (round to nearest %.4g), SQNR %.2f dB (%.2f dB)",
			c.Name, c.Samples, c.GPTQMSE, c.RTNMSE, c.GPTQSQNR, c.RTNSQNR))
	}
}
