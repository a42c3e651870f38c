package onnx

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// checkLocation accepts an external data location only when it names a file inside the
// model's folder: relative, no "..", no backslashes or drive letters that would escape it
// on another system.
func checkLocation(loc string) error {
	if loc == "" {
		return fmt.Errorf("external data location is empty")
	}
	if strings.ContainsAny(loc, "\\\x00") || strings.Contains(loc, ":") || path.IsAbs(loc) || filepath.IsAbs(loc) {
		return fmt.Errorf("external data location %q must be a relative path inside the model's folder", loc)
	}
	if !filepath.IsLocal(filepath.FromSlash(loc)) {
		return fmt.Errorf("external data location %q escapes the model's folder", loc)
	}
	return nil
}
