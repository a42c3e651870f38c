package torch

import "errors"

// Sentinel errors. The errors returned by this package wrap them and add the file name and
// the tensor or archive entry concerned.
var (
	// ErrFormat is wrapped by every error about a malformed archive or pickle.
	ErrFormat = errors.New("torch: invalid checkpoint")
	// ErrForbiddenGlobal is wrapped when the pickle names a global outside the allowlist.
	ErrForbiddenGlobal = errors.New("torch: global not allowed")
	// ErrLegacyFormat is wrapped for checkpoints written by torch < 1.6 (raw pickle or tar).
	ErrLegacyFormat = errors.New("torch: legacy PyTorch format (torch < 1.6); re-save it with torch ≥ 1.6: torch.save(torch.load(f), f)")
	// ErrTorchScript is wrapped for archives written by torch.jit.save.
	ErrTorchScript = errors.New("torch: TorchScript archive, not a checkpoint; save the weights instead: torch.save(model.state_dict(), f)")
	// ErrNotFound is wrapped by Load for a name the checkpoint does not hold.
	ErrNotFound = errors.New("torch: no such tensor")
	// ErrClosed is wrapped by Load after Close.
	ErrClosed = errors.New("torch: file is closed")
)
