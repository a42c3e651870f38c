#!/usr/bin/env bash
# graph/ against onnxruntime-node: a CNN (opset 13) and a transformer encoder block (opsets 13
# and 17) exported by torch 1.13 run in both on the same random inputs; every output must
# agree within 1e-4 (max absolute difference). Also runs the wider bench-size models.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for size in test bench; do
  /usr/bin/python3 scripts/fixtures/graph_models.py "$tmp/$size" --size "$size" --batch 4 >/dev/null 2>&1
  for dir in "$tmp/$size"/*/; do
    node interop/graph/ort-run.js "$dir"
  done
  QSCRIPT_GRAPH_CASES="$tmp/$size" go test -count=1 -tags interop -run TestInteropORT -v ./graph \
    | grep -E 'max \||FAIL|ok ' | sed "s/^ *interop_test.go:[0-9]*: /$size: /"
done
echo "40-graph-ort: graph/ matches onnxruntime-node within 1e-4 on cnn13, encoder13, encoder17 (test and bench sizes)"
