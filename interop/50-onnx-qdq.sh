#!/usr/bin/env bash
# QDQ export against ONNX Runtime: torch.onnx.export (opset 13) a small Conv/Gemm/MatMul
# model, quantize it with qdq.Export (interop/onnx/qdqexport), run the QDQ and float models
# in onnxruntime-node, and compare the QDQ output with a numpy fake-quant simulation that
# uses the same qparams (1e-5) and with the float output (loose bound).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

$PY interop/onnx/qdq_reference.py export "$dir"
go run ./interop/onnx/qdqexport "$dir/float.onnx" "$dir/ranges.json" "$dir/qdq.onnx" "$dir/params.json"
node interop/onnx/run_ort.js "$dir/qdq.onnx" "$dir/x.npy" "$dir/ort_qdq.npy" all
node interop/onnx/run_ort.js "$dir/qdq.onnx" "$dir/x.npy" "$dir/ort_qdq_noopt.npy" disabled
node interop/onnx/run_ort.js "$dir/float.onnx" "$dir/x.npy" "$dir/ort_float.npy" all
$PY - "$dir/qdq.onnx" <<'PYEOF'
import sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m)
ops = {}
for n in m.graph.node:
    ops[n.op_type] = ops.get(n.op_type, 0) + 1
print("  qdq.onnx passes onnx.checker; ops:", ", ".join(f"{k}×{v}" for k, v in sorted(ops.items())))
PYEOF
if $PY interop/onnx/qdq_reference.py simulate "$dir"; then
  echo "50-onnx-qdq: ok (ORT runs the qscript QDQ model and matches the fake-quant simulation)"
else
  echo "50-onnx-qdq: FAIL" >&2
  exit 1
fi
