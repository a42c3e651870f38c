package llamagguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/qscript-dev/qscript/formats/gguf"
	"github.com/qscript-dev/qscript/internal/paths"
)

// Imatrix holds llama.cpp importance-matrix weights: for each tensor, one weight per column
// (the mean of the squared activations that column multiplied), which the quantizers use to
// weigh their rounding errors.
type Imatrix struct {
	Path    string
	Entries map[string][]float32
}

// maxImatrixValues bounds one entry (a 256k-column row of experts would be far below).
const maxImatrixValues = 1 << 28

// ReadImatrix reads an importance matrix written by llama-imatrix: the GGUF format
// (<name>.in_sum2 and <name>.counts tensors) or the legacy .dat format. Values are
// normalized as llama-quantize's load_imatrix does.
func ReadImatrix(path string) (*Imatrix, error) {
	f, err := paths.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var head [4]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return nil, fmt.Errorf("%s: not an imatrix file: %v", path, err)
	}
	var m *Imatrix
	if string(head[:]) == gguf.Magic {
		m, err = readGGUFImatrix(f, st.Size())
	} else {
		m, err = readLegacyImatrix(io.NewSectionReader(f, 0, st.Size()), st.Size())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.Path = path
	return m, nil
}

// readLegacyImatrix reads the .dat format: int32 entry count, then per entry an int32 name
// length, the name, int32 ncall, int32 nval and nval float32 sums (already divided by the
// token count and multiplied by ncall), then optionally the chunk count and dataset name.
func readLegacyImatrix(r io.Reader, size int64) (*Imatrix, error) {
	br := bufio.NewReader(r)
	var n int32
	if err := binary.Read(br, binary.LittleEndian, &n); err != nil || n < 1 {
		return nil, fmt.Errorf("legacy imatrix: no entries")
	}
	left := size - 4
	m := &Imatrix{Entries: map[string][]float32{}}
	for i := range int(n) {
		var nameLen int32
		if err := binary.Read(br, binary.LittleEndian, &nameLen); err != nil || nameLen < 0 || int64(nameLen) > left {
			return nil, fmt.Errorf("legacy imatrix: entry %d: bad name length", i)
		}
		name := make([]byte, nameLen)
		var hdr [2]int32
		if _, err := io.ReadFull(br, name); err != nil {
			return nil, fmt.Errorf("legacy imatrix: entry %d: %w", i, err)
		}
		if err := binary.Read(br, binary.LittleEndian, &hdr); err != nil {
			return nil, fmt.Errorf("legacy imatrix: entry %q: %w", name, err)
		}
		ncall, nval := hdr[0], hdr[1]
		left -= 12 + int64(nameLen)
		if nval < 1 || nval > maxImatrixValues || int64(nval)*4 > left {
			return nil, fmt.Errorf("legacy imatrix: entry %q: %d values in %d bytes", name, nval, left)
		}
		sums := make([]float32, nval) // bounded by the file size
		if err := binary.Read(br, binary.LittleEndian, sums); err != nil {
			return nil, fmt.Errorf("legacy imatrix: entry %q: %w", name, err)
		}
		left -= 4 * int64(nval)
		if ncall > 0 {
			for j := range sums {
				sums[j] /= float32(ncall)
			}
		}
		m.Entries[string(name)] = sums
	}
	return m, nil
}

// readGGUFImatrix reads llama-imatrix's GGUF output: F32 tensors <name>.in_sum2 (sums of
// squared activations, per expert) and <name>.counts (tokens per expert).
func readGGUFImatrix(r io.ReaderAt, size int64) (*Imatrix, error) {
	f, err := gguf.Open(r, size)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size"} {
		if _, ok := f.Get(k); !ok {
			return nil, fmt.Errorf("not an imatrix GGUF: no %s", k)
		}
	}
	m := &Imatrix{Entries: map[string][]float32{}}
	for _, t := range f.Tensors {
		name, ok := strings.CutSuffix(t.Name, ".in_sum2")
		if !ok {
			continue
		}
		sums, err := readF32Tensor(f, t.Name)
		if err != nil {
			return nil, err
		}
		counts, err := readF32Tensor(f, name+".counts")
		if err != nil {
			return nil, err
		}
		if len(counts) == 0 || len(sums)%len(counts) != 0 {
			return nil, fmt.Errorf("imatrix %q: %d sums for %d counts", name, len(sums), len(counts))
		}
		per := len(sums) / len(counts)
		for j, c := range counts {
			cnt := float32(math.Round(float64(c)))
			for i := j * per; i < (j+1)*per; i++ {
				if cnt > 0 {
					sums[i] /= cnt
				} else {
					sums[i] = 1
				}
			}
		}
		m.Entries[name] = sums
	}
	if len(m.Entries) == 0 {
		return nil, errors.New("imatrix GGUF holds no <name>.in_sum2 tensors")
	}
	return m, nil
}

func readF32Tensor(f *gguf.File, name string) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("imatrix: no tensor %s", name)
	}
	if t.Type != gguf.TypeF32 {
		return nil, fmt.Errorf("imatrix: tensor %s is %s, not F32", name, t.Type)
	}
	s, err := f.Section(name)
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.Size/4) // the reader checked Size against the file
	return out, binary.Read(s, binary.LittleEndian, out)
}

// weights returns the column weights for a tensor of ncols columns, or nil when the matrix
// has none for it (llama-quantize quantizes such tensors without). A size mismatch is an
// error except for token_embd, as in llama-quantize.
func (m *Imatrix) weights(name string, ncols int) ([]float32, error) {
	w, ok := m.Entries[name]
	if !ok {
		return nil, nil
	}
	if len(w) != ncols {
		if name == "token_embd.weight" {
			return nil, nil
		}
		return nil, fmt.Errorf("%s has %d weights for %d columns", m.Path, len(w), ncols)
	}
	return w, nil
}
