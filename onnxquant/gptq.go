package onnxquant

import (
	"context"
	"errors"
)

func (r *rewriter) gptq(ctx context.Context, o Options, block int, symmetric bool) (map[int]*blockCodes, error) {
	return nil, errors.New("gptq: not yet")
}
