package onnx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/qscript-dev/qscript/formats/atomicfile"
	"github.com/qscript-dev/qscript/formats/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// ExternalMode says when Write moves initializers into an external data file.
type ExternalMode int

const (
	// ExternalAuto keeps everything inline unless the initializers total more than
	// AutoExternalLimit bytes, which would not fit the 2 GiB protobuf limit.
	ExternalAuto ExternalMode = iota
	// ExternalNever keeps everything inline; Write fails for models over the limit.
	ExternalNever
	// ExternalAlways moves every initializer of at least MinExternalBytes to the data file.
	ExternalAlways
)

// AutoExternalLimit is the initializer total above which ExternalAuto writes external
// data: below 2 GiB, with room left for the graph itself.
const AutoExternalLimit = 1_800_000_000

// externalAlign is the offset alignment of tensors in the data file. The ONNX spec asks
// for page-size multiples so that runtimes can memory-map each tensor.
const externalAlign = 4096

// WriteOptions controls Write. The zero value is not the default: use DefaultWriteOptions,
// or pass nil to Write.
type WriteOptions struct {
	External ExternalMode
	// MinExternalBytes: when external data is used, initializers of at least this many
	// bytes go to the data file and smaller ones stay inline (onnx.save_model's
	// size_threshold). Empty tensors always stay inline.
	MinExternalBytes int64
	// SourceDir is the folder that the external data of m's own tensors is read from
	// (File.Dir of the model m came from). Such tensors are rewritten inline or into the
	// new data file, so the output never points at the input's files.
	SourceDir string
}

// DefaultWriteOptions: inline unless the model is too big, and a 1 KiB threshold as
// onnx.save_model uses.
func DefaultWriteOptions() WriteOptions {
	return WriteOptions{External: ExternalAuto, MinExternalBytes: 1024}
}

// DataFileName is the external data file Write creates next to path: "<name>.onnx.data".
func DataFileName(path string) string { return filepath.Base(path) + ".data" }

// Write saves m at path atomically (temporary file in the same folder, fsync, rename).
// With external data, the tensors go to DataFileName(path) in the same folder, which is
// written the same way and renamed first. m itself is not modified.
func Write(path string, m *onnxpb.ModelProto, opts *WriteOptions) error {
	if err := write(path, m, opts); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func write(path string, m *onnxpb.ModelProto, opts *WriteOptions) error {
	if opts == nil {
		d := DefaultWriteOptions()
		opts = &d
	}
	if m.GetGraph() == nil {
		return errors.New("onnx: model has no graph")
	}
	src := newSourceFiles(opts.SourceDir)
	defer src.close()

	out := shallowCopy(m)
	g := out.Graph
	if err := inlineNodeTensors(g, src); err != nil {
		return err
	}

	layouts := make([]tensorLayout, len(g.Initializer))
	var total int64
	for i, tp := range g.Initializer {
		lay, err := inspectForWrite(tp)
		if err != nil {
			return fmt.Errorf("onnx: tensor %q: %w", tp.GetName(), err)
		}
		layouts[i] = lay
		total += lay.nbytes
	}
	external := opts.External == ExternalAlways || (opts.External == ExternalAuto && total > AutoExternalLimit)

	var data *atomicfile.File
	if external {
		var err error
		data, err = atomicfile.Create(filepath.Join(filepath.Dir(path), DataFileName(path)))
		if err != nil {
			return err
		}
		defer data.Abort()
	}
	offset, err := placeInitializers(g, layouts, src, data, DataFileName(path), opts.MinExternalBytes)
	if err != nil {
		return err
	}
	if data != nil && offset > 0 {
		// Seek past the end does not extend the file; make its size cover the last tensor.
		if err := data.Truncate(offset); err != nil {
			return err
		}
	}

	if size := proto.Size(out); size >= MaxModelSize {
		return fmt.Errorf("onnx: the model is %d bytes, over the 2 GiB protobuf limit; write it with external data", size)
	}
	buf, err := proto.MarshalOptions{Deterministic: true}.Marshal(out)
	if err != nil {
		return fmt.Errorf("onnx: encoding the model: %w", err)
	}
	mf, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer mf.Abort()
	if _, err := mf.Write(buf); err != nil {
		return err
	}
	if data != nil && offset > 0 {
		if err := data.Commit(); err != nil {
			return err
		}
	}
	return mf.Commit()
}

// placeInitializers moves each initializer of at least minExternal bytes into data (when
// data is not nil), aligned, and inlines those whose data was external in the source; it
// returns the end of the data written.
func placeInitializers(g *onnxpb.GraphProto, layouts []tensorLayout, src *sourceFiles, data *atomicfile.File, dataName string, minExternal int64) (offset int64, err error) {
	for i, tp := range g.Initializer {
		lay := layouts[i]
		switch {
		case data != nil && lay.nbytes > 0 && lay.nbytes >= minExternal:
			start := (offset + externalAlign - 1) / externalAlign * externalAlign
			if _, err := data.Seek(start, io.SeekStart); err != nil {
				return 0, err
			}
			if err := src.copyData(data, tp, lay); err != nil {
				return 0, fmt.Errorf("onnx: tensor %q: %w", tp.GetName(), err)
			}
			offset = start + lay.nbytes
			g.Initializer[i] = externalProto(tp, dataName, start, lay.nbytes)
		case lay.ext != nil:
			inline, err := src.inline(tp, lay)
			if err != nil {
				return 0, fmt.Errorf("onnx: tensor %q: %w", tp.GetName(), err)
			}
			g.Initializer[i] = inline
		}
	}
	return offset, nil
}

// shallowCopy returns a model that shares everything with m except the top-level
// ModelProto, its GraphProto and the graph's node and initializer slices, which Write
// replaces entries of.
func shallowCopy(m *onnxpb.ModelProto) *onnxpb.ModelProto {
	g := m.Graph
	return &onnxpb.ModelProto{
		IrVersion: m.IrVersion, OpsetImport: m.OpsetImport, ProducerName: m.ProducerName,
		ProducerVersion: m.ProducerVersion, Domain: m.Domain, ModelVersion: m.ModelVersion,
		DocString: m.DocString, MetadataProps: m.MetadataProps, TrainingInfo: m.TrainingInfo,
		Functions: m.Functions,
		Graph: &onnxpb.GraphProto{
			Node: append([]*onnxpb.NodeProto(nil), g.Node...), Name: g.Name,
			Initializer:       append([]*onnxpb.TensorProto(nil), g.Initializer...),
			SparseInitializer: g.SparseInitializer, DocString: g.DocString, Input: g.Input,
			Output: g.Output, ValueInfo: g.ValueInfo, QuantizationAnnotation: g.QuantizationAnnotation,
		},
	}
}

func externalProto(tp *onnxpb.TensorProto, location string, offset, length int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{
		Name: tp.Name, Dims: tp.Dims, DataType: tp.DataType, DocString: tp.DocString,
		DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
		ExternalData: []*onnxpb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String(location)},
			{Key: proto.String("offset"), Value: proto.String(strconv.FormatInt(offset, 10))},
			{Key: proto.String("length"), Value: proto.String(strconv.FormatInt(length, 10))},
		},
	}
}

// inlineNodeTensors replaces node attribute tensors (Constant values, subgraph
// initializers) that use external data with inline copies. Nodes are cloned before they
// change, so the caller's model stays as it was.
func inlineNodeTensors(g *onnxpb.GraphProto, src *sourceFiles) error {
	for i, n := range g.Node {
		if !nodeHasExternal(n) {
			continue
		}
		c := proto.Clone(n).(*onnxpb.NodeProto)
		var err error
		walkNodeTensors(c, func(tp *onnxpb.TensorProto) {
			if err != nil || tp.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
				return
			}
			lay, e := inspectTensor(tp)
			if e == nil {
				var inline *onnxpb.TensorProto
				if inline, e = src.inline(tp, lay); e == nil {
					tp.RawData, tp.DataLocation, tp.ExternalData = inline.RawData, nil, nil
				}
			}
			if e != nil {
				err = fmt.Errorf("onnx: node %q: tensor %q: %w", n.GetName(), tp.GetName(), e)
			}
		})
		if err != nil {
			return err
		}
		g.Node[i] = c
	}
	return nil
}

func nodeHasExternal(n *onnxpb.NodeProto) bool {
	found := false
	walkNodeTensors(n, func(tp *onnxpb.TensorProto) {
		found = found || tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL
	})
	return found
}

// walkNodeTensors calls fn for every tensor inside n's attributes, subgraphs included.
func walkNodeTensors(n *onnxpb.NodeProto, fn func(*onnxpb.TensorProto)) {
	for _, a := range n.Attribute {
		if a.T != nil {
			fn(a.T)
		}
		for _, t := range a.Tensors {
			fn(t)
		}
		graphs := a.Graphs
		if a.G != nil {
			graphs = append([]*onnxpb.GraphProto{a.G}, graphs...)
		}
		for _, sg := range graphs {
			for _, t := range sg.Initializer {
				fn(t)
			}
			for _, sn := range sg.Node {
				walkNodeTensors(sn, fn)
			}
		}
	}
}

// sourceFiles reads the external data of the model being written.
type sourceFiles struct {
	dir   string
	files map[string]*os.File
}

func newSourceFiles(dir string) *sourceFiles {
	return &sourceFiles{dir: dir, files: map[string]*os.File{}}
}

// open returns the data file of ref after checking ref's bounds.
func (s *sourceFiles) open(lay tensorLayout) (*os.File, error) {
	f, ok := s.files[lay.ext.location]
	if !ok {
		if s.dir == "" {
			return nil, fmt.Errorf("uses external data %s; set WriteOptions.SourceDir to the folder of the model it came from", lay.ext.location)
		}
		var err error
		if f, _, err = openExternal(s.dir, lay.ext.location); err != nil {
			return nil, err
		}
		s.files[lay.ext.location] = f
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if _, err := lay.ext.section(lay.nbytes, st.Size()); err != nil {
		return nil, err
	}
	return f, nil
}

// inline returns tp with its data in raw_data.
func (s *sourceFiles) inline(tp *onnxpb.TensorProto, lay tensorLayout) (*onnxpb.TensorProto, error) {
	var ext io.ReaderAt
	if lay.ext != nil {
		f, err := s.open(lay)
		if err != nil {
			return nil, err
		}
		ext = f
	}
	t, err := readTensor(tp, lay, ext)
	if err != nil {
		return nil, err
	}
	return &onnxpb.TensorProto{Name: tp.Name, Dims: tp.Dims, DataType: tp.DataType, DocString: tp.DocString, RawData: t.Data}, nil
}

// copyData writes the little-endian bytes of tp to w, streaming external data.
func (s *sourceFiles) copyData(w io.Writer, tp *onnxpb.TensorProto, lay tensorLayout) error {
	if lay.ext != nil {
		f, err := s.open(lay)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, io.NewSectionReader(f, lay.ext.offset, lay.nbytes))
		return err
	}
	t, err := readTensor(tp, lay, nil)
	if err != nil {
		return err
	}
	_, err = w.Write(t.Data)
	return err
}

func (s *sourceFiles) close() {
	for _, f := range s.files {
		f.Close()
	}
}

// The 4-bit element types of IR version 10 (opset 21), two elements a byte.
const (
	dataTypeUInt4 = 21
	dataTypeInt4  = 22
)

// inspectForWrite is inspectTensor, except that a packed 4-bit tensor (INT4, UINT4), which
// no tensor dtype holds, is laid out as its ceil(numel/2) raw bytes, so that Write copies
// it inline or into the data file like any other.
func inspectForWrite(tp *onnxpb.TensorProto) (tensorLayout, error) {
	if dt := tp.GetDataType(); dt != dataTypeUInt4 && dt != dataTypeInt4 {
		return inspectTensor(tp)
	}
	c := proto.Clone(tp).(*onnxpb.TensorProto)
	numel := int64(1)
	for _, d := range tp.Dims {
		if d < 0 || (d > 0 && numel > (1<<62)/d) {
			return tensorLayout{}, fmt.Errorf("dims %v: invalid or too large", tp.Dims)
		}
		numel *= d
	}
	c.DataType = proto.Int32(int32(onnxpb.TensorProto_UINT8))
	c.Dims = []int64{(numel + 1) / 2}
	return inspectTensor(c)
}
