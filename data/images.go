package data

import (
	"context"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // decoders for image.Decode
	_ "image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	xdraw "golang.org/x/image/draw"

	"github.com/qscript-dev/qscript/tensor"

	"github.com/qscript-dev/qscript/internal/paths"
)

// ImageOptions says how Images turns a picture into a model input.
type ImageOptions struct {
	// Size is the length the shorter side is resized to (bilinear, antialiased when
	// shrinking). Required.
	Size int
	// Crop is the side of the square center crop taken after resizing; 0 means Size.
	Crop int
	// Mean and Std normalize each channel after scaling to [0, 1]: (x - mean) / std.
	// Empty means mean 0 and std 1; one value applies to every channel.
	Mean, Std []float32
	// Layout is "NCHW" (default, torchvision's) or "NHWC".
	Layout string
	// Gray converts to one luminance channel (PIL's "L": (19595 R + 38470 G + 7471 B +
	// 2^15) >> 16) before resizing; otherwise images are RGB (alpha dropped).
	Gray bool
}

// MaxImagePixels caps the size of one image, decoded and resized, against decompression
// bombs: a PNG of a few KB can declare 2^31 pixels, and one a single pixel wide resizes to
// Size × its height. 64 Mpx (8192×8192) is a little under PIL's own limit; decoding one
// takes at most ~1 GB (16-bit RGBA, its 8-bit copy and the channel planes).
const MaxImagePixels = 1 << 26

// Images is a source over the PNG and JPEG files directly inside dir (.png, .jpg,
// .jpeg, any case), in sorted name order, without targets. Each image is decoded when
// its batch is read: resized so that its shorter side is Size, center-cropped to
// Crop×Crop, scaled to [0, 1] and normalized with Mean and Std, as torchvision's
// Resize, CenterCrop, ToTensor and Normalize do. The input is float32, anonymous.
func Images(dir string, opts ImageOptions) (Source, error) {
	if opts.Size < 1 {
		return nil, fmt.Errorf("data: images %q: size must be at least 1, got %d", dir, opts.Size)
	}
	if opts.Crop == 0 {
		opts.Crop = opts.Size
	}
	if opts.Crop < 1 || opts.Crop > opts.Size {
		return nil, fmt.Errorf("data: images %q: crop %d must be between 1 and size %d", dir, opts.Crop, opts.Size)
	}
	switch opts.Layout {
	case "":
		opts.Layout = "NCHW"
	case "NCHW", "NHWC":
	default:
		return nil, fmt.Errorf("data: images %q: layout %q: want \"NCHW\" or \"NHWC\"", dir, opts.Layout)
	}
	channels := 3
	if opts.Gray {
		channels = 1
	}
	mean, err := perChannel("mean", opts.Mean, channels, 0)
	if err != nil {
		return nil, fmt.Errorf("data: images %q: %w", dir, err)
	}
	std, err := perChannel("std", opts.Std, channels, 1)
	if err != nil {
		return nil, fmt.Errorf("data: images %q: %w", dir, err)
	}
	for _, s := range std {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return nil, fmt.Errorf("data: images %q: std %v must be positive and finite", dir, s)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var files []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".jpeg":
			if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("data: images %q: no .png or .jpg files: %w", dir, ErrEmpty)
	}
	shape := []int{channels, opts.Crop, opts.Crop}
	if opts.Layout == "NHWC" {
		shape = []int{opts.Crop, opts.Crop, channels}
	}
	return &imageSource{name: filepath.Base(dir), files: files, opts: opts, mean: mean, std: std, shape: shape}, nil
}

func perChannel(what string, v []float32, channels int, def float32) ([]float32, error) {
	switch len(v) {
	case 0:
		out := make([]float32, channels)
		for i := range out {
			out[i] = def
		}
		return out, nil
	case 1:
		out := make([]float32, channels)
		for i := range out {
			out[i] = v[0]
		}
		return out, nil
	case channels:
		return append([]float32{}, v...), nil
	}
	return nil, fmt.Errorf("%s has %d values, want 1 or %d (one per channel)", what, len(v), channels)
}

type imageSource struct {
	name      string
	files     []string
	opts      ImageOptions
	mean, std []float32
	shape     []int
}

func (s *imageSource) Name() string { return s.name }
func (s *imageSource) Len() int     { return len(s.files) }

// Files lists the image files the source reads, so that a host can confine them (a
// symbolic link in the folder may point anywhere).
func (s *imageSource) Files() []string { return slices.Clone(s.files) }
func (s *imageSource) HasTarget() bool { return false }

func (s *imageSource) Inputs() []tensor.Info {
	return []tensor.Info{{Name: "", DType: tensor.F32, Shape: append([]int{}, s.shape...)}}
}

func (s *imageSource) Open(ctx context.Context) (Reader, error) {
	return &imageReader{src: s}, nil
}

type imageReader struct {
	src  *imageSource
	next int
}

func (r *imageReader) Next(max int) (*Batch, error) {
	if max < 1 {
		return nil, fmt.Errorf("data: batch size %d: must be at least 1", max)
	}
	files := r.src.files
	if r.next >= len(files) {
		return nil, io.EOF
	}
	lo, hi := r.next, min(r.next+max, len(files))
	per := r.src.shape[0] * r.src.shape[1] * r.src.shape[2]
	out := make([]float32, (hi-lo)*per)
	for i := lo; i < hi; i++ {
		if err := r.src.load(out[(i-lo)*per:(i-lo+1)*per], files[i]); err != nil {
			return nil, err
		}
	}
	r.next = hi
	t := tensor.FromF32(append([]int{hi - lo}, r.src.shape...), out)
	return &Batch{Inputs: map[string]*tensor.Tensor{"": t}, Len: hi - lo}, nil
}

func (r *imageReader) Close() error { return nil }

// load decodes, resizes, crops and normalizes one image into dst (one sample).
func (s *imageSource) load(dst []float32, path string) error {
	img, err := decodeImage(path)
	if err != nil {
		return fmt.Errorf("data: images %q: %w", s.name, err)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	rw, rh := resizedSize(w, h, s.opts.Size)
	if int64(rw)*int64(rh) > MaxImagePixels {
		return fmt.Errorf("data: images %q: %s: %d×%d pixels resize to %d×%d, more than %d", s.name, filepath.Base(path), w, h, rw, rh, MaxImagePixels)
	}
	planes := toPlanes(img, s.opts.Gray)
	if rw != w || rh != h {
		planes = resize(planes, rw, rh)
	}
	crop := s.opts.Crop
	// torchvision's CenterCrop: top = int(round((h - crop) / 2.0)), Python's round half to even.
	top := int(math.RoundToEven(float64(rh-crop) / 2))
	left := int(math.RoundToEven(float64(rw-crop) / 2))
	c := len(planes)
	for ch, p := range planes {
		for y := 0; y < crop; y++ {
			row := p.Pix[(top+y)*p.Stride+left:]
			for x := 0; x < crop; x++ {
				v := (float32(row[x])/255 - s.mean[ch]) / s.std[ch]
				if s.opts.Layout == "NHWC" {
					dst[(y*crop+x)*c+ch] = v
				} else {
					dst[(ch*crop+y)*crop+x] = v
				}
			}
		}
	}
	return nil
}

func decodeImage(path string) (image.Image, error) {
	f, err := paths.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return nil, fmt.Errorf("%s: %d×%d pixels: outside 1..%d", filepath.Base(path), cfg.Width, cfg.Height, MaxImagePixels)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return img, nil
}

// resizedSize scales the shorter side to size, as torchvision's Resize(int) does: the
// longer side is int(size * long / short), truncated.
func resizedSize(w, h, size int) (int, int) {
	if w <= h {
		return size, max(1, int(int64(size)*int64(h)/int64(w)))
	}
	return max(1, int(int64(size)*int64(w)/int64(h))), size
}

// toPlanes splits an image into 8-bit channel planes (R, G, B or one gray plane), with
// colours not premultiplied by alpha, as PIL's convert("RGB") / convert("L") keep them.
func toPlanes(img image.Image, gray bool) []*image.Gray {
	b := img.Bounds()
	r := image.Rect(0, 0, b.Dx(), b.Dy())
	if g, ok := img.(*image.Gray); ok && gray {
		p := image.NewGray(r)
		draw.Draw(p, r, g, b.Min, draw.Src)
		return []*image.Gray{p}
	}
	rgba := image.NewNRGBA(r)
	draw.Draw(rgba, r, img, b.Min, draw.Src)
	n := b.Dx() * b.Dy()
	if gray {
		p := image.NewGray(r)
		for i := 0; i < n; i++ {
			r, g, bl := uint32(rgba.Pix[4*i]), uint32(rgba.Pix[4*i+1]), uint32(rgba.Pix[4*i+2])
			p.Pix[i] = uint8((r*19595 + g*38470 + bl*7471 + 0x8000) >> 16)
		}
		return []*image.Gray{p}
	}
	planes := make([]*image.Gray, 3)
	for ch := range planes {
		p := image.NewGray(r)
		for i := 0; i < n; i++ {
			p.Pix[i] = rgba.Pix[4*i+ch]
		}
		planes[ch] = p
	}
	return planes
}

// resize scales each plane with x/image/draw's bilinear kernel, which widens its support
// when shrinking (antialiasing), as PIL's BILINEAR resample does.
func resize(planes []*image.Gray, w, h int) []*image.Gray {
	out := make([]*image.Gray, len(planes))
	for i, p := range planes {
		dst := image.NewGray(image.Rect(0, 0, w, h))
		xdraw.BiLinear.Scale(dst, dst.Bounds(), p, p.Bounds(), xdraw.Src, nil)
		out[i] = dst
	}
	return out
}
