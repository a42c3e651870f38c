#!/usr/bin/env bash
# Issue 11: a Hugging Face folder to Q8_0 and Q4_K_M GGUF files, whole process, against
# llama-quantize on the same weights from an F32 GGUF, same session. The model is a
# Llama-shaped folder from scripts/fixtures/llama_folder.py (bf16, two shards; HIDDEN=2048,
# FFN=5632, LAYERS=8 by default: 362M parameters, 724 MB). qscript runs
#   qscript recipes/gguf.lua model=DIR out=X.gguf type=T
# (reads bf16, permutes, quantizes, writes); the peer gets the F32 GGUF that qscript writes
# for it (not timed; convert_hf_to_gguf.py --outtype f32 writes the same tensors) and runs
#   llama-quantize model.F32.gguf X.gguf T 2
# so the peer skips the bf16 read and the conversion. Input files are in the page cache.
# Time and peak RSS come from /usr/bin/time, best of REPS (default 2) runs each, alternated;
# the ratios are qscript / llama-quantize. Both outputs must hold identical tensors.
#
# The peer: $LLAMA_QUANTIZE when set; else llama-quantize built with cmake from the llama.cpp
# source that node-llama-cpp bundles (interop/node_modules), cached in
# ${QSCRIPT_CACHE:-~/.cache/qscript} outside the repository (BUILD_PEER=0 skips the build,
# which takes a while on two cores); else, said so in the output, llama_model_quantize (the
# function llama-quantize calls) in node-llama-cpp's prebuilt libllama, through
# interop/gguf/llama_quantize.c, a build with GGML_NATIVE off.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${REPS:-2}
hidden=${HIDDEN:-2048} ffn=${FFN:-5632} layers=${LAYERS:-8}
[ -x /usr/bin/time ] || { echo "70-gguf: needs /usr/bin/time (apt-get install time)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qscript-gguf.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
lib=interop/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
bundle=interop/node_modules/node-llama-cpp/llama/gitRelease.bundle
[ -e "$bundle" ] || { echo "70-gguf: $bundle is missing (cd interop && npm ci)"; exit 2; }

# The peer is $tmp/peer IN OUT TYPE, a wrapper that execs it (so /usr/bin/time measures it).
cache=${QSCRIPT_CACHE:-$HOME/.cache/qscript}/llama.cpp-$(sha256sum "$bundle" | cut -c1-12)
wrapper() { printf '#!/usr/bin/env bash\n%s\n' "$1" >"$tmp/peer"; chmod +x "$tmp/peer"; }
if [ -n "${LLAMA_QUANTIZE:-}" ]; then
  peer_name="llama-quantize ($LLAMA_QUANTIZE)"
  wrapper "exec \"$LLAMA_QUANTIZE\" \"\$1\" \"\$2\" \"\$3\" 2"
else
  if [ ! -x "$cache/build/bin/llama-quantize" ] && [ "${BUILD_PEER:-1}" != 0 ] && command -v cmake >/dev/null && command -v g++ >/dev/null; then
    echo "70-gguf: building llama-quantize in $cache (once)"
    rm -rf "$cache" && mkdir -p "$(dirname "$cache")"
    if git clone -q "$bundle" "$cache" &&
       cmake -S "$cache" -B "$cache/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
         -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >"$tmp/cmake.log" 2>&1 &&
       cmake --build "$cache/build" --target llama-quantize -j"$(nproc)" >>"$tmp/cmake.log" 2>&1; then :; else
      echo "70-gguf: the llama-quantize build failed (last lines below); using the prebuilt library instead"
      tail -5 "$tmp/cmake.log"
    fi
  fi
  if [ -x "$cache/build/bin/llama-quantize" ]; then
    peer_name="llama-quantize (cmake build of node-llama-cpp's bundled llama.cpp, native)"
    wrapper "exec \"$cache/build/bin/llama-quantize\" \"\$1\" \"\$2\" \"\$3\" 2"
  else
    git clone -q --no-checkout "$bundle" "$tmp/src" && git -C "$tmp/src" checkout -q HEAD -- include ggml/include
    "${CC:-gcc}" -O2 -std=c11 -o "$tmp/llama_quantize" interop/gguf/llama_quantize.c -I "$tmp/src/include" \
      -I "$tmp/src/ggml/include" -L"$lib" -l:libllama.v0.4.0.so -l:libggml-base.so -Wl,-rpath,"$PWD/$lib"
    peer_name="llama_model_quantize of node-llama-cpp's prebuilt libllama (no llama-quantize build here)"
    wrapper "case \$3 in Q8_0) f=7;; Q4_K_M) f=15;; esac; exec \"$tmp/llama_quantize\" \"\$1\" \"\$2\" \"\$f\""
  fi
fi

go build -o "$tmp/qscript" ./cmd/qscript
go build -o "$tmp/ggufcmp" ./interop/ggufcmp
/usr/bin/python3 scripts/fixtures/llama_folder.py "$tmp/m" --hidden "$hidden" --ffn "$ffn" --layers "$layers" --seed 1 >/dev/null
"$tmp/qscript" -q recipes/gguf.lua model="$tmp/m/model" out="$tmp/m.F32.gguf" type=F32 >/dev/null
cat "$tmp"/m/model/*.safetensors "$tmp/m.F32.gguf" >/dev/null # into the page cache

# best NAME CMD...: runs once, keeps the smallest wall time and RSS seen for NAME.
declare -A wall rss
best() {
  local name=$1; shift
  /usr/bin/time -o "$tmp/t" -f "%e %M" "$@" >"$tmp/out.log" 2>&1 || { tail -5 "$tmp/out.log"; echo "70-gguf: FAIL: $*"; exit 1; }
  read -r w m <"$tmp/t"
  if [ -z "${wall[$name]:-}" ] || awk "BEGIN{exit !($w < ${wall[$name]})}"; then wall[$name]=$w; fi
  if [ -z "${rss[$name]:-}" ] || [ "$m" -lt "${rss[$name]}" ]; then rss[$name]=$m; fi
}

echo "model: Llama, hidden $hidden, ffn $ffn, $layers layers, $(du -sh "$tmp/m/model" | cut -f1) of bf16; F32 GGUF $(du -sh "$tmp/m.F32.gguf" | cut -f1)"
echo "peer: $peer_name"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); best of $reps runs each"
printf "%-7s %12s %12s %8s %12s %12s %8s\n" type "qscript s" "peer s" ratio "qscript MiB" "peer MiB" ratio
for type in Q8_0 Q4_K_M; do
  for _ in $(seq "$reps"); do
    best "qs$type" "$tmp/qscript" -q recipes/gguf.lua model="$tmp/m/model" out="$tmp/qs.gguf" type="$type"
    best "peer$type" "$tmp/peer" "$tmp/m.F32.gguf" "$tmp/peer.gguf" "$type"
  done
  "$tmp/ggufcmp" "$tmp/qs.gguf" "$tmp/peer.gguf" >"$tmp/cmp.log" || { tail -3 "$tmp/cmp.log"; echo "70-gguf: FAIL: $type outputs differ"; exit 1; }
  awk -v t="$type" -v a="${wall[qs$type]}" -v b="${wall[peer$type]}" -v ra="${rss[qs$type]}" -v rb="${rss[peer$type]}" \
    'BEGIN { printf "%-7s %12.2f %12.2f %8.2f %12.1f %12.1f %8.2f\n", t, a, b, a / b, ra / 1024, rb / 1024, ra / rb }'
done
echo "70-gguf: outputs identical tensor for tensor"
