// Package budget carries a run's memory limit in its context, so that any package that
// plans a large allocation (a tensor from a recipe, per-channel parameters, a graph
// intermediate, a string a recipe builds) can refuse it with a clear error before the Go
// runtime would kill the process. The limit is checked against what the allocation needs
// plus the heap that is live already.
package budget
