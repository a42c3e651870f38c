#!/usr/bin/env bash
# Issue 5 acceptance 4 (and issue 12: int8 at least 4x faster than PyTorch): a ~2 GiB f32
# Linear-only safetensors checkpoint with 7B-like shapes (4096×4096 attention, 11008×4096 and
# 4096×11008 MLP, and a 32000×4096 lm_head of 524 MB, the largest tensor) goes through the
# built-in recipe, as a user runs it:
#   qscript recipes/int8_dynamic.lua model=model.safetensors out=qscript.safetensors
# (int8 per-channel symmetric weights, compressed-tensors layout; the recipe saves, then prints
# q:report(), whose per-layer statistics the save measured from the values and codes it wrote,
# so the weights are read once), whole process from file to file with the input in the page
# cache; peak RSS must stay below 25% of the model. A three-line recipe doing only
# qs.quantize + qs.save is measured too, to show what building and printing the report adds;
# both outputs must be identical. PyTorch 1.13 does the same job (load +
# PerChannelMinMaxObserver + quantize_per_channel + torch.save) in the same session, and the
# ratio is printed.
# Usage: bench/40-int8-dynamic-scale.sh [GIB]   (default 2; needs ~3×GIB free in $TMPDIR)
set -euo pipefail
cd "$(dirname "$0")/.."
gib=${1:-2}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qscript-int8.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[ -x /usr/bin/time ] || { echo "40-int8-dynamic-scale: needs /usr/bin/time (apt-get install time)"; exit 1; }

go build -o "$tmp/int8scale" ./bench/int8scale
go build -o "$tmp/qscript" ./cmd/qscript
"$tmp/int8scale" "$tmp/model.safetensors" "$gib"
size=$(stat -c %s "$tmp/model.safetensors")
cat > "$tmp/quantize_only.lua" <<'LUA'
-- int8_dynamic.lua's quantization and save, without the report pass.
local qs = require "qs"
local q = qs.quantize(qs.load(arg.model), {
  weights = { dtype = "int8", per_channel = true, symmetric = true },
  layers = { "Linear", "Conv" },
})
qs.save(q, arg.out)
LUA

field() { grep -F "$1" "$2" | sed 's/.*: //'; }
seconds() { field 'Elapsed (wall clock)' "$1" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'; }
# timed NAME COMMAND...: runs COMMAND under /usr/bin/time -v with the input in the page cache
# (as SPEC §9 measures), stdout in $tmp/NAME.log, the figures in $tmp/NAME.time.
timed() {
  local name=$1
  shift
  cat "$tmp/model.safetensors" > /dev/null
  /usr/bin/time -v "$@" > "$tmp/$name.log" 2> "$tmp/$name.time" || {
    cat "$tmp/$name.log" "$tmp/$name.time" >&2
    echo "40-int8-dynamic-scale: FAIL: $*" >&2
    exit 1
  }
}
timed recipe "$tmp/qscript" recipes/int8_dynamic.lua model="$tmp/model.safetensors" out="$tmp/qscript.safetensors"
timed noreport "$tmp/qscript" "$tmp/quantize_only.lua" model="$tmp/model.safetensors" out="$tmp/noreport.safetensors"
cmp -s "$tmp/qscript.safetensors" "$tmp/noreport.safetensors" || { echo "40-int8-dynamic-scale: outputs differ with and without the report"; exit 1; }
rm -f "$tmp/noreport.safetensors"
timed torch /usr/bin/python3 bench/int8scale/torch_int8.py "$tmp/model.safetensors" "$tmp/torch.pt"

# The recipe quantized every layer, and agrees with torch on one MLP weight (codes and
# scales), so both did the same work.
layers=$(grep -E '^totals' "$tmp/recipe.log" || true)
/usr/bin/python3 - "$tmp/qscript.safetensors" "$tmp/torch.pt" <<'PY'
import json, struct, sys
import numpy as np, torch
path, ref = sys.argv[1], torch.load(sys.argv[2], weights_only=True)
with open(path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
record = json.loads(h["__metadata__"]["quantization"])
weights = [k for k in ref if k.endswith(".weight")]
if sorted(record["layers_quantized"]) != sorted(k[:-len(".weight")] for k in weights):
    sys.exit(f"40-int8-dynamic-scale: the recipe quantized {len(record['layers_quantized'])} layers, torch {len(weights)}")
name = "model.layers.0.mlp.down_proj.weight"
for key, dt in ((name, np.int8), (name + "_scale", np.float32)):
    b, e = h[key]["data_offsets"]
    got = np.memmap(path, dtype=dt, mode="r", offset=8 + n + b, shape=tuple(h[key]["shape"]))
    if not np.array_equal(got, ref[key].numpy()):
        sys.exit(f"40-int8-dynamic-scale: {key} differs from torch")
PY

q=$(seconds "$tmp/recipe.time"); n=$(seconds "$tmp/noreport.time"); t=$(seconds "$tmp/torch.time")
qrss=$(field 'Maximum resident' "$tmp/recipe.time"); nrss=$(field 'Maximum resident' "$tmp/noreport.time")
trss=$(field 'Maximum resident' "$tmp/torch.time")
awk -v s="$size" -v q="$q" -v n="$n" -v t="$t" -v qr="$qrss" -v nr="$nrss" -v tr="$trss" -v layers="$layers" 'BEGIN {
  printf "model      %.2f GB f32 (%d bytes), int8 per-channel symmetric, compressed-tensors layout\n", s / 1e9, s
  printf "recipe     %6.2f s  %5.2f GB/s  peak RSS %4d MiB (%4.1f%% of the model)  qscript recipes/int8_dynamic.lua (save measuring the report, print; %s)\n", q, s / 1e9 / q, qr / 1024, 100 * qr * 1024 / s, layers
  printf "no report  %6.2f s  %5.2f GB/s  peak RSS %4d MiB (%4.1f%% of the model)  qs.quantize + qs.save only\n", n, s / 1e9 / n, nr / 1024, 100 * nr * 1024 / s
  printf "torch      %6.2f s  %5.2f GB/s  peak RSS %4d MiB (%4.1f%% of the model)  load + PerChannelMinMaxObserver + quantize_per_channel + torch.save\n", t, s / 1e9 / t, tr / 1024, 100 * tr * 1024 / s
  printf "ratio      the recipe is %.2fx torch, %.2fx without the report (whole process, file to file)\n", t / q, t / n
}'
for rss in "$qrss" "$nrss"; do
  awk -v s="$size" -v qr="$rss" 'BEGIN { exit !(qr * 1024 < 0.25 * s) }' || { echo "40-int8-dynamic-scale: FAIL: peak RSS ${rss} KiB is not below 25% of the model"; exit 1; }
done
echo "40-int8-dynamic-scale: ok (peak RSS below 25% of the model; output equals torch's on the checked layer)"
