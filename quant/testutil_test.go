package quant

import "errors"

func asNonFinite(err error, target **NonFiniteError) bool { return errors.As(err, target) }
