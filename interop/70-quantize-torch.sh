#!/usr/bin/env bash
# Model-level weight quantization against PyTorch 1.13 (issue 5 acceptance 1-3): qscript
# quantizes the bundled digits CNN (int8 per-channel symmetric, conv1 skipped; fp16; bf16),
# and torch checks (a) codes and scales bit for bit against PerChannelMinMaxObserver +
# quantize_per_channel, (b) the fake layout in the original module (strict load, accuracy
# within 0.5 points), (c) the casts against .half()/.bfloat16(), (d) the .pt outputs
# against the safetensors ones.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
in=examples/models/digits_cnn.pt

go build -o "$dir/quantize" ./interop/quantize
"$dir/quantize" -skip conv1 "$in" "$dir/int8.safetensors"
"$dir/quantize" -skip conv1 "$in" "$dir/int8.pt"
"$dir/quantize" -skip conv1 -layout fake "$in" "$dir/fake.safetensors"
"$dir/quantize" -dtype fp16 "$in" "$dir/fp16.safetensors"
"$dir/quantize" -dtype fp16 "$in" "$dir/fp16.pt"
"$dir/quantize" -dtype bf16 "$in" "$dir/bf16.safetensors"

if /usr/bin/python3 interop/quantize/check_torch.py "$dir"; then
  echo "70-quantize-torch: ok (int8 codes/scales = torch bit for bit; fake layout loads and keeps accuracy; fp16/bf16 = torch casts; .pt = safetensors)"
else
  echo "70-quantize-torch: FAIL" >&2
  exit 1
fi
