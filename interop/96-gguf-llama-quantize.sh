#!/usr/bin/env bash
# qscript's GGUF files against llama.cpp's own quantizer, tensor for tensor and byte for
# byte. The reference is llama_model_quantize (what the llama-quantize tool calls) in the
# prebuilt libllama of npm @node-llama-cpp/linux-x64, driven by interop/gguf/llama_quantize.c
# (compiled here against llama.h from the source bundled in node-llama-cpp; nothing of
# llama.cpp is built). For Llama folders made by scripts/fixtures/llama_folder.py (8 layers,
# hidden 256, so every k-quant applies; and hidden 32, where every k-quant falls back) and a
# Qwen2 folder (tied embeddings), qscript converts the folder to F32, llama.cpp quantizes that
# F32 GGUF, and qscript converts the folder straight to the same type: every tensor's type,
# dimensions and bytes must match (interop/ggufcmp). Covered: every file type qscript
# writes, with and without an importance matrix (legacy .dat with random column weights),
# --tensor-type overrides and --pure.
set -euo pipefail
cd "$(dirname "$0")/.."
lib=interop/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
bundle=interop/node_modules/node-llama-cpp/llama/gitRelease.bundle
for f in "$lib/libllama.v0.4.0.so" "$bundle"; do
  [ -e "$f" ] || { echo "96-gguf-llama-quantize: $f is missing (cd interop && npm ci)" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone -q --no-checkout "$bundle" "$tmp/src" && git -C "$tmp/src" checkout -q HEAD -- include ggml/include
"${CC:-gcc}" -O1 -std=c11 -Wall -o "$tmp/llama_quantize" interop/gguf/llama_quantize.c \
  -I "$tmp/src/include" -I "$tmp/src/ggml/include" -L"$lib" -l:libllama.v0.4.0.so -l:libggml-base.so -Wl,-rpath,"$PWD/$lib"
go build -o "$tmp/qscript" ./cmd/qscript
go build -o "$tmp/ggufcmp" ./interop/ggufcmp

# A legacy imatrix .dat for every quantizable tensor but token_embd (random positive weights).
write_imatrix() {
  /usr/bin/python3 - "$@" <<'PY'
import random, struct, sys
path, layers, hidden, ffn = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(5)
entries = [("output.weight", hidden)]
for i in range(layers):
    for p, n in [("attn_q", hidden), ("attn_k", hidden), ("attn_v", hidden), ("attn_output", hidden),
                 ("ffn_gate", hidden), ("ffn_up", hidden), ("ffn_down", ffn)]:
        entries.append(("blk.%d.%s.weight" % (i, p), n))
with open(path, "wb") as f:
    f.write(struct.pack("<i", len(entries)))
    for name, n in entries:
        f.write(struct.pack("<i", len(name)) + name.encode() + struct.pack("<ii", 3, n))
        f.write(struct.pack("<%df" % n, *[rng.lognormvariate(0, 1) * 3 for _ in range(n)]))
    f.write(struct.pack("<ii", 3, 4) + b"wiki")
PY
}

fail=0
compare() { # NAME FTYPE_NUMBER QSCRIPT_ARGS... -- LLAMA_ARGS...
  local label=$1 ftype=$2; shift 2
  local qs=() ll=()
  while [ "$1" != -- ]; do qs+=("$1"); shift; done; shift
  ll=("$@")
  "$tmp/llama_quantize" "$model.F32.gguf" "$tmp/ref.gguf" "$ftype" "${ll[@]}" >"$tmp/log" 2>&1 ||
    { tail -5 "$tmp/log" >&2; echo "96-gguf-llama-quantize: FAIL: llama.cpp on $label" >&2; fail=1; return; }
  "$tmp/qscript" -q recipes/gguf.lua model="$model/model" out="$tmp/qs.gguf" "${qs[@]}" >"$tmp/log" 2>&1 ||
    { cat "$tmp/log" >&2; echo "96-gguf-llama-quantize: FAIL: qscript on $label" >&2; fail=1; return; }
  if out=$("$tmp/ggufcmp" "$tmp/qs.gguf" "$tmp/ref.gguf"); then
    echo "$label: ${out##*$'\n'}"
  else
    echo "$out" | tail -6 >&2
    echo "96-gguf-llama-quantize: FAIL: $label" >&2
    fail=1
  fi
}

for spec in "llama 8 256 512" "llama 2 32 64" "qwen2 2 256 512"; do
  read -r arch layers hidden ffn <<<"$spec"
  model="$tmp/$arch-$layers-$hidden"
  /usr/bin/python3 scripts/fixtures/llama_folder.py "$model" --arch "$arch" --layers "$layers" --hidden "$hidden" --ffn "$ffn" --seed 1 >/dev/null
  write_imatrix "$model/imatrix.dat" "$layers" "$hidden" "$ffn"
  "$tmp/qscript" -q recipes/gguf.lua model="$model/model" out="$model.F32.gguf" type=F32 >/dev/null
  for m in F16:1 BF16:32 Q8_0:7 Q4_0:2 Q4_1:3 Q5_0:8 Q5_1:9 Q2_K:10 Q3_K_S:11 Q3_K_M:12 Q3_K_L:13 \
           Q4_K_S:14 Q4_K_M:15 Q5_K_S:16 Q5_K_M:17 Q6_K:18; do
    compare "$arch/$layers/$hidden $m" "${m#*:}" type="${m%:*}" --
  done
  for m in Q4_0:2 Q2_K:10 Q2_K_S:21 Q3_K_M:12 Q4_K_M:15 Q5_K_M:17 Q6_K:18; do
    compare "$arch/$layers/$hidden $m imatrix" "${m#*:}" type="${m%:*}" imatrix="$model/imatrix.dat" -- --imatrix "$model/imatrix.dat"
  done
  compare "$arch/$layers/$hidden Q4_K_M overrides" 15 type=Q4_K_M 'override=blk\.0\.ffn_down=Q8_0,attn_q=Q5_1' -- 'blk\.0\.ffn_down=q8_0' 'attn_q=q5_1'
  compare "$arch/$layers/$hidden Q4_K_M pure" 15 type=Q4_K_M pure=true -- --pure
done
[ "$fail" = 0 ] && echo "96-gguf-llama-quantize: ok"
exit "$fail"
