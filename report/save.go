package report

import (
	"fmt"
	"io"

	"github.com/qscript-dev/qscript/formats/atomicfile"
)

// SaveJSON writes the report as JSON to path, atomically: an error leaves no partial file
// and the previous file, if any, untouched.
func (r *Report) SaveJSON(path string) error { return save(path, r.WriteJSON) }

// SaveHTML writes the report as a self-contained HTML page to path, atomically.
func (r *Report) SaveHTML(path string) error { return save(path, r.WriteHTML) }

func save(path string, write func(io.Writer) error) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
