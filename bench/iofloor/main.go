// Command iofloor is the I/O floor of bench/45-weight-only-floor.sh: the least any tool can
// do to turn one file into another of a given size.
//
//	iofloor IN OUT BYTES    reads IN to its end, writes BYTES bytes to OUT, fsyncs, closes
//
// It reads and writes in 4 MiB blocks with plain read(2) and write(2), one after the other,
// writing back the bytes it read (so the page cache holds real data, not zeros), and fsyncs
// once at the end: the time of a whole-process run is what reading the input from the page
// cache and making an output of that size durable cost on this machine.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
)

const block = 4 << 20

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: iofloor IN OUT BYTES")
		os.Exit(2)
	}
	size, err := strconv.ParseInt(os.Args[3], 10, 64)
	if err != nil || size < 0 {
		fmt.Fprintf(os.Stderr, "iofloor: BYTES must be a byte count, got %q\n", os.Args[3])
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], size); err != nil {
		fmt.Fprintln(os.Stderr, "iofloor:", err)
		os.Exit(1)
	}
}

func run(in, out string, size int64) error {
	buf := make([]byte, block)
	src, err := os.Open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	for {
		_, err := src.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	dst, err := os.Create(out)
	if err != nil {
		return err
	}
	for size > 0 {
		n := min(size, block)
		if _, err := dst.Write(buf[:n]); err != nil {
			dst.Close()
			return err
		}
		size -= n
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
