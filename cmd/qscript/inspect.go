package main

import (
	"context"
	"fmt"
	"io"
)

// runInspect is `qscript inspect FILE`.
func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "qscript inspect: not available yet")
	return exitUsage
}
