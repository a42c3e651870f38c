#!/usr/bin/env bash
# quant/ggml's kernels against ggml's own, type by type: ggml_quantize_chunk from the prebuilt
# libggml-base.so of npm @node-llama-cpp/linux-x64 (bench/ggml/kernels_peer.c, dlopen) and
# ggml.QuantizeRows (quant/ggml/internal/ggmlbench), both on ONE thread, on ROWS x COLS
# gaussian weights with 1% outliers, with and without an importance matrix. Both produce the
# same bytes (interop/35-ggml-quant.sh checks that); this compares the time.
#
# Figures are MB/s of float32 input per second of the thread's own CPU time, best of REPS
# runs, so that other processes on a shared machine do not count against either side (they
# still share caches). The two alternate twice and each keeps its best. The npm libraries
# target baseline x86-64 (SSE2); qscript uses AVX2 where the CPU has it. In a whole
# quantization both sides also split the rows over threads.
#
# The library: interop/node_modules/@node-llama-cpp/linux-x64, else $GGML_NPM_TGZ, else
# `npm pack` into a temporary folder. Exits 2 when it cannot be found, built or loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-256}
cols=${COLS:-4096}
reps=${REPS:-3}
package=@node-llama-cpp/linux-x64@3.21.1
die() { echo "35-ggml-kernels: $*" >&2; exit 2; }

[ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] || die "the npm package ships linux-x64 libraries; this is $(uname -s)/$(uname -m)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qscript-ggmlk.XXXXXX")
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
"${CC:-gcc}" -O2 -std=c11 -Wall -o "$tmp/kernels_peer" bench/ggml/kernels_peer.c -ldl -lm || die "cannot compile bench/ggml/kernels_peer.c"
go build -o "$tmp/ggmlbench" ./quant/ggml/internal/ggmlbench

out=""
for round in 1 2; do
  out+=$("$tmp/kernels_peer" "$lib" "$rows" "$cols" "$reps")$'\n'
  out+=$(GOMAXPROCS=1 "$tmp/ggmlbench" "$rows" "$cols" "$reps")$'\n'
done
printf '%-14s %12s %12s %8s\n' type "ggml MB/s" "qscript MB/s" "q/ggml"
echo "$out" | awk '
  $1 == "ggml" && $3 > g[$2] { g[$2] = $3 }
  $1 == "qscript" { if ($3 > q[$2]) q[$2] = $3; if (!($2 in seen)) { seen[$2] = 1; order[n++] = $2 } }
  END { for (i = 0; i < n; i++) { t = order[i]; printf "%-14s %12.1f %12.1f %7.2fx\n", t, g[t], q[t], q[t] / g[t] } }'
echo "one thread each, ${rows}x${cols} float32, MB/s of input per second of thread CPU time, best of 2x$reps;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
