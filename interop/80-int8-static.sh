#!/usr/bin/env bash
# Issue 6 acceptance 2 and 3, live: qscript's static int8 QDQ export (data → calib → static)
# of the digits CNN, calibrated on calib.npy (150 samples, histogram observer), run in
# onnxruntime-node: its accuracy must be within 1 point of float ORT's. torch 1.13's own
# static PTQ (FX, onednn) on the same model and calibration set is computed in the same run.
# The transformer-encoder blocks (opsets 13 and 17) calibrate and export, and their QDQ
# models run in ORT; the output SQNR against float ORT must exceed 20 dB.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
m=examples/models

go build -o "$dir/static" ./interop/static
ours=$("$dir/static" -model $m/digits_cnn.onnx -calib $m/calib.npy -eval $m/test.npz -out "$dir/cnn.int8.onnx")
float_ort=$(node scripts/fixtures/eval_onnx.js $m/digits_cnn.onnx $m/test.npz)
qdq_ort=$(node scripts/fixtures/eval_onnx.js "$dir/cnn.int8.onnx" $m/test.npz)
torch_ptq=$(/usr/bin/python3 scripts/fixtures/torch_ptq_reference.py $m)

for model in encoder_block_op13 encoder_block_op17; do
  "$dir/static" -model $m/$model.onnx -calib $m/encoder_calib.npy -out "$dir/$model.int8.onnx" >"$dir/$model.json"
  node scripts/fixtures/ort_run.js $m/$model.onnx $m/encoder_calib.npy "$dir/$model.float.npy" >/dev/null
  node scripts/fixtures/ort_run.js "$dir/$model.int8.onnx" $m/encoder_calib.npy "$dir/$model.int8.npy" >/dev/null
done

/usr/bin/python3 - "$dir" "$ours" "$float_ort" "$qdq_ort" "$torch_ptq" <<'PY'
import json, sys
import numpy as np
d, ours, float_ort, qdq_ort, torch_ptq = sys.argv[1], *map(json.loads, sys.argv[2:])
fa, qa = float_ort["accuracy"], qdq_ort["accuracy"]
print(f"digits CNN (360 test images): float ORT {fa:.4f} | qscript QDQ in ORT {qa:.4f} "
      f"| qscript QDQ in graph/ {ours['graph_int8_acc']:.4f} (float {ours['graph_float_acc']:.4f}) "
      f"| torch {torch_ptq['engine']} PTQ {torch_ptq['int8_acc']:.4f} (float {torch_ptq['float_acc']:.4f})")
ok = abs(fa - qa) <= 0.01 and ours["quantized"] == 5 and ours["samples"] == 150
for model in ["encoder_block_op13", "encoder_block_op17"]:
    x = np.load(f"{d}/{model}.float.npy").astype(np.float64)
    y = np.load(f"{d}/{model}.int8.npy").astype(np.float64)
    info = json.load(open(f"{d}/{model}.json"))
    sqnr = 10 * np.log10((x ** 2).sum() / ((x - y) ** 2).sum())
    print(f"{model}: {info['quantized']} nodes quantized, calibrated on {info['samples']} samples; "
          f"QDQ vs float in ORT on 150 samples: output SQNR {sqnr:.2f} dB")
    ok = ok and sqnr > 20 and info["quantized"] == 6
if not ok:
    print("80-int8-static: FAIL")
    sys.exit(1)
print(f"80-int8-static: ok — QDQ accuracy in ORT {qa:.4f} vs float {fa:.4f} (torch PTQ {torch_ptq['int8_acc']:.4f})")
PY
