#!/usr/bin/env bash
# Issue 9's model families in graph/ against onnxruntime-node: torchvision's
# lraspp_mobilenet_v3_large (Upsample/Resize) and ssdlite320_mobilenet_v3_large up to its head,
# a UNet with ConvTranspose, every F.interpolate mode, 2-layer bidirectional LSTM/GRU/RNN and a
# torch.jit.script model with a data-dependent If, random weights, exported by torch 1.13 at
# opsets 9, 11 and 13 (scripts/fixtures/zoo9_models.py, regenerated here, not committed);
# plus the onnx-helper cases of scripts/fixtures/graph_ops_models.py (each op at the opsets
# where its signature changed, attributes torch never writes). Every output element must agree
# within 1e-4 + 1e-4 * |ort|; the max absolute difference per model and output is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

/usr/bin/python3 scripts/fixtures/zoo9_models.py "$tmp/zoo9" --opsets 9,11,13 >"$tmp/export.log" 2>&1 ||
  { cat "$tmp/export.log" >&2; echo "47-graph-zoo9: FAIL: export" >&2; exit 1; }
grep -v Warning "$tmp/export.log" | grep -E '^[a-z]+_op[0-9]+:' | sed 's/^/  /'
if [ -f scripts/fixtures/graph_ops_models.py ]; then
  /usr/bin/python3 scripts/fixtures/graph_ops_models.py "$tmp/zoo9" >>"$tmp/export.log" 2>&1 ||
    { cat "$tmp/export.log" >&2; echo "47-graph-zoo9: FAIL: graph_ops_models.py" >&2; exit 1; }
fi
for d in "$tmp"/zoo9/*/; do
  node interop/graph/ort-run.js "$d"
done
if ! QSCRIPT_GRAPH_CASES="$tmp/zoo9" go test -count=1 -tags interop -run TestInteropORT -v ./graph >"$tmp/graph.log" 2>&1; then
  cat "$tmp/graph.log" >&2
  echo "47-graph-zoo9: FAIL: graph/ against onnxruntime-node" >&2
  exit 1
fi
grep -E 'max \|' "$tmp/graph.log" | sed 's/^ *interop_test.go:[0-9]*: /  /'
n=$(grep -c 'max |' "$tmp/graph.log")
echo "47-graph-zoo9: graph/ matches onnxruntime-node within 1e-4 + 1e-4*|ort| on $n outputs of $(ls -d "$tmp"/zoo9/*/ | wc -l) models"
