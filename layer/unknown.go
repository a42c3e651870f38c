package layer

import (
	"fmt"
	"strings"

	"github.com/qscript-dev/qscript/internal/suggest"
)

// UnknownNameError is returned when a skip or include list (or a layer_types override)
// names a layer the model does not have. Similar holds the closest layer names.
type UnknownNameError struct {
	Option  string   // "skip", "include", "layer_types"
	Name    string   // the name given
	Glob    bool     // Name is a glob that matched no layer
	Similar []string // closest layer names, best first
	// Known lists the model's first layer names, shown when nothing is similar.
	Known []string
	// More counts the layers not in Known.
	More int
}

func (e *UnknownNameError) Error() string {
	var b strings.Builder
	if e.Glob {
		fmt.Fprintf(&b, "%s: pattern %q matches no layer", e.Option, e.Name)
	} else {
		fmt.Fprintf(&b, "%s: no layer named %q", e.Option, e.Name)
	}
	if len(e.Similar) > 0 {
		fmt.Fprintf(&b, " (similar layers: %s)", strings.Join(e.Similar, ", "))
	} else if len(e.Known) > 0 {
		fmt.Fprintf(&b, " (the model's layers: %s", strings.Join(e.Known, ", "))
		if e.More > 0 {
			fmt.Fprintf(&b, " and %d more", e.More)
		}
		b.WriteString(")")
	} else {
		b.WriteString(" (the model has no layers)")
	}
	return b.String()
}

// maxKnown bounds how many layer names an error lists when none is similar.
const maxKnown = 10

func UnknownName(option, name string, glob bool, layers []Layer) *UnknownNameError {
	names := make([]string, len(layers))
	for i, l := range layers {
		names[i] = l.Name
	}
	e := &UnknownNameError{Option: option, Name: name, Glob: glob, Similar: suggest.Similar(name, names)}
	if len(e.Similar) == 0 {
		e.Known = names[:min(len(names), maxKnown)]
		e.More = len(names) - len(e.Known)
	}
	return e
}
