#!/usr/bin/env bash
# SPEC §6's claim on real architectures, end to end: torchvision resnet18, mobilenet_v2,
# mobilenet_v3_small and vgg11, and a BERT-like encoder (int64 token ids, opsets 13 and 17),
# all with random weights, exported by torch 1.13 (scripts/fixtures/zoo_models.py, regenerated
# here, not committed).
#   1. graph/ and onnxruntime-node run each float model on the same random input; every output
#      element must agree within atol 1e-4 + rtol 1e-4 * |ort| (random-weight logits reach a few
#      units; the max absolute difference is printed).
#   2. qscript recipes/int8_static.lua model=M calib=CALIB.npy out=Q.onnx skip=none samples=32
#      (CALIB.npy: 32 random images, or random token ids) writes a QDQ model; onnxruntime-node runs
#      it and the float model on CALIB.npy, and the output SQNR of QDQ against float must exceed
#      15 dB for the CNNs and 20 dB for the encoders.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

/usr/bin/python3 scripts/fixtures/zoo_models.py "$tmp/zoo" --batch 2 --calib 32 --hw 64 >"$tmp/export.log" 2>&1 ||
  { cat "$tmp/export.log" >&2; echo "45-graph-zoo: FAIL: export" >&2; exit 1; }
models=(resnet18 mobilenet_v2 mobilenet_v3 vgg11 bert13 bert17)
for m in "${models[@]}"; do
  node interop/graph/ort-run.js "$tmp/zoo/$m"
done
if ! QSCRIPT_GRAPH_CASES="$tmp/zoo" go test -count=1 -tags interop -run TestInteropORT -v ./graph >"$tmp/graph.log" 2>&1; then
  cat "$tmp/graph.log" >&2
  echo "45-graph-zoo: FAIL: graph/ against onnxruntime-node" >&2
  exit 1
fi

go build -o "$tmp/qscript" ./cmd/qscript
for m in "${models[@]}"; do
  d=$tmp/zoo/$m
  if ! "$tmp/qscript" recipes/int8_static.lua model="$d/model.onnx" calib="$d/calib.npy" out="$d/q.onnx" \
    skip=none samples=32 report="$d/report.json" >"$d/recipe.log" 2>&1; then
    cat "$d/recipe.log" >&2
    echo "45-graph-zoo: FAIL: $m: qscript recipes/int8_static.lua" >&2
    exit 1
  fi
  node scripts/fixtures/ort_run.js "$d/model.onnx" "$d/calib.npy" "$d/float.npy" >/dev/null
  node scripts/fixtures/ort_run.js "$d/q.onnx" "$d/calib.npy" "$d/q.npy" >/dev/null
done

/usr/bin/python3 - "$tmp/zoo" "$tmp/graph.log" "${models[@]}" <<'PY'
import collections, json, re, sys
import numpy as np
import onnx
import onnx.numpy_helper

root, graph_log, models = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3:]
diffs = {m: float(v) for m, v in re.findall(r"(\w+) output: max \|graph - onnxruntime\| = (\S+)", graph_log)}
ok = True
for m in models:
    d = f"{root}/{m}"
    ops = sorted({n.op_type for n in onnx.load(f"{d}/model.onnx").graph.node})
    q = onnx.load(f"{d}/q.onnx").graph
    counts = collections.Counter(n.op_type for n in q.node)
    x = np.load(f"{d}/float.npy").astype(np.float64)
    y = np.load(f"{d}/q.npy").astype(np.float64)
    sqnr = 10 * np.log10((x ** 2).sum() / max(((x - y) ** 2).sum(), 1e-300))
    totals = json.load(open(f"{d}/report.json"))["totals"]
    # Structure: depthwise convs carry one weight scale per channel on axis 0, and nothing
    # quantizes the int64 token ids (QuantizeLinear reads only float tensors).
    inits = {t.name: t for t in q.initializer}
    producer = {o: n for n in q.node for o in n.output}
    float_model = onnx.load(f"{d}/model.onnx").graph
    int64_inputs = {i.name for i in float_model.input if i.type.tensor_type.elem_type == onnx.TensorProto.INT64}
    depthwise = 0
    # Biases torch stored once for several layers (equal zero biases of an untrained net) reach
    # their other layers through Identity; they are initializers all the same, so every
    # quantized Conv/Gemm bias must come from a DequantizeLinear of int32 codes, and every
    # quantized weight from int8 codes (none quantized as a uint8 activation).
    float_bias = sum(1 for n in q.node if n.op_type in ("Conv", "Gemm") and len(n.input) > 2 and n.input[2]
                     and getattr(producer.get(n.input[2]), "op_type", "") != "DequantizeLinear")
    if float_bias:
        ok = False
        print(f"  FAIL {m}: {float_bias} Conv/Gemm biases stay float")
    float_producer = {o: n for n in float_model.node for o in n.output}
    float_inits = {t.name for t in float_model.initializer}
    for n in q.node:
        if n.op_type not in ("Conv", "Gemm", "MatMul") or len(n.input) < 2:
            continue
        dq = producer.get(n.input[1])
        qn = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        if qn is None or qn.op_type != "QuantizeLinear":
            continue
        origin = qn.input[0]
        while origin in float_producer and float_producer[origin].op_type == "Identity":
            origin = float_producer[origin].input[0]
        if origin in float_inits:
            ok = False
            print(f"  FAIL {m}: {n.name} weight {qn.input[0]} (initializer {origin}) is quantized as an activation")
    identities = counts["Identity"]
    for n in q.node:
        if n.op_type == "QuantizeLinear" and n.input[0] in int64_inputs:
            ok = False
            print(f"  FAIL {m}: {n.name} quantizes the int64 input {n.input[0]}")
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        if n.op_type == "Conv" and group > 1:
            depthwise += 1
            dq = producer.get(n.input[1])
            axis = next((a.i for a in dq.attribute if a.name == "axis"), 1) if dq is not None else None
            scales = onnx.numpy_helper.to_array(inits[dq.input[1]]).size if dq is not None and dq.input[1] in inits else 0
            if dq is None or dq.op_type != "DequantizeLinear" or axis != 0 or scales != group:
                ok = False
                print(f"  FAIL {m}: depthwise {n.name}: weight from {dq and dq.op_type}, axis {axis}, {scales} scales for {group} groups")
    want = 20 if m.startswith("bert") else 15
    status = "ok" if sqnr > want and m in diffs else "FAIL"
    ok &= status == "ok"
    print(f"{m}: {status} | graph/ vs ORT max abs diff {diffs.get(m, float('nan')):.3g} | QDQ in ORT: output SQNR "
          f"{sqnr:.2f} dB (want > {want}) over {len(x)} samples, {totals['quantized']} layers quantized, "
          f"{counts['QuantizeLinear']} Q / {counts['DequantizeLinear']} DQ, {depthwise} depthwise per-channel, {float_bias} float biases, {identities} Identity left | ops {' '.join(ops)}")
if not ok:
    print("45-graph-zoo: FAIL")
    sys.exit(1)
print("45-graph-zoo: ok — resnet18, mobilenet_v2, mobilenet_v3_small, vgg11, BERT-like op13/op17 match ORT "
      "(atol 1e-4 + rtol 1e-4) and their int8_static QDQ models run in ORT above the SQNR floor, "
      "with no float bias and no weight quantized as an activation")
PY
