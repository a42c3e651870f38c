package onnx

import "github.com/qscript-dev/qscript/formats/onnx/onnxpb"

// InitializerAliases maps each output of a default-domain Identity node whose input is an
// initializer, directly or through a chain of such Identity nodes, to that initializer's
// name. torch.onnx.export stores identical constants once (equal zero biases of an
// untrained network, weights shared between layers) and feeds their other readers
// through Identity nodes; those readers still read a constant, not an activation.
// Initializers are matched by name in g only (not in outer graphs).
func InitializerAliases(g *onnxpb.GraphProto) map[string]string {
	isInit := map[string]bool{}
	for _, t := range g.GetInitializer() {
		isInit[t.GetName()] = true
	}
	identityInput := map[string]string{} // Identity output → its input
	for _, n := range g.GetNode() {
		if n.GetOpType() != "Identity" || (n.GetDomain() != "" && n.GetDomain() != "ai.onnx") ||
			len(n.GetInput()) != 1 || len(n.GetOutput()) != 1 || n.GetOutput()[0] == "" {
			continue
		}
		identityInput[n.GetOutput()[0]] = n.GetInput()[0]
	}
	out := map[string]string{}
	for name := range identityInput {
		// Follow the chain; a malformed graph with a cycle ends after len(identityInput) steps.
		x := name
		for steps := 0; steps <= len(identityInput); steps++ {
			in, ok := identityInput[x]
			if !ok {
				break
			}
			x = in
		}
		if isInit[x] && x != name {
			out[name] = x
		}
	}
	return out
}

// Resolve returns the initializer name behind name in aliases (InitializerAliases), or
// name itself.
func Resolve(aliases map[string]string, name string) string {
	if root, ok := aliases[name]; ok {
		return root
	}
	return name
}
