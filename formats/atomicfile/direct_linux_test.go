package atomicfile

import (
	"bytes"
	"cmp"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDirectPiecesInAnyOrder writes a file of a little over four blocks through Direct in
// pieces of random sizes and order, with room for only two incomplete blocks (so some are
// given up to the page cache), and requires exactly the bytes written.
func TestDirectPiecesInAnyOrder(t *testing.T) {
	defer func(n int) { maxOpenBlocks = n }(maxOpenBlocks)
	rng := rand.New(rand.NewPCG(7, 8))
	want := make([]byte, 4*DirectBlock+12345)
	for i := range want {
		want[i] = byte(rng.IntN(256))
	}
	for _, open := range []int{16, 2} {
		maxOpenBlocks = open
		path := filepath.Join(t.TempDir(), "out.bin")
		f, err := Create(path)
		if err != nil {
			t.Fatal(err)
		}
		d, err := f.OpenDirect()
		if err != nil {
			f.Abort()
			t.Skipf("no O_DIRECT here: %v", err)
		}
		var cuts [][2]int
		for at := 0; at < len(want); {
			n := min(len(want)-at, 1+rng.IntN(DirectBlock/3))
			cuts = append(cuts, [2]int{at, at + n})
			at += n
		}
		rng.Shuffle(len(cuts), func(i, j int) { cuts[i], cuts[j] = cuts[j], cuts[i] })
		for _, c := range cuts {
			if _, err := d.WriteAt(want[c[0]:c[1]], int64(c[0])); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Commit(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("open=%d: file of %d bytes differs from the %d written", open, len(got), len(want))
		}
	}
}

// TestDirectShortFileFails: a gap in the last block is an error, not a file with zeros.
func TestDirectShortFileFails(t *testing.T) {
	f, err := Create(filepath.Join(t.TempDir(), "out.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	d, err := f.OpenDirect()
	if err != nil {
		t.Skipf("no O_DIRECT here: %v", err)
	}
	d.WriteAt([]byte("abc"), 0)
	d.WriteAt([]byte("xyz"), 10)
	if err := d.Close(); err == nil {
		t.Fatal("Close accepted a gap")
	}
}

// TestDirectWriteBehindError: a full block that fails to reach the disk (written behind,
// after WriteAt returned) fails a later WriteAt or Close, and Close still returns.
func TestDirectWriteBehindError(t *testing.T) {
	f, err := Create(filepath.Join(t.TempDir(), "out.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	d, err := f.OpenDirect()
	if err != nil {
		t.Skipf("no O_DIRECT here: %v", err)
	}
	defer func(w func(int, []byte, int64) error) { writeBlock = w }(writeBlock)
	writeBlock = func(int, []byte, int64) error { return errors.New("disk full") }
	block := make([]byte, DirectBlock)
	var werr error
	for i := range 2 * writeBehind {
		if _, werr = d.WriteAt(block, int64(i)*DirectBlock); werr != nil {
			break
		}
	}
	cerr := d.Close()
	if err := cmp.Or(werr, cerr); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("a failed block write gave %v, want the write's error", err)
	}
}
