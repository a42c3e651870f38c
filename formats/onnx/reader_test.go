package onnx

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/tensor"
)

// npyDescr is the numpy dtype the fixture script stores for each tensor dtype
// (bfloat16 as its uint16 bit patterns).
var npyDescr = map[tensor.DType]string{
	tensor.F32: "<f4", tensor.F16: "<f2", tensor.F64: "<f8", tensor.I8: "|i1", tensor.U8: "|u1",
	tensor.I16: "<i2", tensor.I32: "<i4", tensor.I64: "<i8", tensor.Bool: "|b1", tensor.BF16: "<u2",
}

// TestFixturesBitExact opens models written by onnx and torch.onnx.export and compares
// every initializer with the values numpy and torch saved.
func TestFixturesBitExact(t *testing.T) {
	for _, name := range []string{"raw", "typed", "external", "torch_linear_conv"} {
		t.Run(name, func(t *testing.T) {
			want := readNPZ(t, filepath.Join("testdata", name+".npz"))
			f, err := Open(filepath.Join("testdata", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			infos := f.Tensors()
			if len(infos) != len(want) {
				t.Fatalf("%d tensors, want %d", len(infos), len(want))
			}
			for i, info := range infos {
				if got := f.Proto().Graph.Initializer[i].GetName(); got != info.Name {
					t.Errorf("tensor %d is %q, file order has %q", i, info.Name, got)
				}
				w, ok := want[info.Name]
				if !ok {
					t.Fatalf("unexpected tensor %q", info.Name)
				}
				if npyDescr[info.DType] != w.descr {
					t.Errorf("%s: dtype %v, numpy has %s", info.Name, info.DType, w.descr)
				}
				if !reflect.DeepEqual(info.Shape, append([]int{}, w.shape...)) && !(len(info.Shape) == 0 && len(w.shape) == 0) {
					t.Errorf("%s: shape %v, want %v", info.Name, info.Shape, w.shape)
				}
				got, err := f.Load(info.Name)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Data, w.data) {
					t.Errorf("%s: data differs from numpy's", info.Name)
				}
			}
		})
	}
}

func TestMetadataAndOpset(t *testing.T) {
	f, err := Open("testdata/torch_linear_conv.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	md := f.Metadata()
	if md["onnx.opset_import"] != "ai.onnx:13" || md["onnx.producer_name"] != "pytorch" || md["onnx.ir_version"] != "7" {
		t.Errorf("metadata %v", md)
	}
	if f.OpsetVersion("") != 13 || f.OpsetVersion("ai.onnx") != 13 || f.OpsetVersion("com.microsoft") != 0 {
		t.Errorf("opset versions wrong")
	}
	if _, err := f.Load("nope"); err == nil || err.Error() != `testdata/torch_linear_conv.onnx: no initializer named "nope"` {
		t.Errorf("Load(nope) = %v", err)
	}
}

// TestHostileFiles checks each broken file's exact error. Every one names the file and,
// where a tensor is at fault, the tensor.
func TestHostileFiles(t *testing.T) {
	cases := []struct{ file, want string }{
		{"truncated.onnx", "invalid ONNX protobuf: the graph field at byte 20 runs past the end of the data (217 bytes): the file is truncated"},
		{"invalid-varint.onnx", "invalid ONNX protobuf: the ir_version field at byte 0: variable length integer overflow"},
		{"empty.onnx", "invalid ONNX protobuf: not an ONNX model (no ir_version)"},
		{"not-onnx.onnx", "invalid ONNX protobuf: the metadata_props field at byte 0: mismatching end group marker"},
		{"graph-without-model.onnx", "invalid ONNX protobuf: not an ONNX model (no ir_version)"},
		{"negative-dims.onnx", `invalid ONNX protobuf: tensor "neg": dims [-1 4]: dimension 0 is negative`},
		{"raw-data-too-short.onnx", `invalid ONNX protobuf: tensor "short": raw_data is 40 bytes, want 48 (F32 [3 4])`},
		{"typed-data-too-short.onnx", `invalid ONNX protobuf: tensor "short_typed": float_data has 11 elements, want 12 (F32 [3 4])`},
		{"numel-overflow.onnx", `invalid ONNX protobuf: tensor "huge": dims [4294967296 4294967296]: element count overflows`},
		{"typed-field-wrong-type.onnx", `invalid ONNX protobuf: tensor "wrong_field": float_data holds the data of a INT8 tensor; ONNX puts it in int32_data`},
		{"unknown-data-type.onnx", `invalid ONNX protobuf: tensor "odd": unsupported data type data type 99`},
		{"external-path-escape.onnx", `invalid ONNX protobuf: tensor "escape": external data location "../external.onnx.data" escapes the model's folder`},
		{"external-absolute-path.onnx", `invalid ONNX protobuf: tensor "abs": external data location "/etc/passwd" must be a relative path inside the model's folder`},
		{"external-offset-past-eof.onnx", `invalid ONNX protobuf: tensor "far": external data offset 1048576 is past the end of external.onnx.data (86 bytes)`},
		{"external-length-mismatch.onnx", `invalid ONNX protobuf: tensor "len": external data length is 40 bytes, want 48 (F32 [3 4])`},
		{"external-missing-file.onnx", `invalid ONNX protobuf: tensor "missing": external data: openat no-such-file.data: no such file or directory`},
		{"duplicate-initializer.onnx", `invalid ONNX protobuf: initializer "dup" appears twice`},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("testdata", c.file)
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatal("opened without error")
			}
			if want := path + ": " + c.want; err.Error() != want {
				t.Errorf("error\n got: %s\nwant: %s", err, want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid")
			}
		})
	}
}

func TestInt8OutOfRangeFailsOnLoad(t *testing.T) {
	f, err := Open("testdata/int8-out-of-range.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = f.Load("i8")
	if want := `testdata/int8-out-of-range.onnx: tensor "i8": int32_data[1] = 300 is out of range for INT8`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestDecodeWithoutDirRefusesExternalData(t *testing.T) {
	data, err := os.ReadFile("testdata/external.onnx")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Decode(data, "")
	if err == nil || !strings.Contains(err.Error(), `onnx: invalid ONNX protobuf: tensor "w_f32": external data external.onnx.data: the model's folder is unknown`) {
		t.Errorf("got %v", err)
	}
	f, err := Decode(data, "testdata")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestTooLarge(t *testing.T) {
	_, err := Decode(make([]byte, 0), "")
	if err == nil {
		t.Fatal("empty data decoded")
	}
	// A sparse file larger than the cap is refused before it is read.
	path := filepath.Join(t.TempDir(), "big.onnx")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := fh.Truncate(MaxModelSize + 1); err != nil {
		t.Skip("cannot make a sparse file:", err)
	}
	fh.Close()
	if _, err := Open(path); !errors.Is(err, ErrTooLarge) {
		t.Errorf("got %v, want ErrTooLarge", err)
	}
}

func TestTensorProtoRoundTrip(t *testing.T) {
	src := tensor.FromF32([]int{2, 3}, []float32{1, -2, 3.5, 0, 7, -0.25})
	tp, err := TensorToProto("x", src)
	if err != nil {
		t.Fatal(err)
	}
	back, err := TensorFromProto(tp, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Shape, src.Shape) || !bytes.Equal(back.Data, src.Data) || back.DType != tensor.F32 {
		t.Errorf("round trip changed the tensor: %v", back)
	}
	ext := &tensor.Tensor{DType: tensor.F8E5M2, Shape: []int{2}, Data: []byte{1, 2}}
	tp, err = TensorToProto("f8", ext)
	if err != nil || tp.GetDataType() != dataTypeFloat8E5M2 {
		t.Fatalf("f8: %v %v", tp, err)
	}
}

// TestLoadAfterClose: the external data file is closed, so Load must fail, not panic.
func TestLoadAfterClose(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "external.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	name := f.Tensors()[0].Name
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = f.Load(name)
	if want := `testdata/external.onnx: tensor "` + name + `": file already closed`; err == nil || err.Error() != want {
		t.Errorf("Load after Close: %v, want %s", err, want)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
