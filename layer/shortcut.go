package layer

import (
	"fmt"
	"slices"
)

// shortcuts name a model's first or last layer of a type in skip and include lists.
var shortcuts = map[string]struct {
	typ  string
	last bool
}{
	"first_conv": {TypeConv, false}, "last_conv": {TypeConv, true},
	"first_linear": {TypeLinear, false}, "last_linear": {TypeLinear, true},
}

// Shortcut resolves first_conv, last_conv, first_linear or last_linear to the first or
// last of the layers of that type (see OfType). ok is false when name is no shortcut; err
// says the model has no layer of the type.
func Shortcut(layers []Layer, name string) (l Layer, ok bool, err error) {
	s, ok := shortcuts[name]
	if !ok {
		return Layer{}, false, nil
	}
	of := OfType(layers, s.typ)
	if len(of) == 0 {
		return Layer{}, true, fmt.Errorf("%s: the model has no %s layer", name, s.typ)
	}
	if s.last {
		return of[len(of)-1], true, nil
	}
	return of[0], true, nil
}

// resolveShortcuts replaces each shortcut in ms by the name of the layer it stands for,
// so reasons name the layer ("skip: conv1"). A layer that bears the shortcut's name keeps
// it: the name wins.
func resolveShortcuts(option string, ms []Matcher, layers []Layer) ([]Matcher, error) {
	out := slices.Clone(ms)
	for i, m := range ms {
		if !m.isExact() || hasName(layers, m.Pattern) {
			continue
		}
		if l, ok, err := Shortcut(layers, m.Pattern); err != nil {
			return nil, fmt.Errorf("%s: %w", option, err)
		} else if ok {
			out[i] = Matcher{Pattern: l.Name}
		}
	}
	return out, nil
}

func hasName(layers []Layer, name string) bool {
	return slices.ContainsFunc(layers, func(l Layer) bool { return l.Name == name })
}
