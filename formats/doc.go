// Package formats opens any checkpoint qscript reads behind one read-only view, Model: it
// picks the reader from the file's extension, confirms it by the file's magic bytes (and says
// so when they disagree), and summarises a file for `qscript inspect`. The readers and writers
// of each format live in its subpackage; this package only chooses among them.
package formats
