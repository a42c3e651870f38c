// Package host runs qscript's Lua recipes. A Host owns the sandboxed gopher-lua runtime,
// the registry of Go modules that recipes require (the bindings), the resolution of
// `require` to the recipe's folder and the embedded scripts library, cancellation through
// contexts, errors that name the recipe's file:line, hot reload (Watch) and a cache that
// survives reruns. It is also the public embedding API:
//
//	h, err := host.New(host.Options{Dir: ".", Stdout: w})
//	defer h.Close()
//	res, err := h.RunFile(ctx, "recipes/int8_static.lua", map[string]string{"model": "m.onnx"})
//
// Hosts share no mutable state, so several can run in goroutines side by side. A single Host
// runs one recipe at a time; each run gets a fresh Lua state.
package host
