package llm

import (
	"fmt"
	"strings"

	"github.com/qscript-dev/qscript/internal/suggest"
	"github.com/qscript-dev/qscript/quant"
)

// Args is compressed-tensors' QuantizationArgs as it serializes them.
type Args struct {
	NumBits   int
	Type      string // "int" | "float"
	Symmetric bool
	GroupSize int    // > 0 with strategy "group"
	Strategy  string // "channel" | "group" | "token" | "tensor"
	Dynamic   bool
	Observer  string // "minmax" for static weights, "" (null) for dynamic activations
}

// Scheme is one QuantizationScheme: weights and, for W8A8 and FP8_DYNAMIC, dynamic
// per-token input activations (computed by the serving engine, nothing stored).
type Scheme struct {
	Name    string // preset name, upper case
	Weights Args
	Input   *Args
}

// Preset names, as llm-compressor's preset_name_to_scheme spells them. W8A16_FP8 is
// qscript's name for FP8_DYNAMIC's weights without activation quantization (vLLM's
// W8A16Fp8 scheme).
var Presets = []string{"W8A16", "W4A16", "W4A16_ASYM", "W8A8", "INT8", "FP8_DYNAMIC", "W8A16_FP8"}

// refused explains the presets of compressed-tensors that qscript does not write.
var refused = map[string]string{
	"FP8":          "its input activations are static (per-tensor scales measured on calibration data, a forward pass this command does not run); use FP8_DYNAMIC, or W8A16_FP8 for fp8 weights alone",
	"FP8_BLOCK":    "128x128 block scales are not supported yet; use FP8_DYNAMIC",
	"W4A8":         "int4 weights with int8 activations are not supported yet; use W4A16 or W8A8",
	"NVFP4":        "fp4 is not supported yet, and NVFP4's activation scales need calibration data",
	"NVFP4A16":     "fp4 is not supported yet",
	"UNQUANTIZED":  "it quantizes nothing; list the layers in ignore instead",
	"W8A8_STATIC":  "static activations need calibration data",
	"INT8_STATIC":  "static activations need calibration data",
	"W4A16_STATIC": "not a preset",
}

func intWeights(bits int, sym bool, group int) Args {
	a := Args{NumBits: bits, Type: "int", Symmetric: sym, Strategy: "channel", Observer: "minmax"}
	if group > 0 {
		a.Strategy, a.GroupSize = "group", group
	}
	return a
}

func fp8Weights() Args {
	return Args{NumBits: 8, Type: "float", Symmetric: true, Strategy: "channel", Observer: "minmax"}
}

func tokenInput(typ string) *Args {
	return &Args{NumBits: 8, Type: typ, Symmetric: true, Strategy: "token", Dynamic: true}
}

// PresetScheme returns the scheme of a preset name (any case). groupSize, when not 0,
// replaces the integer weights' grouping: > 0 groups of that many columns, -1 one scale
// per output channel.
func PresetScheme(name string, groupSize int) (Scheme, error) {
	up := strings.ToUpper(strings.TrimSpace(name))
	s := Scheme{Name: up}
	switch up {
	case "W8A16":
		s.Weights = intWeights(8, true, 0)
	case "W4A16":
		s.Weights = intWeights(4, true, 128)
	case "W4A16_ASYM":
		s.Weights = intWeights(4, false, 128)
	case "W8A8", "INT8":
		s.Name, s.Weights, s.Input = "W8A8", intWeights(8, true, 0), tokenInput("int")
	case "FP8_DYNAMIC":
		s.Weights, s.Input = fp8Weights(), tokenInput("float")
	case "W8A16_FP8":
		s.Weights = fp8Weights()
	default:
		if why, ok := refused[up]; ok {
			return s, fmt.Errorf("scheme %s is not available: %s", up, why)
		}
		return s, fmt.Errorf("unknown scheme %q%s; valid schemes: %s", name, didYouMean(up, Presets), strings.Join(Presets, ", "))
	}
	if groupSize != 0 {
		switch {
		case s.Weights.Type != "int":
			return s, fmt.Errorf("scheme %s: group_size applies to integer weights only (fp8 weights are per channel)", s.Name)
		case groupSize == -1:
			s.Weights.Strategy, s.Weights.GroupSize = "channel", 0
		case groupSize > 0:
			s.Weights.Strategy, s.Weights.GroupSize = "group", groupSize
		default:
			return s, fmt.Errorf("group_size %d: want a positive number of columns, or -1 for one scale per output channel", groupSize)
		}
	}
	return s, nil
}

// ctArgs are the weights' args for quant.CTQuantize.
func (s Scheme) ctArgs() quant.CTArgs {
	return quant.CTArgs{Bits: s.Weights.NumBits, Float: s.Weights.Type == "float",
		Symmetric: s.Weights.Symmetric, GroupSize: s.Weights.GroupSize}
}

// Format is the compression format compressed-tensors' infer_module_format gives the
// scheme (compressed_tensors/config/format.py): weight-only int4/int8 packs into int32
// words, weight-only fp8 is naive, and with activations int is int-quantized and fp8
// float-quantized.
func (s Scheme) Format() string {
	w := s.Weights
	if s.Input == nil {
		if w.Type == "int" && (w.NumBits == 4 || w.NumBits == 8) {
			return "pack-quantized"
		}
		return "naive-quantized"
	}
	if w.Type == "float" && w.NumBits == 8 {
		return "float-quantized"
	}
	if w.Type == "int" {
		return "int-quantized"
	}
	return "naive-quantized"
}

// didYouMean is " (did you mean X?)" for the closest of valid, or "".
func didYouMean(s string, valid []string) string {
	best, bestD := "", 1<<30
	for _, v := range valid {
		if d := suggest.Distance(strings.ToUpper(s), strings.ToUpper(v)); d < bestD {
			best, bestD = v, d
		}
	}
	if best == "" || bestD > max(2, len(s)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
