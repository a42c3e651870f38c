// Package parallel is the one parallel-for of quant's kernels and quantize's save: split
// work into disjoint pieces, run them on up to GOMAXPROCS goroutines once the input is
// large enough to pay for starting them, and return the error of the first piece in index
// order, so results and errors never depend on scheduling. (graph keeps an allocation-free
// variant of the same policy for the executor, whose Runs must make no garbage, on top of
// Split, which fans a range out over a worker count the caller chose.)
package parallel
