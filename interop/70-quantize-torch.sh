#!/usr/bin/env bash
# Model-level weight quantization against PyTorch 1.13 (issue 5 acceptance 1-3), through the
# built-in recipes and the CLI as a user runs them: the bundled digits CNN goes through
# recipes/int8_dynamic.lua (compressed layout as .safetensors and .pt, and layout=fake, conv1
# skipped with skip=first_conv), recipes/fp16.lua (.safetensors and .pt) and recipes/bf16.lua.
# `qscript inspect --json` of the int8 output must show the compressed-tensors layout and
# metadata, and torch checks (a) codes and scales bit for bit against PerChannelMinMaxObserver
# + quantize_per_channel, (b) the fake layout in the original module (strict load, accuracy
# within 0.5 points), (c) the casts against .half()/.bfloat16(), (d) the .pt outputs against
# the safetensors ones.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
in=examples/models/digits_cnn.pt

go build -o "$dir/qscript" ./cmd/qscript
# recipe RECIPE ARGS...: runs a built-in recipe, keeping its report in $dir/log; shows it on failure.
recipe() {
  if ! "$dir/qscript" "$@" >"$dir/log" 2>&1; then
    cat "$dir/log" >&2
    echo "70-quantize-torch: FAIL: qscript $*" >&2
    exit 1
  fi
}
recipe recipes/int8_dynamic.lua model=$in out="$dir/int8.safetensors" skip=first_conv
recipe recipes/int8_dynamic.lua model=$in out="$dir/int8.pt" skip=first_conv
recipe recipes/int8_dynamic.lua model=$in out="$dir/fake.safetensors" skip=first_conv layout=fake
recipe recipes/fp16.lua model=$in out="$dir/fp16.safetensors"
recipe recipes/fp16.lua model=$in out="$dir/fp16.pt"
recipe recipes/bf16.lua model=$in out="$dir/bf16.safetensors"
"$dir/qscript" inspect --json "$dir/int8.safetensors" >"$dir/int8.inspect.json"

if /usr/bin/python3 interop/quantize/check_torch.py "$dir"; then
  echo "70-quantize-torch: ok (recipes via the CLI: inspect shows the compressed-tensors layout and metadata; int8 codes/scales = torch bit for bit; fake layout loads and keeps accuracy; fp16/bf16 = torch casts; .pt = safetensors)"
else
  echo "70-quantize-torch: FAIL" >&2
  exit 1
fi
