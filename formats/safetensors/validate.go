package safetensors

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"

	"github.com/qscript-dev/qscript/tensor"

	"github.com/qscript-dev/qscript/internal/clip"
)

// entry is a validated tensor record: its byte range lies inside the data section and is
// exactly numel×size long.
type entry struct {
	info       tensor.Info
	begin, end uint64 // relative to the start of the data section
}

// dtypeByName maps the exact safetensors dtype names qscript handles.
var dtypeByName = func() map[string]tensor.DType {
	m := map[string]tensor.DType{}
	for _, d := range tensor.DTypes {
		m[d.String()] = d
	}
	return m
}()

// knownUnsupported are dtypes of the safetensors format that qscript's tensor package does
// not hold; they get a clearer error than a misspelled name.
var knownUnsupported = map[string]bool{
	"U16": true, "U32": true, "U64": true, "C64": true,
	"F8_E8M0": true, "F4": true, "F6_E2M3": true, "F6_E3M2": true,
}

// validate checks every entry against the data section of dataSize bytes and returns them
// in header order.
func validate(h *rawHeader, dataSize uint64) ([]entry, error) {
	out := make([]entry, 0, len(h.entries))
	for _, raw := range h.entries {
		e, err := validateEntry(raw, dataSize)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", raw.name, err)
		}
		out = append(out, e)
	}
	if err := checkLayout(out, dataSize); err != nil {
		return nil, err
	}
	return out, nil
}

func validateEntry(raw rawEntry, dataSize uint64) (entry, error) {
	dt, ok := dtypeByName[raw.dtype]
	if !ok {
		if knownUnsupported[raw.dtype] {
			return entry{}, fmt.Errorf("%w: %q", ErrUnsupportedDType, raw.dtype)
		}
		return entry{}, fmt.Errorf("%w %s", ErrUnknownDType, clip.Quote(raw.dtype))
	}
	shape := make([]int, len(raw.shape))
	numel := uint64(1)
	for i, d := range raw.shape {
		hi, lo := bits.Mul64(numel, d)
		if hi != 0 || d > maxInt {
			return entry{}, fmt.Errorf("%w: %v: element count overflows", ErrInvalidShape, raw.shape)
		}
		numel = lo
		shape[i] = int(d)
	}
	hi, nbytes := bits.Mul64(numel, uint64(dt.Size()))
	if hi != 0 || nbytes > maxInt {
		return entry{}, fmt.Errorf("%w: %v: byte count overflows", ErrInvalidShape, raw.shape)
	}
	if raw.begin > raw.end {
		return entry{}, fmt.Errorf("%w: [%d, %d] ends before it begins", ErrInvalidOffsets, raw.begin, raw.end)
	}
	if raw.end > dataSize {
		return entry{}, fmt.Errorf("%w: [%d, %d] but the data section holds %d bytes",
			ErrOffsetsPastEOF, raw.begin, raw.end, dataSize)
	}
	if raw.end-raw.begin != nbytes {
		return entry{}, fmt.Errorf("%w: %v %v needs %d bytes, data_offsets [%d, %d] hold %d",
			ErrSizeMismatch, dt, raw.shape, nbytes, raw.begin, raw.end, raw.end-raw.begin)
	}
	return entry{info: tensor.Info{Name: raw.name, DType: dt, Shape: shape}, begin: raw.begin, end: raw.end}, nil
}

// checkLayout requires the byte ranges, in offset order, to tile the data section exactly:
// no overlap (two names reading the same bytes), no gap and nothing after the last tensor.
func checkLayout(entries []entry, dataSize uint64) error {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end))
	})
	var prevEnd uint64
	prevName := ""
	for _, e := range sorted {
		switch {
		case e.begin < prevEnd:
			return fmt.Errorf("tensor %q: %w: begins at %d, inside tensor %q which ends at %d",
				e.info.Name, ErrOffsetsOverlap, e.begin, prevName, prevEnd)
		case e.begin > prevEnd:
			return fmt.Errorf("tensor %q: %w: begins at %d, but the previous tensor ends at %d",
				e.info.Name, ErrOffsetsGap, e.begin, prevEnd)
		}
		prevEnd, prevName = e.end, e.info.Name
	}
	if prevEnd != dataSize {
		return fmt.Errorf("%w: tensors end at %d, the data section holds %d bytes", ErrTrailingData, prevEnd, dataSize)
	}
	return nil
}

const maxInt = uint64(int(^uint(0) >> 1))
