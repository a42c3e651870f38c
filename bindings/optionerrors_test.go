package bindings_test

import (
	"context"
	"strings"
	"testing"
)

// TestOptionMessages: the errors of option values read from converted tables
// (activations = {...}, qs.calibrate's options, q:check's) and from Lua tables (the opt
// functions) name the option and the Lua types, word for word.
func TestOptionMessages(t *testing.T) {
	h := newTestHost(t, nil)
	cases := []struct{ call, want string }{
		{`qs.quantize(m, {activations = {calibrate = d, samples = "x"}})`, "option 'activations.samples': number expected, got string"},
		{`qs.quantize(m, {activations = {calibrate = d, samples = 1.5}})`, "option 'activations.samples': integer expected, got 1.5"},
		{`qs.quantize(m, {activations = {calibrate = d, dtype = "int4"}})`, `option 'activations.dtype': unknown value "int4" (did you mean "int8"?); valid values: uint8, int8`},
		{`qs.quantize(m, {activations = {calibrate = d, progress = 1}})`, "option 'activations.progress': boolean expected, got number"},
		{`qs.quantize(m, {activations = {calibrate = d, samples = {}}})`, "option 'activations.samples': a string, number or boolean expected, got map[string]interface {}"},
		{`qs.quantize(m, {activations = {calibrate = d, batch_axis = 3}})`, "option 'activations.batch_axis': a table of input name = axis expected, got number"},
		{`qs.quantize(m, {activations = {calibrate = {qs.zeros{1, 8, 8}, "x"}}})`, "option 'activations.calibrate': sample 2: tensor expected, got string"},
		{`qs.quantize(m, {activations = {samples = 3}})`, "option 'activations' needs calibrate = data"},
		{`qs.quantize(m, {layers = {"Conv", true}})`, `option "layers[2]": string expected, got boolean`},
		{`qs.quantize(m, {skip = {{}}})`, `option "skip[1]": layer name, glob or function expected, got table`},
		{`qs.quantize(m, {skip = {{1}}})`, `option "skip[1]": layer name, glob or function expected, got list`},
		{`qs.quantize(m, {layer_types = {a = d}})`, `option "layer_types": layer "a": type name expected, got *bindings.Data`},
		{`qs.config{weights = {per_channel = "yes"}}`, `option "weights.per_channel": boolean expected, got string`},
		{`qs.calibrate(m, d, {samples = {}})`, "option 'samples': number expected, got table"},
		{`qs.calibrate(m, d, {samples = d})`, "option 'samples': number expected, got userdata"},
		{`local c = {}; c[1] = c; qs.calibrate(m, d, {samples = c})`, "option 'samples': number expected, got table"},
		{`qs.calibrate(m, d, {observer = print})`, "option 'observer': string expected, got function"},
		{`qs.calibrate(m, d, {observer = "minmx"})`, `option 'observer': unknown value "minmx" (did you mean "minmax"?)`},
		{`qs.calibrate(m, d, {state = {out = 1}})`, "option 'activations.state': {out = \"output name\", into = \"input name\"} expected"},
		{`qs.data.images("examples/models", {size = "x"})`, "option 'size': number expected, got string"},
		{`qs.data.images("examples/models", {size = 2.5})`, "option 'size': integer expected, got 2.5"},
		{`qs.data.images("examples/models", {gray = qs.zeros{1}})`, "option 'gray': boolean expected, got userdata"},
		{`qs.data.images("examples/models", {layout = "NCWH"})`, `option 'layout': unknown value "NCWH" (did you mean "NCHW"?); valid values: NCHW, NHWC`},
	}
	for _, c := range cases {
		script := `local qs = require "qs"
local m = qs.load("examples/models/digits_cnn.onnx")
local d = qs.data.npy("examples/models/calib.npy")
` + c.call
		_, err := h.RunString(context.Background(), "msg.lua", script, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.call, err, c.want)
		}
	}
}
