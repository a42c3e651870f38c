package data

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/qscript-dev/qscript/formats/npy"
	"github.com/qscript-dev/qscript/formats/safetensors"
	"github.com/qscript-dev/qscript/tensor"
)

const models = "../examples/models/"

// readAll reads a whole pass in batches of n.
func readAll(t *testing.T, src Source, n int) []*Batch {
	t.Helper()
	r, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []*Batch
	for {
		b, err := r.Next(n)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

func loadNPY(t *testing.T, path string) *tensor.Tensor {
	f, err := npy.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := f.Load(f.Tensors()[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestNPYStreams(t *testing.T) {
	src, err := NPY(models + "calib.npy")
	if err != nil {
		t.Fatal(err)
	}
	if src.Name() != "calib.npy" || src.Len() != 150 || src.HasTarget() {
		t.Fatalf("name %q len %d target %v", src.Name(), src.Len(), src.HasTarget())
	}
	if in := src.Inputs(); len(in) != 1 || in[0].Name != "" || in[0].DType != tensor.F32 || !reflect.DeepEqual(in[0].Shape, []int{1, 8, 8}) {
		t.Fatalf("inputs %+v", in)
	}
	want := loadNPY(t, models+"calib.npy").F32()
	batches := readAll(t, src, 32)
	if len(batches) != 5 || batches[4].Len != 150-4*32 {
		t.Fatalf("%d batches, last of %d", len(batches), batches[len(batches)-1].Len)
	}
	var got []float32
	for _, b := range batches {
		x := b.Inputs[""]
		if x.Shape[0] != b.Len || !reflect.DeepEqual(x.Shape[1:], []int{1, 8, 8}) {
			t.Fatalf("batch shape %v", x.Shape)
		}
		got = append(got, x.F32()...)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("batches differ from the array")
	}
}

func TestLimitAndBatched(t *testing.T) {
	src, _ := NPY(models + "calib.npy")
	lim := Limit(src, 40)
	if lim.Len() != 40 {
		t.Fatalf("Len %d", lim.Len())
	}
	n := 0
	for _, b := range readAll(t, lim, 32) {
		n += b.Len
	}
	if n != 40 || Limit(src, 1000).Len() != 150 || Limit(src, -1) != src {
		t.Fatalf("limited pass read %d", n)
	}
	b, err := Batched(lim, 16)
	if err != nil || PreferredBatchSize(b) != 16 || PreferredBatchSize(src) != 0 || b.Len() != 40 {
		t.Fatalf("batched: %v %d", err, PreferredBatchSize(b))
	}
	if _, err := Batched(src, 0); err == nil || err.Error() != "data: batch size 0: must be at least 1" {
		t.Fatalf("Batched(0): %v", err)
	}
}

func TestNPZInputsAndTarget(t *testing.T) {
	src, err := NPZ(models + "test.npz")
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 360 || !src.HasTarget() || len(src.Inputs()) != 1 || src.Inputs()[0].Name != "input" {
		t.Fatalf("len %d target %v inputs %+v", src.Len(), src.HasTarget(), src.Inputs())
	}
	batches := readAll(t, src, 100)
	if len(batches) != 4 || batches[3].Len != 60 || batches[3].Target.DType != tensor.I64 || batches[3].Target.Shape[0] != 60 {
		t.Fatalf("batches %d, last %+v", len(batches), batches[3])
	}
}

func TestSafetensorsSource(t *testing.T) {
	x := tensor.FromF32([]int{5, 2}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	y, _ := tensor.FromBytes(tensor.I64, []int{5}, tensor.Bytes([]int64{1, 0, 1, 0, 1}))
	path := filepath.Join(t.TempDir(), "calib.safetensors")
	infos := []tensor.Info{{Name: "features", DType: tensor.F32, Shape: x.Shape}, {Name: "y", DType: tensor.I64, Shape: y.Shape}}
	err := safetensors.WriteFile(context.Background(), path, infos, nil, func(name string) (*tensor.Tensor, error) {
		if name == "y" {
			return y, nil
		}
		return x, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	src, err := Safetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 5 || !src.HasTarget() || src.Inputs()[0].Name != "features" {
		t.Fatalf("%d %v %+v", src.Len(), src.HasTarget(), src.Inputs())
	}
	batches := readAll(t, src, 2) // the reader is closed: the batches must not point into the mapping
	if got := batches[2].Inputs["features"].F32(); !reflect.DeepEqual(got, []float32{8, 9}) || batches[2].Target.I64()[0] != 1 {
		t.Fatalf("last batch %v %v", got, batches[2].Target.I64())
	}
}

func TestSamplesAndTensors(t *testing.T) {
	var samples []Sample
	for i := range 3 {
		samples = append(samples, Sample{
			Inputs: map[string]*tensor.Tensor{"a": tensor.FromF32([]int{2}, []float32{float32(i), float32(-i)})},
			Target: tensor.FromF32([]int{}, []float32{float32(i)}),
		})
	}
	src, err := Samples(samples)
	if err != nil {
		t.Fatal(err)
	}
	b := readAll(t, src, 10)[0]
	if b.Len != 3 || !reflect.DeepEqual(b.Inputs["a"].F32(), []float32{0, 0, 1, -1, 2, -2}) || !reflect.DeepEqual(b.Target.F32(), []float32{0, 1, 2}) {
		t.Fatalf("batch %v %v", b.Inputs["a"].F32(), b.Target.F32())
	}
	samples[1].Inputs["a"] = tensor.FromF32([]int{3}, []float32{1, 2, 3})
	if _, err := Samples(samples); err == nil || err.Error() != `data: sample 2: input "a" is F32 [3], sample 1's is F32 [2]` {
		t.Fatalf("ragged samples: %v", err)
	}
	if _, err := Tensors(map[string]*tensor.Tensor{"a": tensor.New(tensor.F32, 3, 2), "b": tensor.New(tensor.F32, 4, 2)}, nil); err == nil ||
		err.Error() != `data: tensors: array "b" has 4 samples, the others have 3` {
		t.Fatalf("unequal sample counts: %v", err)
	}
	if _, err := Samples(nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("no samples: %v", err)
	}
}

func TestNPYErrors(t *testing.T) {
	dir := t.TempDir()
	trunc := filepath.Join(dir, "trunc.npy")
	if err := npy.WriteFile(trunc, tensor.New(tensor.F32, 4, 3)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(trunc)
	os.WriteFile(trunc, b[:len(b)-4], 0o644)
	if _, err := NPY(trunc); !errors.Is(err, npy.ErrDataSize) || !strings.Contains(err.Error(), "trunc.npy") {
		t.Fatalf("truncated: %v", err)
	}
	scalar := filepath.Join(dir, "scalar.npy")
	npy.WriteFile(scalar, tensor.New(tensor.F32))
	if _, err := NPY(scalar); err == nil || !strings.Contains(err.Error(), "0-d array has no sample axis") {
		t.Fatalf("scalar: %v", err)
	}
	if _, err := NPY(filepath.Join(dir, "missing.npy")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}

// TestImagesMatchPIL compares with torchvision's pipeline computed by PIL and numpy
// (scripts/fixtures/data_images.py). Without resizing, PNGs match to float32 rounding;
// resizing (x/image/draw vs PIL's bilinear) and JPEG decoding (Go's decoder vs libjpeg)
// differ by at most one and two code values.
func TestImagesMatchPIL(t *testing.T) {
	ref, err := npy.OpenNPZFile("testdata/images_ref.npz")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, tc := range []struct {
		name            string
		opts            ImageOptions
		pngTol, jpegTol float64 // in units of 1/255 before normalization
	}{
		{"full", ImageOptions{Size: 12}, 1e-3, 2.01},
		{"resized", ImageOptions{Size: 6, Crop: 5, Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225}}, 1.01, 2.01},
		{"gray", ImageOptions{Size: 6, Gray: true, Mean: []float32{0.5}, Std: []float32{0.25}, Layout: "NHWC"}, 1.01, 2.01},
	} {
		src, err := Images("testdata/images", tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.Load(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		b := readAll(t, src, 3)
		if len(b) != 2 || b[0].Len != 3 || b[1].Len != 1 {
			t.Fatalf("%s: batches %d", tc.name, len(b))
		}
		got := append(append([]float32{}, b[0].Inputs[""].F32()...), b[1].Inputs[""].F32()...)
		if !reflect.DeepEqual(append([]int{4}, src.Inputs()[0].Shape...), want.Shape) {
			t.Fatalf("%s: shape %v, PIL %v", tc.name, src.Inputs()[0].Shape, want.Shape)
		}
		w := want.F32()
		per := len(w) / 4
		std := tc.opts.Std
		if len(std) == 0 {
			std = []float32{1}
		}
		minStd := float64(std[0])
		for _, s := range std {
			minStd = math.Min(minStd, float64(s))
		}
		var maxPNG, maxJPEG float64
		for i := range w {
			d := math.Abs(float64(got[i]-w[i])) * 255 * minStd
			if i/per == 3 {
				maxJPEG = math.Max(maxJPEG, d)
			} else {
				maxPNG = math.Max(maxPNG, d)
			}
		}
		t.Logf("%s: max difference PNG %.3f/255, JPEG %.3f/255", tc.name, maxPNG, maxJPEG)
		for i := range w {
			tol := tc.pngTol
			if i/per == 3 { // d_photo.jpg
				tol = tc.jpegTol
			}
			if d := math.Abs(float64(got[i] - w[i])); d > tol/255/minStd+1e-6 {
				t.Fatalf("%s: image %d element %d = %v, PIL %v (tolerance %v/255)", tc.name, i/per, i%per, got[i], w[i], tc.pngTol)
			}
		}
	}
}

func TestImagesErrors(t *testing.T) {
	for _, tc := range []struct {
		opts ImageOptions
		want string
	}{
		{ImageOptions{}, `data: images "testdata/images": size must be at least 1, got 0`},
		{ImageOptions{Size: 4, Crop: 5}, `data: images "testdata/images": crop 5 must be between 1 and size 4`},
		{ImageOptions{Size: 4, Layout: "CHW"}, `data: images "testdata/images": layout "CHW": want "NCHW" or "NHWC"`},
		{ImageOptions{Size: 4, Mean: []float32{1, 2}}, `data: images "testdata/images": mean has 2 values, want 1 or 3 (one per channel)`},
		{ImageOptions{Size: 4, Std: []float32{0}}, `data: images "testdata/images": std 0 must be positive and finite`},
	} {
		if _, err := Images("testdata/images", tc.opts); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.want)
		}
	}
	dir := t.TempDir()
	if _, err := Images(dir, ImageOptions{Size: 4}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty folder: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "bad.png"), []byte("\x89PNG\r\n\x1a\nnot really"), 0o644)
	src, err := Images(dir, ImageOptions{Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := src.Open(context.Background())
	if _, err := r.Next(1); err == nil || !strings.Contains(err.Error(), "bad.png") {
		t.Errorf("corrupt image: %v", err)
	}
}

// FuzzNPY feeds arbitrary bytes to the streaming .npy source: it must fail cleanly or
// read every batch, never panic or over-allocate.
func FuzzNPY(f *testing.F) {
	b, err := os.ReadFile(models + "calib.npy")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:256])
	f.Add(b)
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(t.TempDir(), "x.npy")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := NPY(path)
		if err != nil {
			return
		}
		r, err := src.Open(context.Background())
		if err != nil {
			return
		}
		defer r.Close()
		for {
			if _, err := r.Next(7); err != nil {
				return
			}
		}
	})
}

// TestImagesBounded: a small file that declares, or resizes to, more than MaxImagePixels
// is refused before the pixels are allocated.
func TestImagesBounded(t *testing.T) {
	dir := t.TempDir()
	// A PNG header declaring 100000×100000 8-bit gray pixels (its IDAT never comes).
	header := pngHeader(100000, 100000)
	if err := os.WriteFile(filepath.Join(dir, "bomb.png"), header, 0o644); err != nil {
		t.Fatal(err)
	}
	wantErr(t, dir, ImageOptions{Size: 4}, `bomb.png: 100000×100000 pixels: outside 1..67108864`)

	// 1×40000 pixels decode fine (40 KB) but resize to 224×8960000.
	dir = t.TempDir()
	tall := image.NewGray(image.Rect(0, 0, 1, 40000))
	var buf bytes.Buffer
	if err := png.Encode(&buf, tall); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tall.png"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	wantErr(t, dir, ImageOptions{Size: 224, Gray: true}, `tall.png: 1×40000 pixels resize to 224×8960000, more than 67108864`)
}

func wantErr(t *testing.T, dir string, opts ImageOptions, suffix string) {
	t.Helper()
	src, err := Images(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(1); err == nil || !strings.HasSuffix(err.Error(), suffix) {
		t.Errorf("got %v, want an error ending in %q", err, suffix)
	}
}

// pngHeader returns the signature and IHDR chunk of an 8-bit grayscale PNG.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 0, 0, 0, 0) // depth 8, gray, deflate, no filter, no interlace
	chunk := append([]byte("IHDR"), ihdr...)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, uint32(len(ihdr)))
	out = append(out, chunk...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(chunk))
}

// TestFolder: one sample per file, .npy (anonymous) or .npz (inputs by name and a label),
// read a batch at a time; files that disagree are refused with both described.
func TestFolder(t *testing.T) {
	dir := t.TempDir()
	for i := range 3 {
		x := tensor.New(tensor.F32, 2)
		x.F32()[0] = float32(i)
		if err := npy.WriteFile(filepath.Join(dir, fmt.Sprintf("s%d.npy", i)), x); err != nil {
			t.Fatal(err)
		}
	}
	src, err := Folder(dir)
	if err != nil {
		t.Fatal(err)
	}
	batches := readAll(t, src, 2)
	if src.Len() != 3 || len(batches) != 2 || !slices.Equal(batches[0].Inputs[""].Shape, []int{2, 2}) || batches[1].Inputs[""].F32()[0] != 2 {
		t.Fatalf("npy folder: %d samples, %v", src.Len(), batches)
	}
	zdir := t.TempDir()
	for i := range 2 {
		arrays := map[string]*tensor.Tensor{"x": tensor.New(tensor.F32, 3), "sr": tensor.New(tensor.I64), "label": tensor.New(tensor.I64)}
		arrays["label"].I64()[0] = int64(i)
		err := npy.WriteNPZ(context.Background(), filepath.Join(zdir, fmt.Sprintf("%02d.npz", i)), []string{"x", "sr", "label"}, false,
			func(name string) (*tensor.Tensor, error) { return arrays[name], nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	zsrc, err := Folder(zdir)
	if err != nil {
		t.Fatal(err)
	}
	if !zsrc.HasTarget() || len(zsrc.Inputs()) != 2 || zsrc.Inputs()[0].Name != "sr" || len(zsrc.Inputs()[0].Shape) != 0 {
		t.Fatalf("npz folder inputs %v", zsrc.Inputs())
	}
	b := readAll(t, zsrc, 2)[0]
	if b.Target.I64()[1] != 1 || !slices.Equal(b.Inputs["sr"].Shape, []int{2}) {
		t.Fatalf("npz batch %v", b)
	}
	bad := tensor.New(tensor.F32, 5)
	if err := npy.WriteFile(filepath.Join(dir, "s9.npy"), bad); err != nil {
		t.Fatal(err)
	}
	if _, err := Folder(dir); err == nil || !strings.Contains(err.Error(), "s9.npy holds array F32[5], s0.npy holds array F32[2]") {
		t.Fatalf("ragged folder: %v", err)
	}
}
