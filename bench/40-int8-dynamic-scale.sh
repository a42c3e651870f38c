#!/usr/bin/env bash
# Issue 5 acceptance 4: a ~2 GiB f32 Linear-only safetensors checkpoint with 7B-like shapes
# (4096×4096 attention, 11008×4096 and 4096×11008 MLP) is quantized to int8 per-channel
# symmetric weights (compressed-tensors layout) by the quantize package, whole process
# from file to file with the input in the page cache; peak RSS must stay below 25% of the
# model. PyTorch 1.13 does the same job (load + PerChannelMinMaxObserver +
# quantize_per_channel + torch.save) in the same session, and the ratio is printed.
# Usage: bench/40-int8-dynamic-scale.sh [GIB]   (default 2; needs ~2×GIB free in $TMPDIR)
set -euo pipefail
cd "$(dirname "$0")/.."
gib=${1:-2}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qscript-int8.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[ -x /usr/bin/time ] || { echo "40-int8-dynamic-scale: needs /usr/bin/time (apt-get install time)"; exit 1; }

go build -o "$tmp/int8scale" ./bench/int8scale
"$tmp/int8scale" gen "$tmp/model.safetensors" "$gib"
size=$(stat -c %s "$tmp/model.safetensors")

field() { grep -F "$1" "$2" | sed 's/.*: //'; }
seconds() { field 'Elapsed (wall clock)' "$1" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'; }

cat "$tmp/model.safetensors" > /dev/null # page cache warm, as SPEC §9 measures
/usr/bin/time -v "$tmp/int8scale" quantize "$tmp/model.safetensors" "$tmp/qscript.safetensors" 2> "$tmp/qscript.time"
cat "$tmp/model.safetensors" > /dev/null
/usr/bin/time -v "$tmp/int8scale" quantize "$tmp/model.safetensors" "$tmp/qscript-r.safetensors" report > /dev/null 2> "$tmp/qscript-r.time"
cmp -s "$tmp/qscript.safetensors" "$tmp/qscript-r.safetensors" || { echo "40-int8-dynamic-scale: outputs differ with and without the report"; exit 1; }
rm -f "$tmp/qscript-r.safetensors"
cat "$tmp/model.safetensors" > /dev/null
/usr/bin/time -v /usr/bin/python3 bench/int8scale/torch_int8.py "$tmp/model.safetensors" "$tmp/torch.pt" 2> "$tmp/torch.time"

# The two agree on one MLP weight (codes and scales), so both did the same work.
/usr/bin/python3 - "$tmp/qscript.safetensors" "$tmp/torch.pt" <<'PY'
import json, struct, sys
import numpy as np, torch
path, ref = sys.argv[1], torch.load(sys.argv[2], weights_only=True)
with open(path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
name = "model.layers.0.mlp.down_proj.weight"
for key, dt in ((name, np.int8), (name + "_scale", np.float32)):
    b, e = h[key]["data_offsets"]
    got = np.memmap(path, dtype=dt, mode="r", offset=8 + n + b, shape=tuple(h[key]["shape"]))
    if not np.array_equal(got, ref[key].numpy()):
        sys.exit(f"40-int8-dynamic-scale: {key} differs from torch")
PY

q=$(seconds "$tmp/qscript.time"); t=$(seconds "$tmp/torch.time"); r=$(seconds "$tmp/qscript-r.time")
qrss=$(field 'Maximum resident' "$tmp/qscript.time"); trss=$(field 'Maximum resident' "$tmp/torch.time")
rrss=$(field 'Maximum resident' "$tmp/qscript-r.time")
awk -v s="$size" -v q="$q" -v t="$t" -v qr="$qrss" -v tr="$trss" -v r="$r" -v rr="$rrss" 'BEGIN {
  printf "model   %.2f GB f32 (%d bytes), int8 per-channel symmetric, compressed-tensors layout\n", s / 1e9, s
  printf "qscript %6.2f s  %5.2f GB/s  peak RSS %4d MiB (%4.1f%% of the model)\n", q, s / 1e9 / q, qr / 1024, 100 * qr * 1024 / s
  printf "+report %6.2f s  %5.2f GB/s  peak RSS %4d MiB (%4.1f%% of the model)  (report pass, then save)\n", r, s / 1e9 / r, rr / 1024, 100 * rr * 1024 / s
  printf "torch   %6.2f s  %5.2f GB/s  peak RSS %4d MiB (%4.1f%% of the model)\n", t, s / 1e9 / t, tr / 1024, 100 * tr * 1024 / s
  printf "ratio   qscript is %.2fx torch (whole process, file to file)\n", t / q
}'
for rss in "$qrss" "$rrss"; do
  awk -v s="$size" -v qr="$rss" 'BEGIN { exit !(qr * 1024 < 0.25 * s) }' || { echo "40-int8-dynamic-scale: peak RSS ${rss} KiB is not below 25% of the model"; exit 1; }
done
