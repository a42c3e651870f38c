// Package bindings gathers the Lua modules that every qscript host offers to recipes (the
// `qs` API: tensors, observers, quantize, calibrate, io, report). Each module lives in its
// own file or subpackage and implements modules.Module; the host registers Modules() in
// every new host, so `host.New(host.Options{})` gives recipes the whole API.
package bindings

import "github.com/qscript-dev/qscript/host/modules"

// Modules returns the default modules in registration order. The list is explicit and
// ordered (never built by ranging over a map) so that every host is set up the same way.
func Modules() []modules.Module {
	return nil
}
