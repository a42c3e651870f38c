// Package golden reads the case folders that scripts/fixtures/ggml_quant.c writes from
// ggml's own ggml_quantize_chunk and dequantize_row_* (see that file for the layout), and
// compares quant/ggml's output with them block by block. The committed fixtures
// (quant/ggml/testdata) and interop/35-ggml-quant.sh's live runs share it.
package golden

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qscript-dev/qscript/quant/ggml"
)

// Case is one matrix of weights and its importance vector.
type Case struct {
	Name       string
	Rows, Cols int
	X, Imatrix []float32
	offset     int // index of the case's first element among all cases' elements
}

// Set is a case folder.
type Set struct {
	Dir, Lib string
	Cases    []Case
	deq      map[string]uint64 // "TYPE PLAIN|IMATRIX CASE" -> FNV-1a of ggml's dequantized floats
}

// Load reads dir's cases.txt, input.f32 and imatrix.f32.
func Load(dir string) (*Set, error) {
	s := &Set{Dir: dir, deq: map[string]uint64{}}
	f, err := os.Open(filepath.Join(dir, "cases.txt"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		w := strings.Fields(sc.Text())
		bad := fmt.Errorf("%s/cases.txt:%d: malformed line %q", dir, line, sc.Text())
		switch {
		case len(w) == 3 && w[0] == "lib":
			s.Lib = w[1] + " (" + w[2] + ")"
		case len(w) == 4 && w[0] == "case":
			r, err1 := strconv.Atoi(w[2])
			c, err2 := strconv.Atoi(w[3])
			if err1 != nil || err2 != nil || r < 1 || c < 1 || r > 1<<20 || c > 1<<20 {
				return nil, bad
			}
			s.Cases = append(s.Cases, Case{Name: w[1], Rows: r, Cols: c})
		case len(w) == 5 && w[0] == "deq":
			h, err := strconv.ParseUint(w[4], 16, 64)
			if err != nil {
				return nil, bad
			}
			s.deq[w[1]+" "+w[2]+" "+w[3]] = h
		default:
			return nil, bad
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	x, err := readF32(filepath.Join(dir, "input.f32"))
	if err != nil {
		return nil, err
	}
	im, err := readF32(filepath.Join(dir, "imatrix.f32"))
	if err != nil {
		return nil, err
	}
	var nx, nim int
	for i := range s.Cases {
		c := &s.Cases[i]
		n := c.Rows * c.Cols
		if nx+n > len(x) || nim+c.Cols > len(im) {
			return nil, fmt.Errorf("%s: input.f32 or imatrix.f32 is shorter than cases.txt says", dir)
		}
		c.X, c.Imatrix, c.offset = x[nx:nx+n], im[nim:nim+c.Cols], nx
		nx, nim = nx+n, nim+c.Cols
	}
	if nx != len(x) || nim != len(im) {
		return nil, fmt.Errorf("%s: input.f32 or imatrix.f32 is longer than cases.txt says", dir)
	}
	return s, nil
}

func readF32(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of float32", path, len(b))
	}
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x, nil
}

// Result counts the blocks of one type (with or without the imatrix) over all cases.
type Result struct {
	Type       ggml.Type
	Imatrix    bool
	Blocks     int      // blocks compared
	Identical  int      // blocks equal byte for byte
	Mismatches []string // the first few differing blocks, described
	Dequant    string   // "" when DequantizeRows matched ggml's on every case, else what differed
	DequantN   int      // values compared with ggml's dequantization
}

const maxReported = 5

// Check quantizes every case with ggml.QuantizeRows and compares with dir's TYPE.plain or
// TYPE.imatrix (F32: with the input, which ggml_quant checked ggml copies); then
// dequantizes ggml's bytes with ggml.DequantizeRows and compares with ggml's dequantized
// values (TYPE.deq when present, else the hashes in cases.txt). A missing TYPE.imatrix
// file is fs.ErrNotExist: ggml's quantizer for that type ignores the imatrix.
func (s *Set) Check(t ggml.Type, imatrix bool) (*Result, error) {
	res := &Result{Type: t, Imatrix: imatrix}
	want, err := s.expected(t, imatrix)
	if err != nil {
		return nil, err
	}
	deqAll, err := os.ReadFile(filepath.Join(s.Dir, t.String()+".deq"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	kind := "PLAIN"
	if imatrix {
		kind = "IMATRIX"
	}
	block := t.TypeSize()
	off, deqOff := 0, 0
	if imatrix && deqAll != nil { // TYPE.deq holds the plain cases first
		deqOff = s.deqBytes(t)
	}
	for _, c := range s.Cases {
		if c.Cols%t.BlockSize() != 0 {
			continue // ggml_quant skips rows that do not divide into t's blocks
		}
		rs, err := ggml.RowSize(t, c.Cols)
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", c.Name, err)
		}
		n := rs * c.Rows
		if off+n > len(want) {
			return nil, fmt.Errorf("%s %s: ggml's file is shorter than the cases", t, kind)
		}
		ref := want[off : off+n]
		off += n
		var im []float32
		if imatrix {
			im = c.Imatrix
		}
		got := make([]byte, n)
		if err := ggml.QuantizeRows(t, got, c.X, c.Rows, c.Cols, im); err != nil {
			return nil, fmt.Errorf("case %s: %w", c.Name, err)
		}
		res.compareBlocks(c.Name, got, ref, block, rs)
		if t == ggml.F32 || res.Dequant != "" {
			continue
		}
		y := make([]float32, c.Rows*c.Cols)
		if err := ggml.DequantizeRows(t, y, ref, c.Rows, c.Cols); err != nil {
			return nil, fmt.Errorf("case %s: %w", c.Name, err)
		}
		yb := make([]byte, 4*len(y))
		for i, v := range y {
			binary.LittleEndian.PutUint32(yb[4*i:], math.Float32bits(v))
		}
		res.DequantN += len(y)
		if deqAll != nil {
			if deqOff+len(yb) > len(deqAll) {
				return nil, fmt.Errorf("%s.deq is shorter than the cases", t)
			}
			if i := firstDiff(yb, deqAll[deqOff:deqOff+len(yb)]); i >= 0 {
				res.Dequant = fmt.Sprintf("case %s element %d: got %g, ggml %g", c.Name, i/4,
					y[i/4], math.Float32frombits(binary.LittleEndian.Uint32(deqAll[deqOff+i/4*4:])))
			}
			deqOff += len(yb)
			continue
		}
		wantHash, ok := s.deq[t.String()+" "+kind+" "+c.Name]
		if !ok {
			return nil, fmt.Errorf("cases.txt has no dequantization hash for %s %s %s", t, kind, c.Name)
		}
		h := fnv.New64a()
		h.Write(yb)
		if h.Sum64() != wantHash {
			res.Dequant = fmt.Sprintf("case %s: FNV-1a %016x, ggml's %016x", c.Name, h.Sum64(), wantHash)
		}
	}
	if off != len(want) {
		return nil, fmt.Errorf("%s %s: ggml's file is longer than the cases", t, kind)
	}
	return res, nil
}

// deqBytes is the size of the dequantized values of the cases that divide into t's blocks.
func (s *Set) deqBytes(t ggml.Type) int {
	n := 0
	for _, c := range s.Cases {
		if c.Cols%t.BlockSize() == 0 {
			n += 4 * c.Rows * c.Cols
		}
	}
	return n
}

// compareBlocks counts the blocks of got equal to ggml's ref byte for byte, describing the
// first few that differ (rowSize bytes a row).
func (res *Result) compareBlocks(name string, got, ref []byte, block, rowSize int) {
	for b := 0; b < len(got)/block; b++ {
		res.Blocks++
		g, w := got[b*block:(b+1)*block], ref[b*block:(b+1)*block]
		if string(g) == string(w) {
			res.Identical++
		} else if len(res.Mismatches) < maxReported {
			res.Mismatches = append(res.Mismatches, fmt.Sprintf("case %s block %d (row %d): got %x, ggml %x",
				name, b, b/(rowSize/block), g, w))
		}
	}
}

func (s *Set) expected(t ggml.Type, imatrix bool) ([]byte, error) {
	if t == ggml.F32 {
		if imatrix {
			return nil, fs.ErrNotExist
		}
		var b []byte
		for _, c := range s.Cases {
			for _, v := range c.X {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
			}
		}
		return b, nil
	}
	name := t.String() + ".plain"
	if imatrix {
		name = t.String() + ".imatrix"
	}
	return os.ReadFile(filepath.Join(s.Dir, name))
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
