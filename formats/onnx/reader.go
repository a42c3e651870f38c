package onnx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"github.com/qscript-dev/qscript/tensor"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/qscript-dev/qscript/internal/paths"
)

// MaxModelSize caps the .onnx file itself. Protobuf messages are limited to 2 GiB, so a
// larger file cannot be a valid model; bigger models keep their weights in external data.
const MaxModelSize = 2 << 30

// maxProtoDepth bounds message nesting (subgraphs of If/Loop nodes nest three messages per
// level), so a hostile file cannot recurse deeply.
const maxProtoDepth = 300

var (
	// ErrInvalid is wrapped by every error about a malformed file.
	ErrInvalid = errors.New("invalid ONNX protobuf")
	// ErrTooLarge is returned for files above MaxModelSize.
	ErrTooLarge = errors.New("ONNX file too large")
)

// File is an opened ONNX model. Its initializers are validated when it is opened and read
// when asked. It implements formats.Model. Methods are safe for concurrent use.
type File struct {
	name     string // for error messages
	dir      string
	model    *onnxpb.ModelProto
	infos    []tensor.Info
	layouts  map[string]initLayout
	external map[string]*os.File // location → open data file
	closed   atomic.Bool
}

type initLayout struct {
	proto *onnxpb.TensorProto
	lay   tensorLayout
	err   error // set for initializers whose dtype qscript cannot hold; Load returns it
}

// Open reads and validates an ONNX model. External data files are opened (and their
// bounds checked) now, and read lazily by Load.
func Open(path string) (*File, error) {
	f, err := paths.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxModelSize {
		return nil, fmt.Errorf("%s: %w: %d bytes, more than the 2 GiB protobuf limit (large models keep weights in external data)", path, ErrTooLarge, st.Size())
	}
	data := make([]byte, st.Size()) // bounded by MaxModelSize
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := decode(path, data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Decode parses an in-memory model. dir is the folder external data locations are
// relative to; "" refuses external data.
func Decode(data []byte, dir string) (*File, error) {
	if len(data) > MaxModelSize {
		return nil, fmt.Errorf("onnx: %w: %d bytes", ErrTooLarge, len(data))
	}
	m, err := decode("", data, dir)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return m, nil
}

// FromProto wraps a model built in memory (a rewritten copy of an opened one, say) as a
// File: its initializers are validated and external data files opened as Open does. name
// prefixes errors ("" for none) and dir is the folder of external data ("" refuses it).
// The File does not copy m; m must not be modified afterwards.
func FromProto(name string, m *onnxpb.ModelProto, dir string) (*File, error) {
	if err := checkModel(m); err != nil {
		return nil, err
	}
	f := &File{name: name, dir: dir, model: m, layouts: map[string]initLayout{}, external: map[string]*os.File{}}
	if err := f.indexInitializers(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Name is the path the file was opened from ("" for an in-memory model).
func (f *File) Name() string { return f.name }

func decode(name string, data []byte, dir string) (*File, error) {
	if err := scanTopLevel(data); err != nil {
		return nil, err
	}
	model := &onnxpb.ModelProto{}
	opts := proto.UnmarshalOptions{RecursionLimit: maxProtoDepth}
	if err := opts.Unmarshal(data, model); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, protoMessage(err))
	}
	if err := checkModel(model); err != nil {
		return nil, err
	}
	f := &File{name: name, dir: dir, model: model, layouts: map[string]initLayout{}, external: map[string]*os.File{}}
	if err := f.indexInitializers(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// scanTopLevel walks the ModelProto's top-level fields so that a truncated file gets an
// error saying so, rather than the decoder's generic one.
func scanTopLevel(b []byte) error {
	fields := (&onnxpb.ModelProto{}).ProtoReflect().Descriptor().Fields()
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return fmt.Errorf("%w: bad field tag at byte %d: %s", ErrInvalid, off, wireError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if m < 0 {
			name := "field " + strconv.Itoa(int(num))
			if fd := fields.ByNumber(num); fd != nil {
				name = string(fd.Name())
			}
			err := protowire.ParseError(m)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: the %s field at byte %d runs past the end of the data (%d bytes): the file is truncated", ErrInvalid, name, off, len(b))
			}
			return fmt.Errorf("%w: the %s field at byte %d: %s", ErrInvalid, name, off, wireError(m))
		}
		off += n + m
	}
	return nil
}

// wireError describes a protowire parse failure.
func wireError(n int) string { return protoMessage(protowire.ParseError(n)) }

// protoMessage drops the "proto:" prefix of protobuf errors, which protobuf-go randomly
// writes with a non-breaking space so that nobody matches on it.
func protoMessage(err error) string {
	return strings.TrimLeft(strings.TrimPrefix(err.Error(), "proto:"), " \u00a0")
}

// checkModel requires what every ONNX model has, so that random bytes that happen to
// parse as protobuf are not taken for a model.
func checkModel(m *onnxpb.ModelProto) error {
	if m.IrVersion == nil || m.GetIrVersion() <= 0 {
		return fmt.Errorf("%w: not an ONNX model (no ir_version)", ErrInvalid)
	}
	if m.Graph == nil {
		return fmt.Errorf("%w: not an ONNX model (no graph)", ErrInvalid)
	}
	seen := map[string]bool{}
	for _, op := range m.OpsetImport {
		if seen[op.GetDomain()] {
			return fmt.Errorf("%w: opset_import lists domain %q twice", ErrInvalid, op.GetDomain())
		}
		seen[op.GetDomain()] = true
		if op.GetVersion() <= 0 {
			return fmt.Errorf("%w: opset_import domain %q has version %d", ErrInvalid, op.GetDomain(), op.GetVersion())
		}
	}
	return nil
}

// indexInitializers validates every initializer and opens the external data files.
func (f *File) indexInitializers() error {
	for i, tp := range f.model.Graph.Initializer {
		name := tp.GetName()
		if name == "" {
			return fmt.Errorf("%w: initializer %d has no name", ErrInvalid, i)
		}
		if _, dup := f.layouts[name]; dup {
			return fmt.Errorf("%w: initializer %q appears twice", ErrInvalid, name)
		}
		lay, err := inspectTensor(tp)
		if err != nil {
			if _, ok := dtypeOf(tp.GetDataType()); !ok && knownDataType(tp.GetDataType()) {
				// Valid ONNX that qscript cannot hold (strings, uint64...): listed nowhere, refused by Load.
				f.layouts[name] = initLayout{proto: tp, err: err}
				continue
			}
			return fmt.Errorf("%w: tensor %q: %v", ErrInvalid, name, err)
		}
		if lay.ext != nil {
			if err := f.checkExternal(lay); err != nil {
				return fmt.Errorf("%w: tensor %q: %v", ErrInvalid, name, err)
			}
		}
		f.layouts[name] = initLayout{proto: tp, lay: lay}
		f.infos = append(f.infos, tensor.Info{Name: name, DType: lay.dtype, Shape: lay.shape})
	}
	return nil
}

func (f *File) checkExternal(lay tensorLayout) error {
	file, ok := f.external[lay.ext.location]
	if !ok {
		var err error
		file, _, err = openExternal(f.dir, lay.ext.location)
		if err != nil {
			return err
		}
		f.external[lay.ext.location] = file
	}
	st, err := file.Stat()
	if err != nil {
		return err
	}
	_, err = lay.ext.section(lay.nbytes, st.Size())
	return err
}

// ExternalFiles lists the external data files the model reads, as paths.
func (f *File) ExternalFiles() []string {
	var out []string
	for loc := range f.external {
		out = append(out, filepath.Join(f.dir, loc))
	}
	slices.Sort(out)
	return out
}

// Proto returns the decoded model. Callers must not modify it; clone it first.
func (f *File) Proto() *onnxpb.ModelProto { return f.model }

// Dir returns the folder external data locations are relative to.
func (f *File) Dir() string { return f.dir }

// Tensors lists the initializers in file order. Initializers whose data type qscript
// cannot hold (strings, unsigned 16/32/64-bit, complex) are left out.
func (f *File) Tensors() []tensor.Info {
	return tensor.CloneInfos(f.infos)
}

// Load reads one initializer. Inline data is shared with the decoded proto; external data
// is read from the data file now.
func (f *File) Load(name string) (*tensor.Tensor, error) {
	if f.closed.Load() {
		return nil, f.errorf("tensor %q: %v", name, os.ErrClosed)
	}
	il, ok := f.layouts[name]
	if !ok {
		return nil, f.errorf("no initializer named %q", name)
	}
	if il.err != nil {
		return nil, f.errorf("tensor %q: %v", name, il.err)
	}
	var ext io.ReaderAt
	if il.lay.ext != nil {
		ext = f.external[il.lay.ext.location]
	}
	t, err := readTensor(il.proto, il.lay, ext)
	if err != nil {
		return nil, f.errorf("tensor %q: %v", name, err)
	}
	return t, nil
}

func (f *File) errorf(format string, args ...any) error {
	prefix := "onnx: "
	if f.name != "" {
		prefix = f.name + ": "
	}
	return fmt.Errorf(prefix+format, args...)
}

// Metadata returns metadata_props plus the model's header under "onnx."-prefixed keys:
// onnx.ir_version, onnx.opset_import ("ai.onnx:13,com.microsoft:1"), onnx.producer_name,
// onnx.producer_version, onnx.domain, onnx.model_version and onnx.graph_name when set.
func (f *File) Metadata() map[string]string {
	m := map[string]string{}
	for _, p := range f.model.MetadataProps {
		m[p.GetKey()] = p.GetValue()
	}
	m["onnx.ir_version"] = strconv.FormatInt(f.model.GetIrVersion(), 10)
	var ops []string
	for _, op := range f.model.OpsetImport {
		domain := op.GetDomain()
		if domain == "" {
			domain = "ai.onnx"
		}
		ops = append(ops, domain+":"+strconv.FormatInt(op.GetVersion(), 10))
	}
	m["onnx.opset_import"] = strings.Join(ops, ",")
	setIf := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	setIf("onnx.producer_name", f.model.GetProducerName())
	setIf("onnx.producer_version", f.model.GetProducerVersion())
	setIf("onnx.domain", f.model.GetDomain())
	setIf("onnx.graph_name", f.model.Graph.GetName())
	if f.model.ModelVersion != nil {
		m["onnx.model_version"] = strconv.FormatInt(f.model.GetModelVersion(), 10)
	}
	return m
}

// OpsetVersion returns the imported version of an operator set domain ("" or "ai.onnx"
// for the default domain), or 0 when the model does not import it.
func (f *File) OpsetVersion(domain string) int64 { return OpsetVersion(f.model, domain) }

// OpsetVersion returns the version m imports for domain ("" and "ai.onnx" are the same
// default domain), or 0.
func OpsetVersion(m *onnxpb.ModelProto, domain string) int64 {
	if domain == "ai.onnx" {
		domain = ""
	}
	for _, op := range m.GetOpsetImport() {
		d := op.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		if d == domain {
			return op.GetVersion()
		}
	}
	return 0
}

// Close closes the external data files; Load fails afterwards.
func (f *File) Close() error {
	if f.closed.Swap(true) {
		return nil
	}
	var first error
	for _, file := range f.external {
		if err := file.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// HasSubgraph reports whether n holds a subgraph (an If branch, a Loop or Scan body).
func HasSubgraph(n *onnxpb.NodeProto) bool {
	for _, a := range n.GetAttribute() {
		if a.GetG() != nil || len(a.GetGraphs()) > 0 {
			return true
		}
	}
	return false
}

// MarkReads adds to read every name n reads: its inputs, and what the nodes of its
// subgraphs read (outer-scope values included) and the subgraphs' outputs.
func MarkReads(n *onnxpb.NodeProto, read map[string]bool) {
	for _, s := range n.GetInput() {
		read[s] = true
	}
	for _, a := range n.GetAttribute() {
		for _, sg := range append([]*onnxpb.GraphProto{a.GetG()}, a.GetGraphs()...) {
			for _, sn := range sg.GetNode() {
				MarkReads(sn, read)
			}
			for _, o := range sg.GetOutput() {
				read[o.GetName()] = true
			}
		}
	}
}
