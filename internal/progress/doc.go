// Package progress holds what qscript's one-line terminal progress bars share (calibration,
// GGUF conversion, qs.llm and qs.save's writes): whether a writer is a terminal, a line
// redrawn in place at most every 100 ms, the rate since the start, the "[===   ]" bar and
// the time left. Each caller writes its own line's words and decides when a bar is wanted.
package progress
