package bindings

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"

	"github.com/qscript-dev/qscript/onnxquant"
)

// onnxSaveKeys are the keys of qs.save's onnx option (weight-only ONNX outputs).
var onnxSaveKeys = []string{"keep_io_types", "bf16_compute", "op_block_list", "reduce_range", "int4_form", "accuracy_level",
	"method", "calib", "samples", "heldout", "percdamp", "act_order", "block_size"}

// checkONNXSave reads qs.save's onnx = {...} option.
func checkONNXSave(L *lua.LState, n int, opts *lua.LTable) *onnxquant.Options {
	v := optField(L, n, opts, "onnx", lua.LTTable)
	o := onnxquant.DefaultOptions()
	if v == lua.LNil {
		return &o
	}
	t := v.(*lua.LTable)
	checkKeys(L, n, t, "onnx", onnxSaveKeys)
	o.KeepIOTypes = optBool(L, n, t, "keep_io_types", o.KeepIOTypes)
	o.BF16Compute = optBool(L, n, t, "bf16_compute", o.BF16Compute)
	if bl := optField(L, n, t, "op_block_list", lua.LTTable); bl != lua.LNil {
		// Non-nil even when empty: an empty list blocks no op.
		o.OpBlockList = append([]string{}, stringListArg(L, n, bl.(*lua.LTable), "onnx.op_block_list")...)
	}
	o.ReduceRange = optBool(L, n, t, "reduce_range", o.ReduceRange)
	o.Int4Form = optChoice(L, n, t, "int4_form", o.Int4Form, onnxquant.Int4Forms)
	o.AccuracyLevel = optInt(L, n, t, "accuracy_level", o.AccuracyLevel)
	o.Method = optChoice(L, n, t, "method", o.Method, []string{onnxquant.MethodRTN, onnxquant.MethodGPTQ})
	readGPTQ(L, n, t, &o.GPTQ)
	if o.Method == onnxquant.MethodGPTQ && o.GPTQ.Calib == nil {
		L.ArgError(n, "option 'onnx': method \"gptq\" needs calib = data (the samples whose MatMul inputs build each layer's Hessian)")
	}
	return &o
}

// readGPTQ reads the GPTQ keys shared by qs.save's onnx option and qs.quantize's
// method = "gptq" into o (calib only when given).
func readGPTQ(L *lua.LState, n int, t *lua.LTable, o *onnxquant.GPTQOptions) {
	if c := t.RawGetString("calib"); c != lua.LNil {
		o.Calib, _ = dataArg(L, n, c)
	}
	o.Samples = optInt(L, n, t, "samples", o.Samples)
	o.Heldout = optInt(L, n, t, "heldout", o.Heldout)
	o.PercDamp = optNumber(L, n, t, "percdamp", o.PercDamp)
	o.ActOrder = optBool(L, n, t, "act_order", o.ActOrder)
	o.BlockSize = optInt(L, n, t, "block_size", o.BlockSize)
}

// stringListArg reads a list of strings.
func stringListArg(L *lua.LState, n int, t *lua.LTable, what string) []string {
	var out []string
	for i := 1; i <= t.Len(); i++ {
		s, ok := t.RawGetInt(i).(lua.LString)
		if !ok {
			L.ArgError(n, fmt.Sprintf("%s[%d]: string expected, got %s", what, i, t.RawGetInt(i).Type()))
		}
		out = append(out, string(s))
	}
	return out
}
