package graph

import (
	"fmt"
	"slices"

	"github.com/qscript-dev/qscript/tensor"
)

// Scan (opset 9 and later): the body runs once per position along each scan input's axis,
// carrying the state variables, and its scan outputs are stacked along their axes (reversed
// for direction 1). Scan-8's batched form is not supported.

func init() { ops["Scan"] = buildScan }

func buildScan(b *builder) (kernel, error) {
	if b.opset < 9 {
		return nil, b.unsupported("the opset %d form of Scan (batch axis and sequence_lens; supported from opset 9)", b.opset)
	}
	m := int(b.attrInt("num_scan_inputs", 0))
	if m <= 0 || m > len(b.n.Inputs) {
		return nil, b.errorf("num_scan_inputs=%d for %d inputs", m, len(b.n.Inputs))
	}
	inAxes, _ := b.attrInts("scan_input_axes")
	inDirs, _ := b.attrInts("scan_input_directions")
	outAxes, _ := b.attrInts("scan_output_axes")
	outDirs, _ := b.attrInts("scan_output_directions")
	body, err := b.subgraph("body")
	if err != nil {
		return nil, err
	}
	nState := len(b.n.Inputs) - m
	k := len(body.outputs) - nState
	if len(body.inputs) != nState+m || k < 0 || len(b.n.Outputs) > nState+k {
		return nil, b.errorf("body takes %d inputs and gives %d outputs for %d states and %d scan inputs", len(body.inputs), len(body.outputs), nState, m)
	}
	at := func(v []int64, i int) int {
		if i < len(v) {
			return int(v[i])
		}
		return 0
	}
	for i := range b.n.Outputs {
		b.setOut(i, body.outputs[i].DType, nil)
	}
	outerIdx, err := b.outerIndex(body)
	if err != nil {
		return nil, err
	}
	nOut := len(b.n.Outputs)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		length := -1
		axes := make([]int, m)
		for j := 0; j < m; j++ {
			x := ins[nState+j]
			ax, err := normAxis(int64(at(inAxes, j)), len(x.Shape))
			if err != nil {
				return nil, fmt.Errorf("scan input %d: %v", j, err)
			}
			axes[j] = ax
			if length >= 0 && x.Shape[ax] != length {
				return nil, fmt.Errorf("scan inputs have lengths %d and %d", length, x.Shape[ax])
			}
			length = x.Shape[ax]
		}
		states := append([]*tensor.Tensor{}, ins[:nState]...)
		scans := make([][]*tensor.Tensor, k)
		formal := make([]*tensor.Tensor, nState+m)
		for t := 0; t < length; t++ {
			copy(formal, states)
			for j := 0; j < m; j++ {
				pos := t
				if at(inDirs, j) == 1 {
					pos = length - 1 - t
				}
				formal[nState+j] = takeAlong(ins[nState+j], axes[j], pos)
			}
			outs, err := body.runSub(mem, formal, ins, outerIdx)
			if err != nil {
				return nil, fmt.Errorf("iteration %d: %w", t, err)
			}
			copy(states, outs[:nState])
			for q := range scans {
				scans[q] = append(scans[q], outs[nState+q])
			}
		}
		res := make([]*tensor.Tensor, nOut)
		copy(res, states)
		for q := 0; nState+q < nOut; q++ {
			parts := scans[q]
			if at(outDirs, q) == 1 {
				parts = slices.Clone(parts)
				slices.Reverse(parts)
			}
			st, err := stack(parts, body.outputs[nState+q])
			if err != nil {
				return nil, fmt.Errorf("scan output %d: %w", q, err)
			}
			ax, err := normAxis(int64(at(outAxes, q)), len(st.Shape))
			if err != nil {
				return nil, fmt.Errorf("scan output %d: %v", q, err)
			}
			if ax != 0 { // move the stacked axis into place
				perm := make([]int, 0, len(st.Shape))
				for d := 1; d < len(st.Shape); d++ {
					if len(perm) == ax {
						perm = append(perm, 0)
					}
					perm = append(perm, d)
				}
				if len(perm) < len(st.Shape) {
					perm = append(perm, 0)
				}
				st = transpose(nil, st, perm)
			}
			res[nState+q] = st
		}
		return res, nil
	}, nil
}

// takeAlong returns x's slice at index i of axis ax, without that axis.
func takeAlong(x *tensor.Tensor, ax, i int) *tensor.Tensor {
	shape := append(append([]int{}, x.Shape[:ax]...), x.Shape[ax+1:]...)
	out := tensor.New(x.DType, shape...)
	es := x.DType.Size()
	outer, inner := product(x.Shape[:ax]), product(x.Shape[ax+1:])*es
	for o := 0; o < outer; o++ {
		src := (o*x.Shape[ax] + i) * inner
		copy(out.Data[o*inner:(o+1)*inner], x.Data[src:src+inner])
	}
	return out
}
