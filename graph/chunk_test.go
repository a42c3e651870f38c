package graph

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// TestChunkCarveAndMerge takes and gives back spans of random sizes in random order and
// checks after every step that the spans in use and the free spans tile each chunk
// exactly, without overlap, and that the free spans are merged (never adjacent): once
// everything is given back, each chunk is one free span again.
func TestChunkCarveAndMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	chunks := []*chunk{{mem: make([]byte, 4096), free: []span{{0, 4096}}}, {mem: make([]byte, 1024), free: []span{{0, 1024}}}}
	type use struct {
		c      *chunk
		off, n int
	}
	var used []use
	for step := 0; step < 2000; step++ {
		if len(used) > 0 && rng.IntN(2) == 0 {
			k := rng.IntN(len(used))
			u := used[k]
			u.c.giveBack(u.off, u.n)
			used = slices.Delete(used, k, k+1)
		} else {
			n := 1 + rng.IntN(700)
			if c, off := carve(chunks, n); c != nil {
				used = append(used, use{c, off, n})
			}
		}
		for _, c := range chunks {
			covered := make([]int, len(c.mem))
			for i, s := range c.free {
				if i > 0 && c.free[i-1].off+c.free[i-1].n >= s.off {
					t.Fatalf("step %d: free spans %v overlap or touch", step, c.free)
				}
				for b := s.off; b < s.off+s.n; b++ {
					covered[b]++
				}
			}
			for _, u := range used {
				if u.c == c {
					for b := u.off; b < u.off+spanSize(u.n); b++ {
						covered[b]++
					}
				}
			}
			for b, k := range covered {
				if k != 1 {
					t.Fatalf("step %d: byte %d of a chunk is in %d spans", step, b, k)
				}
			}
		}
	}
	for _, u := range used {
		u.c.giveBack(u.off, u.n)
	}
	for _, c := range chunks {
		if !c.empty() {
			t.Fatalf("every span given back, yet the chunk's free spans are %v", c.free)
		}
	}
}

// TestScratchFromChunks takes scratch from several goroutines at once, as a kernel's
// workers do, gives back all but one, and checks that the buffers never overlap, that the
// Run's end reclaims the one not given back, and that the same requests in the next Run
// need no new chunk.
func TestScratchFromChunks(t *testing.T) {
	a := &arena{}
	first := 0
	for run := 0; run < 3; run++ {
		var wg sync.WaitGroup
		bufs := make([][]float32, 8)
		for w := range bufs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				bufs[w] = a.getScratch(1000 + 100*w)
				for i := range bufs[w] {
					bufs[w][i] = float32(w)
				}
			}()
		}
		wg.Wait()
		for w, b := range bufs {
			for _, v := range b {
				if v != float32(w) {
					t.Fatalf("run %d: scratch buffers overlap", run)
				}
			}
			if w > 0 {
				a.putScratch(b)
			}
		}
		a.finish(false)
		for _, c := range a.chunks {
			if !c.empty() {
				t.Fatalf("run %d: after the Run a chunk still has spans in use: free %v of %d", run, c.free, len(c.mem))
			}
		}
		if run == 0 {
			first = len(a.chunks)
		} else if n := len(a.chunks); n != first {
			t.Fatalf("run %d: %d chunks, the first run made %d", run, n, first)
		}
	}
}
