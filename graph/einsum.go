package graph

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/qscript-dev/qscript/tensor"
)

// Einsum (opset 12+), for any equation: explicit or implicit output, ellipsis, repeated
// labels in one operand (diagonals). Each operand first loses its repeated labels (a strided
// gather of the diagonal) and the labels no later operand or the output needs (a sum); the
// operands are then contracted left to right, each pair as a batched MatMul after a transpose
// to [batch, kept, contracted] and [batch, contracted, kept]; a last sum and transpose give
// the output's order. float64 operands are computed in float32.

func init() { ops["Einsum"] = buildEinsum }

// einsumEq is a parsed equation: each operand's labels (ellipsis dims as labels '0'..'9',
// right-aligned so that they broadcast), and the output's.
type einsumEq struct {
	ins      [][]byte
	out      []byte
	explicit bool
	ellipsis []bool // per operand: it has "..."
	outEll   bool
}

func parseEinsum(eq string) (einsumEq, error) {
	var e einsumEq
	eq = strings.ReplaceAll(eq, " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	e.explicit = explicit
	for _, term := range strings.Split(lhs, ",") {
		labels, ell, err := einsumTerm(term)
		if err != nil {
			return e, fmt.Errorf("equation %q: %v", eq, err)
		}
		e.ins = append(e.ins, labels)
		e.ellipsis = append(e.ellipsis, ell)
	}
	if explicit {
		labels, ell, err := einsumTerm(rhs)
		if err != nil {
			return e, fmt.Errorf("equation %q: %v", eq, err)
		}
		e.out, e.outEll = labels, ell
		seen := map[byte]bool{}
		for _, l := range labels {
			if seen[l] {
				return e, fmt.Errorf("equation %q: output label %c repeated", eq, l)
			}
			seen[l] = true
		}
	}
	return e, nil
}

// einsumTerm reads one term's letters; '.' marks where the ellipsis goes.
func einsumTerm(term string) ([]byte, bool, error) {
	var labels []byte
	ell := false
	for i := 0; i < len(term); i++ {
		c := term[i]
		switch {
		case c == '.':
			if ell || !strings.HasPrefix(term[i:], "...") {
				return nil, false, fmt.Errorf("bad ellipsis in %q", term)
			}
			ell = true
			labels = append(labels, '.')
			i += 2
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			labels = append(labels, c)
		default:
			return nil, false, fmt.Errorf("label %q in %q", c, term)
		}
	}
	return labels, ell, nil
}

// expand replaces '.' by the ellipsis labels of a rank, right-aligned over nEll dims.
func expandEllipsis(labels []byte, rank, nEll int) ([]byte, error) {
	out := make([]byte, 0, rank)
	for _, l := range labels {
		if l != '.' {
			out = append(out, l)
			continue
		}
		k := rank - (len(labels) - 1)
		if k < 0 || k > nEll {
			return nil, fmt.Errorf("ellipsis over %d dims", k)
		}
		for i := nEll - k; i < nEll; i++ {
			out = append(out, byte('0'+i))
		}
	}
	if len(out) != rank {
		return nil, fmt.Errorf("labels %q for rank %d", labels, rank)
	}
	return out, nil
}

func buildEinsum(b *builder) (kernel, error) {
	if err := cmp.Or(b.arity(1, 1<<10, 1, 1), b.dtypesOf(0, len(b.n.Inputs), tensor.F32, tensor.F64)); err != nil {
		return nil, err
	}
	e, err := parseEinsum(b.attrString("equation", ""))
	if err != nil {
		return nil, b.errorf("%v", err)
	}
	if len(e.ins) != len(b.n.Inputs) {
		return nil, b.errorf("equation has %d operands, the node %d inputs", len(e.ins), len(b.n.Inputs))
	}
	b.setOut(0, b.in(0).DType, nil)
	return func(mem *arena, ins []*tensor.Tensor) ([]*tensor.Tensor, error) {
		return mem.single(einsum(mem, e, ins))
	}, nil
}

// einsumOperand is a tensor with one label per dim.
type einsumOperand struct {
	t      *tensor.Tensor
	labels []byte
}

func einsum(mem *arena, e einsumEq, ins []*tensor.Tensor) (*tensor.Tensor, error) {
	nEll := 0
	for i, x := range ins {
		if e.ellipsis[i] {
			nEll = max(nEll, len(x.Shape)-(len(e.ins[i])-1))
		}
	}
	ops := make([]einsumOperand, len(ins))
	count := map[byte]int{}
	for i, x := range ins {
		labels, err := expandEllipsis(e.ins[i], len(x.Shape), nEll)
		if err != nil {
			return nil, fmt.Errorf("operand %d %v: %v", i, x.Shape, err)
		}
		t := x
		if t.DType != tensor.F32 {
			if t, err = t.To(tensor.F32); err != nil {
				return nil, err
			}
		}
		ops[i] = einsumOperand{t, labels}
		for _, l := range labels {
			count[l]++
		}
	}
	out, err := e.outputLabels(nEll, count)
	if err != nil {
		return nil, err
	}
	dims, err := einsumDims(ops, out)
	if err != nil {
		return nil, err
	}
	acc := einsumPrepare(mem, ops[0], needed(ops[1:], out))
	for i := 1; i < len(ops); i++ {
		next := einsumPrepare(mem, ops[i], needed(append(ops[i+1:], acc), out))
		var err error
		if acc, err = einsumPair(mem, acc, next, needed(ops[i+1:], out), dims); err != nil {
			return nil, err
		}
	}
	acc = einsumSum(mem, acc, needed(nil, out))
	perm := make([]int, len(out))
	for i, l := range out {
		perm[i] = strings.IndexByte(string(acc.labels), l)
	}
	res := transpose(mem, acc.t, perm)
	if want := ins[0].DType; want != tensor.F32 {
		return res.To(want)
	}
	return res, nil
}

// outputLabels is the output's labels, ellipsis dimensions as '0'+i: the explicit ones, or
// (implicit form) the ellipsis then the labels used once, in alphabetical order.
func (e einsumEq) outputLabels(nEll int, count map[byte]int) ([]byte, error) {
	if e.explicit {
		rank := len(e.out)
		if e.outEll {
			rank += nEll - 1
		}
		out, err := expandEllipsis(e.out, rank, nEll)
		if err != nil {
			return nil, fmt.Errorf("output: %v", err)
		}
		return out, nil
	}
	var out []byte
	for i := 0; i < nEll; i++ {
		out = append(out, byte('0'+i))
	}
	var once []byte
	for l, c := range count {
		if c == 1 && !(l >= '0' && l <= '9') {
			once = append(once, l)
		}
	}
	sort.Slice(once, func(i, j int) bool { return once[i] < once[j] })
	return append(out, once...), nil
}

// einsumDims is each label's size across the operands (1 broadcasting), checking that
// every output label occurs in an operand.
func einsumDims(ops []einsumOperand, out []byte) (map[byte]int, error) {
	dims := map[byte]int{}
	for i, op := range ops {
		for k, l := range op.labels {
			d := op.t.Shape[k]
			if old, ok := dims[l]; ok && old != d && old != 1 && d != 1 {
				return nil, fmt.Errorf("label %c has sizes %d and %d (operand %d)", l, old, d, i)
			}
			if d != 1 || dims[l] == 0 {
				dims[l] = max(dims[l], d)
			}
		}
	}
	for _, l := range out {
		if _, ok := dims[l]; !ok {
			return nil, fmt.Errorf("output label %c is in no operand", l)
		}
	}
	return dims, nil
}

// needed is the set of labels the rest of the operands or the output use.
func needed(rest []einsumOperand, out []byte) map[byte]bool {
	set := map[byte]bool{}
	for _, l := range out {
		set[l] = true
	}
	for _, op := range rest {
		for _, l := range op.labels {
			set[l] = true
		}
	}
	return set
}

// einsumPrepare takes the diagonal of repeated labels and sums the labels nobody else needs.
func einsumPrepare(mem *arena, op einsumOperand, keep map[byte]bool) einsumOperand {
	var labels []byte
	var shape, strides []int
	in := tensor.ContiguousStrides(op.t.Shape)
	repeated := false
	for k, l := range op.labels {
		if j := strings.IndexByte(string(labels), l); j >= 0 {
			strides[j] += in[k]
			repeated = true
			continue
		}
		labels = append(labels, l)
		shape = append(shape, op.t.Shape[k])
		strides = append(strides, in[k])
	}
	if repeated {
		op = einsumOperand{strided(mem, op.t, shape, strides, 0), labels}
	}
	return einsumSum(mem, op, keep)
}

// einsumSum sums the dims whose labels are not in keep.
func einsumSum(mem *arena, op einsumOperand, keep map[byte]bool) einsumOperand {
	mask := make([]bool, len(op.labels))
	var labels []byte
	some := false
	for k, l := range op.labels {
		if !keep[l] {
			mask[k], some = true, true
			continue
		}
		labels = append(labels, l)
	}
	if !some {
		return op
	}
	t, _ := reduce(mem, "ReduceSum", op.t, mask, false)
	return einsumOperand{t, labels}
}

// einsumPair contracts a and b over their shared labels that keep lacks; shared labels in
// keep are batch dims.
func einsumPair(mem *arena, a, b einsumOperand, keep map[byte]bool, dims map[byte]int) (einsumOperand, error) {
	var batch, contract, aOnly, bOnly []byte
	inB := func(l byte) bool { return strings.IndexByte(string(b.labels), l) >= 0 }
	for _, l := range a.labels {
		switch {
		case inB(l) && keep[l]:
			batch = append(batch, l)
		case inB(l):
			contract = append(contract, l)
		default:
			aOnly = append(aOnly, l)
		}
	}
	for _, l := range b.labels {
		if strings.IndexByte(string(a.labels), l) < 0 {
			bOnly = append(bOnly, l)
		}
	}
	size := func(ls []byte) int {
		n := 1
		for _, l := range ls {
			n *= dims[l]
		}
		return n
	}
	at, err := einsumArrange(mem, a, [][]byte{batch, aOnly, contract}, dims)
	if err != nil {
		return a, err
	}
	bt, err := einsumArrange(mem, b, [][]byte{batch, contract, bOnly}, dims)
	if err != nil {
		return a, err
	}
	nb, m, k, n := size(batch), size(aOnly), size(contract), size(bOnly)
	if err := checkOutputSize([]int{nb, m, n}); err != nil {
		return a, err
	}
	prod, err := matmul(mem, reshaped(at, []int{nb, m, k}), reshaped(bt, []int{nb, k, n}), nil)
	if err != nil {
		return a, err
	}
	labels := append(append(append([]byte{}, batch...), aOnly...), bOnly...)
	shape := make([]int, len(labels))
	for i, l := range labels {
		shape[i] = dims[l]
	}
	return einsumOperand{reshaped(prod, shape), labels}, nil
}

// einsumArrange transposes op to the label order of groups, broadcasting size-1 dims to the
// label's size (ellipsis broadcast).
func einsumArrange(mem *arena, op einsumOperand, groups [][]byte, dims map[byte]int) (*tensor.Tensor, error) {
	var order []byte
	for _, g := range groups {
		order = append(order, g...)
	}
	perm := make([]int, len(order))
	shape := make([]int, len(order))
	for i, l := range order {
		perm[i] = strings.IndexByte(string(op.labels), l)
		shape[i] = dims[l]
	}
	t := transpose(mem, op.t, perm)
	if !slices.Equal(t.Shape, shape) {
		if err := checkOutputSize(shape); err != nil {
			return nil, err
		}
		t = broadcastTo(t, shape)
	}
	return t, nil
}
