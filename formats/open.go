package formats

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/qscript-dev/qscript/formats/npy"
	"github.com/qscript-dev/qscript/formats/onnx"
	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/formats/torch"

	"github.com/qscript-dev/qscript/internal/paths"
)

// Format is one checkpoint format that Open reads.
type Format struct {
	// Name is what messages call the format ("safetensors", "PyTorch .pt").
	Name string
	// Exts are lower-case file name suffixes, dot included.
	Exts []string
	// Magic reports whether the first bytes of a file (up to HeadSize) fit the format.
	Magic func(head []byte) bool
	// Sniff marks a Magic specific enough to choose this format for a file whose
	// extension names no format.
	Sniff bool
	// Open opens a file of this format by path. Its errors name the path.
	Open func(path string) (Model, error)
}

// registry lists the formats in matching order. It is fixed at compile time: formats
// imports its readers, which never import formats, so there is no cycle and no global
// registration.
var registry = []Format{
	{Name: "safetensors index", Exts: []string{".safetensors.index.json"}, Magic: isJSONObject,
		Open: func(p string) (Model, error) { return safetensors.OpenIndex(p) }},
	{Name: "safetensors", Exts: []string{".safetensors"}, Magic: isSafetensors, Sniff: true,
		Open: func(p string) (Model, error) { return safetensors.OpenFile(p) }},
	{Name: "npy", Exts: []string{".npy"}, Magic: isNpy, Sniff: true,
		Open: func(p string) (Model, error) { return npy.OpenFile(p) }},
	{Name: "npz", Exts: []string{".npz"}, Magic: isNpz, Sniff: true,
		Open: func(p string) (Model, error) { return npy.OpenNPZFile(p) }},
	{Name: "PyTorch .pt", Exts: []string{".pt", ".pth", ".bin"}, Magic: isTorch, Sniff: true,
		Open: func(p string) (Model, error) { return torch.Open(p) }},
	{Name: "ONNX", Exts: []string{".onnx"}, Magic: isONNX,
		Open: func(p string) (Model, error) { return onnx.Open(p) }},
	{Name: "GGUF", Exts: []string{".gguf"}, Magic: isGGUF, Sniff: true, Open: openGGUF},
}

// File is an opened checkpoint: the reader's Model plus what Open learned about it.
type File struct {
	Model
	Path   string
	Format string // Format.Name
}

// ONNXFile returns the ONNX reader behind m (an *onnx.File, or a *File that Open returned
// for one), if it is one.
func ONNXFile(m Model) (*onnx.File, bool) {
	if f, ok := m.(*File); ok {
		m = f.Model
	}
	o, ok := m.(*onnx.File)
	return o, ok
}

// ErrUnknownFormat is returned for a file whose extension names no format and whose
// content Open cannot identify.
var ErrUnknownFormat = errors.New("formats: unknown file format")

// MismatchError is returned when a file's extension and its content disagree.
type MismatchError struct {
	Path   string
	Format string // what the extension says
	Looks  string // what the content looks like (Describe)
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s looks like %s, not %s", e.Path, e.Looks, e.Format)
}

// Open opens a checkpoint, choosing the reader by the file extension and confirming it
// by the file's first bytes. A file with no known extension is opened by its content
// when that is unambiguous. Errors name the path once.
func Open(path string) (*File, error) {
	head, err := ReadHead(path)
	if err != nil {
		return nil, err
	}
	format, ok := ByExtension(path)
	if ok {
		if !format.Magic(head) {
			return nil, &MismatchError{Path: path, Format: format.Name, Looks: Describe(head)}
		}
	} else if format, ok = Sniff(head); !ok {
		return nil, fmt.Errorf("%s: %w: the extension is none of %s, and the content looks like %s",
			path, ErrUnknownFormat, extensionList(), Describe(head))
	}
	m, err := format.Open(path)
	if err != nil {
		if !strings.Contains(err.Error(), path) {
			err = fmt.Errorf("%s: %w", path, err)
		}
		return nil, err
	}
	return &File{Model: m, Path: path, Format: format.Name}, nil
}

// HeadSize is how many leading bytes ReadHead returns and Magic functions see.
const HeadSize = 512

// ReadHead returns up to HeadSize bytes from the start of the file.
func ReadHead(path string) ([]byte, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "config.json")); err == nil {
			return nil, fmt.Errorf("%s is a Hugging Face model folder, not a checkpoint file: recipes/llm.lua and recipes/gguf.lua take the folder; a checkpoint is one of its weight files (model.safetensors, model.safetensors.index.json)", path)
		}
		return nil, fmt.Errorf("%s is a folder, not a checkpoint file (a sharded safetensors checkpoint opens through its .safetensors.index.json)", path)
	}
	// paths.Open refuses a FIFO or a device without blocking on it.
	f, err := paths.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, HeadSize)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err // an *os.PathError, which names the path
	}
	return head[:n], nil
}

// ByExtension returns the format whose extension ends path (case-insensitive); the
// longest matching extension wins, so ".safetensors.index.json" beats ".json".
func ByExtension(path string) (Format, bool) {
	lower := strings.ToLower(path)
	best, bestLen := Format{}, 0
	for _, f := range registry {
		for _, ext := range f.Exts {
			if strings.HasSuffix(lower, ext) && len(ext) > bestLen {
				best, bestLen = f, len(ext)
			}
		}
	}
	return best, bestLen > 0
}

// Sniff returns the first format marked Sniff whose magic matches head.
func Sniff(head []byte) (Format, bool) {
	for _, f := range registry {
		if f.Sniff && f.Magic(head) {
			return f, true
		}
	}
	return Format{}, false
}

func extensionList() string {
	var exts []string
	for _, f := range registry {
		exts = append(exts, f.Exts...)
	}
	return strings.Join(exts, " ")
}
