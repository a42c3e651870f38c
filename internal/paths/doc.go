// Package paths is qscript's one policy for the files it reads and writes:
//
//   - Resolve makes a path absolute and follows its symbolic links (of the part that
//     exists), so that two names for one file compare equal;
//   - Confine keeps a resolved path inside an embedder's root folder;
//   - Readable refuses, by name, anything but a regular file before it is opened for
//     reading, so a FIFO or a device cannot block a reader;
//   - CheckOutput refuses an output that resolves to one of the inputs (a model, a shard,
//     an index, a config, a data file) or lands inside an input folder;
//   - Replaceable refuses to replace an existing file that qscript did not write;
//   - TempPattern names temporary files with a recognizable prefix and the writer's process
//     id, and CleanStale removes those of processes that died (a kill -9 mid-save).
//
// Every reader and writer of qscript goes through it (formats, bindings, data, report).
package paths
