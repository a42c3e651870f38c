#!/usr/bin/env bash
# Live bit-exactness of quant/ggml against ggml itself: ggml_quantize_chunk from the prebuilt
# libggml-base.so of npm @node-llama-cpp/linux-x64 (loaded with dlopen by
# scripts/fixtures/ggml_quant.c; no ggml source is compiled) quantizes fresh random weight
# matrices (4096x256, 64x4096 and 128x896, which the k-quants skip; gaussian with outliers
# and a zero row, several seeds, and one seed of bands of denormal, tiny, huge, one-signed,
# sparse and integer rows) to every supported type, with and without a random importance matrix, and dequantizes them
# with ggml's dequantize_row_*; quant/ggml/internal/ggmlcheck compares ALL bytes and values.
#
# The library: interop/node_modules/@node-llama-cpp/linux-x64 (node-llama-cpp in
# interop/package.json brings it), else $GGML_NPM_TGZ, else `npm pack` into a temporary
# folder. SEEDS (default "1 2 3") and SHAPES override the runs.
# Exits 1 on any difference, 2 when the library cannot be found, built against or loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${SEEDS:-1 2 3}
shapes=${SHAPES:-4096x256 64x4096 128x896}
package=@node-llama-cpp/linux-x64@3.21.1
die() { echo "35-ggml-quant: $*" >&2; exit 2; }

[ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] || die "the npm package ships linux-x64 libraries; this is $(uname -s)/$(uname -m)"
cc=${CC:-gcc}
command -v "$cc" >/dev/null || die "no C compiler ($cc) for scripts/fixtures/ggml_quant.c"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qscript-ggmlq.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

lib=interop/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so
if [ ! -f "$lib" ]; then
  tgz=${GGML_NPM_TGZ:-}
  if [ -z "$tgz" ]; then
    command -v npm >/dev/null || die "no $lib and no npm to fetch $package"
    (cd "$tmp" && npm pack --silent "$package" >/dev/null 2>"$tmp/npm.err") ||
      die "npm pack $package failed: $(tail -n 3 "$tmp/npm.err")"
    tgz=$(ls "$tmp"/node-llama-cpp-linux-x64-*.tgz 2>/dev/null | head -n 1)
  fi
  [ -f "$tgz" ] || die "no tarball of $package"
  tar -xzf "$tgz" -C "$tmp" package/bins/linux-x64/libggml-base.so || die "cannot unpack libggml-base.so from $tgz"
  lib="$tmp/package/bins/linux-x64/libggml-base.so"
fi

"$cc" -O2 -std=c11 -Wall -o "$tmp/ggml_quant" scripts/fixtures/ggml_quant.c -ldl -lm || die "cannot compile scripts/fixtures/ggml_quant.c"
go build -o "$tmp/ggmlcheck" ./quant/ggml/internal/ggmlcheck
dirs=()
for seed in $seeds; do
  dir="$tmp/cases-$seed"
  mkdir "$dir"
  # shellcheck disable=SC2086
  "$tmp/ggml_quant" "$lib" live "$dir" "$seed" $shapes >/dev/null || die "ggml_quant failed (exit $?)"
  dirs+=("$dir")
done
# One more seed whose rows come in bands of denormal, tiny, huge, one-signed, sparse and
# integer-valued weights, where the searches take their rare branches.
dir="$tmp/cases-mixed"
mkdir "$dir"
# shellcheck disable=SC2086
MIXED=1 "$tmp/ggml_quant" "$lib" live "$dir" 99 $shapes >/dev/null || die "ggml_quant failed (exit $?)"
dirs+=("$dir")
echo "seeds $seeds and a mixed one, shapes $shapes:"
status=0
"$tmp/ggmlcheck" "${dirs[@]}" || status=$?
[ "$status" -le 1 ] || exit "$status"
if [ "$status" -ne 0 ]; then
  echo "35-ggml-quant: FAIL (quant/ggml differs from ggml's bytes)"
  exit 1
fi
echo "35-ggml-quant: ok — every block of F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K..Q6_K (plain and imatrix) identical to ggml's"
