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
	body, err := b.subgraph("body")
	if err != nil {
		return nil, err
	}
	s := scan{body: body, m: m, nState: len(b.n.Inputs) - m, nOut: len(b.n.Outputs)}
	s.inAxes, _ = b.attrInts("scan_input_axes")
	s.inDirs, _ = b.attrInts("scan_input_directions")
	s.outAxes, _ = b.attrInts("scan_output_axes")
	s.outDirs, _ = b.attrInts("scan_output_directions")
	k := len(body.outputs) - s.nState
	if len(body.inputs) != s.nState+m || k < 0 || s.nOut > s.nState+k {
		return nil, b.errorf("body takes %d inputs and gives %d outputs for %d states and %d scan inputs", len(body.inputs), len(body.outputs), s.nState, m)
	}
	for i := range b.n.Outputs {
		b.setOut(i, body.outputs[i].DType, nil)
	}
	if s.outerIdx, err = b.outerIndex(body); err != nil {
		return nil, err
	}
	s.scans = k
	return s.run, nil
}

// scan is a Scan node: its body, its m scan inputs after nState states, the scans scan
// outputs the body gives and the nOut outputs the node names, and the axes and directions
// (0 when not given) of the scan inputs and outputs.
type scan struct {
	body                             *Graph
	m, nState, scans, nOut           int
	inAxes, inDirs, outAxes, outDirs []int64
	outerIdx                         []int
}

// intAt is v[i], or 0 past its end (an attribute list shorter than the inputs).
func intAt(v []int64, i int) int {
	if i < len(v) {
		return int(v[i])
	}
	return 0
}

func (s scan) run(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
	length, axes, err := s.length(ins)
	if err != nil {
		return nil, err
	}
	states := append([]*tensor.Tensor{}, ins[:s.nState]...)
	scans := make([][]*tensor.Tensor, s.scans)
	formal := make([]*tensor.Tensor, s.nState+s.m)
	for t := 0; t < length; t++ {
		copy(formal, states)
		for j := 0; j < s.m; j++ {
			pos := t
			if intAt(s.inDirs, j) == 1 {
				pos = length - 1 - t
			}
			formal[s.nState+j] = takeAlong(ins[s.nState+j], axes[j], pos)
		}
		outs, err := s.body.runSub(mem, formal, ins, s.outerIdx)
		if err != nil {
			return nil, fmt.Errorf("iteration %d: %w", t, err)
		}
		copy(states, outs[:s.nState])
		for q := range scans {
			if t == 0 && s.nState+q < s.nOut { // refuse the stack's size before the other iterations
				if err := checkOutputSize(append([]int{length}, outs[s.nState+q].Shape...)); err != nil {
					return nil, fmt.Errorf("scan output %d: %w", q, err)
				}
			}
			scans[q] = append(scans[q], outs[s.nState+q])
		}
	}
	res := make([]*tensor.Tensor, s.nOut)
	copy(res, states)
	for q := 0; s.nState+q < s.nOut; q++ {
		if res[s.nState+q], err = s.stackOutput(q, scans[q]); err != nil {
			return nil, fmt.Errorf("scan output %d: %w", q, err)
		}
	}
	return res, nil
}

// length is the common length of the scan inputs along their axes, and those axes.
func (s scan) length(ins []*tensor.Tensor) (int, []int, error) {
	length := -1
	axes := make([]int, s.m)
	for j := range axes {
		x := ins[s.nState+j]
		ax, err := normAxis(int64(intAt(s.inAxes, j)), len(x.Shape))
		if err != nil {
			return 0, nil, fmt.Errorf("scan input %d: %v", j, err)
		}
		axes[j] = ax
		if length >= 0 && x.Shape[ax] != length {
			return 0, nil, fmt.Errorf("scan inputs have lengths %d and %d", length, x.Shape[ax])
		}
		length = x.Shape[ax]
	}
	return length, axes, nil
}

// stackOutput stacks scan output q's per-iteration parts along its axis, in its direction.
func (s scan) stackOutput(q int, parts []*tensor.Tensor) (*tensor.Tensor, error) {
	if intAt(s.outDirs, q) == 1 {
		parts = slices.Clone(parts)
		slices.Reverse(parts)
	}
	st, err := stack(parts, s.body.outputs[s.nState+q])
	if err != nil {
		return nil, err
	}
	ax, err := normAxis(int64(intAt(s.outAxes, q)), len(st.Shape))
	if err != nil {
		return nil, err
	}
	if ax == 0 {
		return st, nil
	}
	// Move the stacked axis into place.
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
	return transpose(nil, st, perm), nil
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
