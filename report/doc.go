// Package report is the quantization report: a plain data model that the quantizer and the
// calibrator fill, and its renderings — an aligned text table, JSON, and a self-contained
// HTML page with SVG charts. Diff says what changed between two runs, for watch mode.
//
// The package computes nothing about tensors except histograms; the error metrics
// (SQNR, MSE, cosine) come from the quant package and are stored here as they are. A
// histogram may be deferred (Deferred): its producer computes its counts only when a
// rendering that shows them (JSON, HTML) asks, through FillHistograms.
package report
