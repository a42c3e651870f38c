package quantize

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/qscript-dev/qscript/layer"
	"github.com/qscript-dev/qscript/quant"
	"github.com/qscript-dev/qscript/tensor"
)

// Metadata keys Save writes into safetensors' __metadata__. User metadata may not use
// them.
const (
	MetaQuantization       = "quantization"
	MetaQuantizationConfig = "quantization_config"
	MetaFormat             = "format"
)

// Record is the "quantization" JSON record of the output's metadata.
type Record struct {
	Tool               string          `json:"tool"`    // "qscript"
	Version            string          `json:"version"` // Version
	Scheme             string          `json:"scheme"`  // WeightPlan.Scheme
	DType              string          `json:"dtype"`   // "int8", "uint4", "fp16", ...
	Granularity        string          `json:"granularity"`
	Symmetric          *bool           `json:"symmetric,omitempty"` // integer dtypes only
	Observer           string          `json:"observer"`
	Numerics           string          `json:"numerics"` // "torch" | "onnxruntime"
	Layout             string          `json:"layout"`   // "compressed" | "fake"
	CalibrationSamples int             `json:"calibration_samples"`
	Activations        *ActivationInfo `json:"activations,omitempty"` // static quantization
	LayersQuantized    []string        `json:"layers_quantized"`
	LayersSkipped      []SkippedLayer  `json:"layers_skipped"`
}

// ActivationInfo summarizes static activation quantization in the record.
type ActivationInfo struct {
	DType     string `json:"dtype"` // "uint8" or "int8" as calibrated
	Symmetric bool   `json:"symmetric"`
	Layers    int    `json:"layers"` // layers with input qparams
}

// SkippedLayer is a layer left in float, with why.
type SkippedLayer struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Record returns the quantization record Save writes for layout.
func (q *WeightPlan) Record(layout string) Record {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.record(layout)
}

func (q *WeightPlan) record(layout string) Record {
	r := Record{Tool: "qscript", Version: cmp.Or(q.opts.Version, "dev"), Scheme: q.ws.String(), DType: q.ws.dtype,
		Observer: q.ws.observer(), Numerics: q.opts.Numerics.String(), Layout: layout,
		CalibrationSamples: q.samples, LayersQuantized: []string{}, LayersSkipped: []SkippedLayer{}}
	r.Granularity = q.ws.granularityLabel(layer.Layer{})
	if q.ws.kind == kindInt {
		sym := q.ws.scheme.Symmetric
		r.Symmetric = &sym
	}
	for _, d := range q.decisions {
		if d.Selected {
			r.LayersQuantized = append(r.LayersQuantized, d.Layer.Name)
		} else {
			r.LayersSkipped = append(r.LayersSkipped, SkippedLayer{d.Layer.Name, d.Reason})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(q.inputQ)) {
		p := q.inputQ[name]
		if r.Activations == nil {
			r.Activations = &ActivationInfo{DType: qtypeName(p), Symmetric: p.Scheme.Symmetric}
		}
		r.Activations.Layers++
	}
	return r
}

// CompressedConfig is compressed-tensors' quantization_config.
type CompressedConfig struct {
	QuantMethod        string                 `json:"quant_method"` // "compressed-tensors"
	Format             string                 `json:"format"`       // int-quantized | pack-quantized | float-quantized
	QuantizationStatus string                 `json:"quantization_status"`
	Ignore             []string               `json:"ignore"`
	ConfigGroups       map[string]ConfigGroup `json:"config_groups"`
	KVCacheScheme      *json.RawMessage       `json:"kv_cache_scheme"`
}

// ConfigGroup is one config_groups entry.
type ConfigGroup struct {
	Targets          []string          `json:"targets"`
	Weights          *QuantizationArgs `json:"weights"`
	InputActivations *QuantizationArgs `json:"input_activations"`
}

// QuantizationArgs describes the quantization of weights or activations.
type QuantizationArgs struct {
	NumBits   int     `json:"num_bits"`
	Type      string  `json:"type"` // "int" | "float"
	Symmetric bool    `json:"symmetric"`
	Strategy  string  `json:"strategy"` // "tensor" | "channel" | "group" | "token"
	GroupSize *int    `json:"group_size"`
	Dynamic   bool    `json:"dynamic"`
	Observer  *string `json:"observer"` // null for dynamic activations, as compressed-tensors writes them
}

// CompressedConfig returns the compressed-tensors quantization_config of the compressed
// layout, or nil with the reason when there is none that vLLM would serve: fp16/bf16
// casts are plain float checkpoints, compressed-tensors has no fp8 e5m2, and some integer
// schemes have no vLLM kernel (see servable).
//
// 8-bit integer weights without static activations are torch's dynamic quantization:
// the config says so with dynamic per-token symmetric int8 input activations, the W8A8
// preset's, which vLLM runs as CompressedTensorsW8A8Int8 (it accepts int-quantized only
// with input activations). Nothing extra is stored: dynamic activations have no qparams.
func (q *WeightPlan) CompressedConfig() (*CompressedConfig, string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.compressedConfig()
}

func (q *WeightPlan) compressedConfig() (*CompressedConfig, string) {
	ws := q.ws
	minmax := "minmax"
	w := &QuantizationArgs{NumBits: ws.bits(), Type: "int", Strategy: "tensor", Observer: &minmax}
	format := "int-quantized"
	switch ws.kind {
	case kindCast:
		return nil, ws.dtype + " is a plain float checkpoint"
	case kindFP8:
		if ws.target != tensor.F8E4M3 {
			return nil, "compressed-tensors has no fp8 e5m2 format"
		}
		w.Type, w.Symmetric, format = "float", true, "float-quantized"
	case kindInt:
		w.Symmetric = !ws.storesZeroPoint()
		if ws.scheme.QType.Bits == 4 {
			format = "pack-quantized"
		}
	}
	switch {
	case ws.kind == kindInt && ws.groupSize > 0:
		g := ws.groupSize
		w.Strategy, w.GroupSize = "group", &g
	case ws.perChannel:
		w.Strategy = "channel"
	}
	var in *QuantizationArgs
	if names := slices.Sorted(maps.Keys(q.inputQ)); len(names) > 0 {
		in = &QuantizationArgs{NumBits: 8, Type: "int", Symmetric: !inputStoresZeroPoint(q.inputQ[names[0]]),
			Strategy: "tensor", Observer: &minmax}
	}
	if in == nil && format == "int-quantized" {
		in = &QuantizationArgs{NumBits: 8, Type: "int", Symmetric: true, Strategy: "token", Dynamic: true}
	}
	if why := servable(format, w, in); why != "" {
		return nil, why
	}
	cfg := &CompressedConfig{QuantMethod: "compressed-tensors", Format: format, QuantizationStatus: "compressed",
		Ignore: []string{}, ConfigGroups: map[string]ConfigGroup{}}
	var targets []string
	for _, d := range q.decisions {
		if t := targetOf(d.Layer.Type); d.Selected && !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
	}
	for _, d := range q.decisions {
		if !d.Selected && slices.Contains(targets, targetOf(d.Layer.Type)) {
			cfg.Ignore = append(cfg.Ignore, d.Layer.Name)
		}
	}
	g := ConfigGroup{Targets: targets, Weights: w, InputActivations: in}
	if targets == nil {
		g.Targets = []string{}
	}
	cfg.ConfigGroups["group_0"] = g
	return cfg, ""
}

// servable says why vLLM's CompressedTensorsConfig would find no scheme for an integer
// config group ("" when it finds one). It restates the conditions of
// _get_scheme_from_parts (vllm/model_executor/layers/quantization/compressed_tensors/
// compressed_tensors.py): pack-quantized weight-only int4 needs per-channel or per-group
// weights (CompressedTensorsWNA16); int-quantized int8 needs input activations, symmetric
// weights, and per-tensor or per-channel weights (CompressedTensorsW8A8Int8).
func servable(format string, w, in *QuantizationArgs) string {
	if w.Type != "int" {
		return ""
	}
	const hint = " (recipes/llm.lua writes the llm-compressor presets W8A16, W4A16, W8A8)"
	switch {
	case format == "pack-quantized" && w.Strategy == "tensor":
		return "vLLM takes packed int4 weights per channel or per group, not per tensor" + hint
	case format == "int-quantized" && !w.Symmetric:
		return "vLLM takes int8 weights (W8A8) only when they are symmetric; these have zero points" + hint
	case format == "int-quantized" && w.Strategy == "group":
		return "vLLM takes int8 weights (W8A8) per tensor or per channel, not in groups" + hint
	}
	return ""
}

// targetOf maps a layer type to the module class compressed-tensors targets: ONNX Gemm
// and MatMul are Linear layers.
func targetOf(typ string) string {
	if typ == layer.TypeGemm || typ == layer.TypeMatMul {
		return layer.TypeLinear
	}
	return typ
}

// qtypeName is the user-facing dtype name of activation qparams: "int8", "uint8".
func qtypeName(p *quant.QParams) string {
	return strings.TrimPrefix(p.Scheme.QType.Name, "q")
}

// jsonString encodes a record for the metadata.
func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("quantize: encoding %T: %w", v, err)
	}
	return string(b), nil
}
