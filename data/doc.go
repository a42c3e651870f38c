// Package data provides the calibration and evaluation data of static quantization:
// sources that yield samples (one tensor per model input, plus an optional target such
// as a class label) in batches, read from .npy, .npz, safetensors, folders of PNG/JPEG
// images, or tensors built in memory (the Lua bindings' tables).
//
// A Source describes the data and can be read any number of times; each pass opens a
// Reader that streams batches. Readers of .npy, safetensors and image folders read only
// the samples of the current batch, so memory is bounded by the batch size, not by the
// size of the data set. Matching a source with a model's inputs is calib.Bind's job: data
// knows nothing of models.
package data
