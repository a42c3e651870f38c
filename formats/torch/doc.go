// Package torch reads and writes PyTorch checkpoints in the zip format that torch ≥ 1.6
// writes (.pt, .pth, .bin). The pickle inside is decoded by a small allowlist-only
// unpickler, like torch.load(weights_only=True): it knows OrderedDict, the tensor and
// parameter rebuild functions and the storage types, refuses every other global by name,
// and never calls or constructs anything. Tensor data stays in the file until Load asks.
package torch
