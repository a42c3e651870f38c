#!/usr/bin/env bash
# Issue 6 acceptance 2 and 3, live, through the built-in recipe and the CLI as a user runs it:
#   qscript recipes/int8_static.lua model=digits_cnn.onnx calib=calib.npy eval=test.npz out=cnn.int8.onnx
# (150 calibration samples, histogram observer, skip=first_conv by default) writes a QDQ model;
# onnxruntime-node runs it, and its accuracy must be within 1 point of float ORT's. torch 1.13's
# own static PTQ (FX, onednn) on the same model and calibration set is computed in the same run
# and printed beside it. The transformer-encoder blocks (opsets 13 and 17, no conv: skip=none)
# go through the same recipe, and their QDQ models run in ORT with an output SQNR against float
# ORT above 20 dB. Layer counts and qscript's own evaluation come from the recipe's report JSON,
# the calibration sample count from `qscript inspect --json` of the QDQ model's record.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
m=examples/models

go build -o "$dir/qscript" ./cmd/qscript
# static NAME ARGS...: runs int8_static.lua into $dir/NAME.int8.onnx, report $dir/NAME.json and
# the output's inspect JSON $dir/NAME.inspect.json; shows the recipe's output on failure.
static() {
  local name=$1
  shift
  if ! "$dir/qscript" recipes/int8_static.lua "$@" out="$dir/$name.int8.onnx" report="$dir/$name.json" >"$dir/$name.log" 2>&1; then
    cat "$dir/$name.log" >&2
    echo "80-int8-static: FAIL: qscript recipes/int8_static.lua $*" >&2
    exit 1
  fi
  "$dir/qscript" inspect --json "$dir/$name.int8.onnx" >"$dir/$name.inspect.json"
}

static cnn model=$m/digits_cnn.onnx calib=$m/calib.npy eval=$m/test.npz
float_ort=$(node scripts/fixtures/eval_onnx.js $m/digits_cnn.onnx $m/test.npz)
qdq_ort=$(node scripts/fixtures/eval_onnx.js "$dir/cnn.int8.onnx" $m/test.npz)
torch_ptq=$(/usr/bin/python3 scripts/fixtures/torch_ptq_reference.py $m)

for model in encoder_block_op13 encoder_block_op17; do
  static $model model=$m/$model.onnx calib=$m/encoder_calib.npy skip=none
  node scripts/fixtures/ort_run.js $m/$model.onnx $m/encoder_calib.npy "$dir/$model.float.npy" >/dev/null
  node scripts/fixtures/ort_run.js "$dir/$model.int8.onnx" $m/encoder_calib.npy "$dir/$model.int8.npy" >/dev/null
done

/usr/bin/python3 - "$dir" "$float_ort" "$qdq_ort" "$torch_ptq" <<'PY'
import collections, json, sys
import numpy as np
import onnx
d, float_ort, qdq_ort, torch_ptq = sys.argv[1], *map(json.loads, sys.argv[2:])
ok = True


def check(cond, msg):
    global ok
    if not cond:
        ok = False
        print("  FAIL", msg)


def outputs(name):
    """The recipe's report JSON, the QDQ model's quantization record, and its op counts."""
    report = json.load(open(f"{d}/{name}.json"))
    record = json.load(open(f"{d}/{name}.inspect.json")).get("quantization") or {}
    ops = collections.Counter(n.op_type for n in onnx.load(f"{d}/{name}.int8.onnx").graph.node)
    check(record.get("format") == "onnx-qdq" and record.get("calibration_samples") == 150,
          f"{name}: quantization record {record}")
    check(ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > ops["QuantizeLinear"],
          f"{name}: QDQ nodes {dict(ops)}")
    return report, record, ops


report, record, ops = outputs("cnn")
fa, qa, ev, tot = float_ort["accuracy"], qdq_ort["accuracy"], report["eval"], report["totals"]
print(f"digits CNN ({float_ort['n']} test images): float ORT {fa:.4f} | qscript QDQ in ORT {qa:.4f} "
      f"| qscript QDQ in graph/ {ev['quant_accuracy']:.4f} (float {ev['float_accuracy']:.4f}, output SQNR {ev['output_sqnr_db']:.2f} dB) "
      f"| torch {torch_ptq['engine']} PTQ {torch_ptq['int8_acc']:.4f} (float {torch_ptq['float_acc']:.4f})")
print(f"  recipe: {tot['quantized']} layers quantized, {tot['skipped']} skipped ({', '.join(record.get('layers_skipped', []))}), "
      f"{record.get('calibration_samples')} calibration samples, {ops['QuantizeLinear']} QuantizeLinear / {ops['DequantizeLinear']} DequantizeLinear")
check(abs(fa - qa) <= 0.01, f"QDQ accuracy in ORT {qa:.4f} is not within 1 point of float {fa:.4f}")
check(tot["quantized"] == 4 and record.get("layers_skipped") == ["/conv1/Conv"], f"report totals {tot}, record {record}")
check(ev["samples"] == float_ort["n"] and abs(ev["float_accuracy"] - fa) < 1e-9,
      f"graph/ float accuracy {ev['float_accuracy']} on {ev['samples']} vs ORT {fa} on {float_ort['n']}")
for model in ["encoder_block_op13", "encoder_block_op17"]:
    report, record, ops = outputs(model)
    x = np.load(f"{d}/{model}.float.npy").astype(np.float64)
    y = np.load(f"{d}/{model}.int8.npy").astype(np.float64)
    sqnr = 10 * np.log10((x ** 2).sum() / ((x - y) ** 2).sum())
    print(f"{model}: {report['totals']['quantized']} nodes quantized ({len(report['activations'])} activations), "
          f"calibrated on {record.get('calibration_samples')} samples; QDQ vs float in ORT on {len(x)} samples: output SQNR {sqnr:.2f} dB")
    check(sqnr > 20, f"{model}: output SQNR {sqnr:.2f} dB, want > 20")
    check(report["totals"]["quantized"] == 6 and report["totals"]["skipped"] == 0, f"{model}: totals {report['totals']}")
if not ok:
    print("80-int8-static: FAIL")
    sys.exit(1)
print(f"80-int8-static: ok — int8_static.lua QDQ accuracy in ORT {qa:.4f} vs float {fa:.4f} (torch PTQ {torch_ptq['int8_acc']:.4f}); "
      f"encoder blocks op13/op17 output SQNR > 20 dB in ORT")
PY
