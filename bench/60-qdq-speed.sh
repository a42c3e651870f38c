#!/usr/bin/env bash
# SPEC §5/issue 6: int8_static.lua "writes a model that ONNX Runtime runs faster". Latency of
# onnxruntime-node (graph optimization "all") on the float model and on qscript's QDQ model,
# batch 1 and 32, for the digits CNN (the recipe's defaults: skip=first_conv) and the encoder
# block (op17, skip=none). Float and QDQ runs alternate, three rounds each, and the best median
# of each is kept, so a noisy neighbour slows both alike. The ops ORT actually runs (its
# optimized graph) are printed too: whether the Q/DQ pairs were fused into QLinearConv, QGemm,
# QLinearMatMul or MatMulIntegerToFloat.
#
# The gate is structural, not timed: in the CNN's optimized graph every quantized Conv must be a
# QLinearConv and every Gemm a QGemm (no Q/DQ placement left a quantized layer running in
# float). The speed ratios are reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qscript-qdqspeed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
m=examples/models
go build -o "$tmp/qscript" ./cmd/qscript
"$tmp/qscript" recipes/int8_static.lua model=$m/digits_cnn.onnx calib=$m/calib.npy out="$tmp/cnn.int8.onnx" >/dev/null
"$tmp/qscript" recipes/int8_static.lua model=$m/encoder_block_op17.onnx calib=$m/encoder_calib.npy skip=none \
  out="$tmp/encoder.int8.onnx" >/dev/null

latency() { node bench/qdq/ort_latency.js "$@" 2>/dev/null; }
fail=0
for pair in "digits_cnn:cnn:calib" "encoder_block_op17:encoder:encoder_calib"; do
  IFS=: read -r model short data <<<"$pair"
  for batch in 1 32; do
    for round in 1 2 3; do
      latency $m/$model.onnx $m/$data.npy $batch >"$tmp/float.$round.json"
      latency "$tmp/$short.int8.onnx" $m/$data.npy $batch >"$tmp/qdq.$round.json"
    done
    /usr/bin/python3 - "$tmp" "$model" "$batch" <<'PY' || fail=1
import json, sys
d, model, batch = sys.argv[1], sys.argv[2], sys.argv[3]
runs = {k: [json.load(open(f"{d}/{k}.{r}.json")) for r in (1, 2, 3)] for k in ("float", "qdq")}
best = {k: min(v, key=lambda j: j["ms_per_run"]) for k, v in runs.items()}
f, q = best["float"]["ms_per_run"], best["qdq"]["ms_per_run"]
ops = best["qdq"]["ops"]
fused = ", ".join(f"{k.split('.')[-1]} {v}" for k, v in sorted(ops.items())
                  if k.split(".")[-1] in ("QLinearConv", "QGemm", "QLinearMatMul", "MatMulIntegerToFloat", "QuantizeLinear", "DequantizeLinear"))
print(f"{model} batch {batch}: ORT float {f:.4f} ms, qscript QDQ {q:.4f} ms: {f / q:.2f}x ({fused})")
if model == "digits_cnn":
    plain = [k for k in ops if k.split(".")[-1] in ("Conv", "FusedConv", "Gemm", "FusedGemm")]
    # skip=first_conv keeps /conv1/Conv in float: exactly one float Conv may remain.
    if ops.get("com.microsoft.QLinearConv", 0) != 2 or ops.get("com.microsoft.QGemm", 0) != 2 or \
            sum(ops[k] for k in plain) != 1:
        print(f"  FAIL: quantized layers not fused by ORT: {ops}")
        sys.exit(1)
PY
  done
done
[ $fail = 0 ] && echo "60-qdq-speed: ok" || { echo "60-qdq-speed: FAIL"; exit 1; }
