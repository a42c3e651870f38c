package torch

import (
	"archive/zip"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/qscript-dev/qscript/formats/atomicfile"
	"github.com/qscript-dev/qscript/tensor"
)

// storageAlignment is where torch puts each storage's first byte (a multiple of 64 in the
// file), so that a loader can map the data in place. torch pads the local header with an
// extra field, and so does the writer.
const storageAlignment = 64

// paddingExtraID is the extra-field ID torch uses for that padding ("FB").
const paddingExtraID = 0x4246

// storageNames maps dtypes to the typed storage classes that name them in the pickle.
var storageNames = map[tensor.DType]string{}

func init() {
	for name, dt := range storageTypes {
		storageNames[dt] = name
	}
}

// Writer streams tensors into a checkpoint that torch.load(path, weights_only=True) loads
// as an OrderedDict of tensors. Each Add writes one tensor's storage; Close writes the
// pickle and publishes the file atomically. Nothing appears at the path before Close
// succeeds.
type Writer struct {
	out    *atomicfile.File
	zw     *zip.Writer
	prefix string
	offset int64 // bytes written so far, tracked to align each storage
	added  []writtenTensor
	names  map[string]bool
	err    error
	done   bool
}

type writtenTensor struct {
	name  string
	dtype tensor.DType
	shape []int
	key   string
}

// Create starts a checkpoint at path. The archive's folder name is the file's stem, as
// torch.save names it.
func Create(path string) (*Writer, error) {
	out, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if stem == "" || strings.ContainsAny(stem, "/\\") {
		stem = "archive"
	}
	return &Writer{out: out, zw: zip.NewWriter(out), prefix: stem + "/", names: map[string]bool{}}, nil
}

// Add writes one tensor. Strided tensors are written in C order. Every dtype except the
// fp8 ones (which have no torch 1.x storage class) is accepted.
func (w *Writer) Add(name string, t *tensor.Tensor) error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return fmt.Errorf("torch: writer is closed")
	}
	_, ok := storageNames[t.DType]
	switch {
	case !ok:
		return fmt.Errorf("torch: tensor %q: dtype %v cannot be written to a .pt file", name, t.DType)
	case !utf8.ValidString(name) || int64(len(name)) > math.MaxUint32:
		return fmt.Errorf("torch: tensor %q: name is not valid UTF-8 or longer than 4 GiB", name)
	case w.names[name]:
		return fmt.Errorf("torch: tensor %q: added twice", name)
	}
	if _, err := tensor.Numel(t.Shape); err != nil {
		return fmt.Errorf("torch: tensor %q: %w", name, err)
	}
	c := t.Contiguous()
	data := c.Data[:c.Nbytes()]
	key := strconv.Itoa(len(w.added))
	if err := w.writeEntry("data/"+key, data, true); err != nil {
		w.err = fmt.Errorf("torch: tensor %q: %w", name, err)
		return w.err
	}
	w.names[name] = true
	w.added = append(w.added, writtenTensor{name: name, dtype: t.DType, shape: append([]int{}, t.Shape...), key: key})
	return nil
}

// writeEntry writes a stored (uncompressed) zip entry, padding its local header so that
// the data starts on a 64-byte boundary when align is set.
func (w *Writer) writeEntry(rel string, data []byte, align bool) error {
	name := w.prefix + rel
	const localHeaderLen = 30
	headerEnd := w.offset + localHeaderLen + int64(len(name))
	var extra []byte
	if align {
		// The extra field costs 4 bytes of header before its padding.
		pad := (storageAlignment - (headerEnd+4)%storageAlignment) % storageAlignment
		extra = make([]byte, 4+pad)
		binary.LittleEndian.PutUint16(extra[0:], paddingExtraID)
		binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
		for i := 4; i < len(extra); i++ {
			extra[i] = 'Z'
		}
	}
	fh := &zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		CRC32:              crc32.ChecksumIEEE(data),
		CompressedSize64:   uint64(len(data)),
		UncompressedSize64: uint64(len(data)),
		Extra:              extra,
		CreatorVersion:     20,
		ReaderVersion:      20,
	}
	ew, err := w.zw.CreateRaw(fh)
	if err != nil {
		return err
	}
	if _, err := ew.Write(data); err != nil {
		return err
	}
	w.offset = headerEnd + int64(len(extra)) + int64(len(data))
	return nil
}

// Close writes data.pkl, the version and byteorder records and the zip directory, then
// fsyncs and renames the file into place. On any error the partial file is removed.
func (w *Writer) Close() error {
	if w.done {
		return w.err
	}
	w.done = true
	if w.err != nil {
		w.out.Abort()
		return w.err
	}
	err := w.writeEntry("data.pkl", encodeStateDict(w.added), false)
	if err == nil {
		err = w.writeEntry("byteorder", []byte("little"), false)
	}
	if err == nil {
		err = w.writeEntry("version", []byte("3\n"), false)
	}
	if err == nil {
		err = w.zw.Close()
	}
	if err == nil {
		err = w.out.Commit()
	} else {
		w.out.Abort()
	}
	if err != nil {
		w.err = fmt.Errorf("torch: writing %s: %w", w.out.Path(), err)
	}
	return w.err
}

// Abort discards everything written; the path is left as it was. It does nothing after
// Close, so `defer w.Abort()` is the usual cleanup.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	return w.out.Abort()
}

// Write streams the named tensors into a new checkpoint at path, asking load for one
// tensor at a time, so that peak memory is one tensor, not the model. When ctx is
// cancelled, or on any error, no file is left behind.
func Write(ctx context.Context, path string, names []string, load func(name string) (*tensor.Tensor, error)) error {
	w, err := Create(path)
	if err != nil {
		return err
	}
	defer w.Abort()
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("torch: writing %s: %w", path, err)
		}
		t, err := load(name)
		if err != nil {
			return fmt.Errorf("torch: tensor %q: %w", name, err)
		}
		if err := w.Add(name, t); err != nil {
			return err
		}
	}
	return w.Close()
}
