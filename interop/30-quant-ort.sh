#!/usr/bin/env bash
# Live parity of qscript's ORT numerics with onnxruntime-node: QuantizeLinear codes (per
# tensor and per channel; int8, uint8, and int4 at opset 21) and compute_scale_zp qparams.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
/usr/bin/python3 interop/quant/make_models.py "$dir"
node interop/quant/run_ort.js "$dir"
out=$(QSCRIPT_ORT_QUANT_DIR="$dir" go test -tags interop -count=1 -run TestORTQuantizeLinear -v ./interop/quant/ 2>&1) || {
  echo "$out"
  echo "30-quant-ort: FAIL"
  exit 1
}
summary=$(echo "$out" | grep -o 'onnxruntime .*reference' || true)
echo "30-quant-ort: ok — $summary"
