#!/usr/bin/env bash
# GGUF files that real llama.cpp runs: scripts/fixtures/llama_folder.py makes two small
# Hugging Face folders (LlamaForCausalLM with GQA and untied output; Qwen2ForCausalLM with
# q/k/v biases and tied embeddings; bf16 shards, a byte-level BPE tokenizer.json trained on
# the spot) and a PyTorch reference forward pass. qscript's recipes/gguf.lua converts each
# at F16, Q8_0 and Q4_K_M; node-llama-cpp's prebuilt llama.cpp (interop/node_modules, no
# build, no download) loads each file and gives next-token probabilities for the reference
# token ids (interop/gguf/llama-logits.mjs). Checks: top-1 agreement with torch on every
# position (F16: all; Q8_0: at least 95%), the largest probability difference (F16 <= 0.01,
# Q8_0 <= 0.15), and llama.cpp's tokenization of the test sentence equal to the reference
# BPE's. Q4_K_M's figures are printed, not gated. Also: the F16 GGUF requantized to Q8_0
# by qscript is byte-identical to the folder converted to Q8_0 directly.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/qscript" ./cmd/qscript

fail=0
# Seeds are the ones llama_folder.py's search picks (every top-1 margin at least 3% of the
# logits' spread); passing them skips the search.
for spec in llama:659 qwen2:1; do
  arch=${spec%:*} seed=${spec#*:}
  /usr/bin/python3 scripts/fixtures/llama_folder.py "$tmp/$arch" --arch "$arch" --seed "$seed"
  for check in F16:1.0:0.01 Q8_0:0.95:0.15 Q4_K_M:0:1; do
    IFS=: read -r type top1 dp <<<"$check"
    out="$tmp/$arch.$type.gguf"
    "$tmp/qscript" -q recipes/gguf.lua model="$tmp/$arch/model" out="$out" type="$type" >"$tmp/log" ||
      { cat "$tmp/log" >&2; echo "95-gguf-llama: FAIL: converting $arch to $type" >&2; exit 1; }
    if ! (cd interop && node gguf/llama-logits.mjs "$out" "$tmp/$arch/reference.json" "$top1" "$dp"); then
      echo "95-gguf-llama: FAIL: $arch $type (needs top-1 >= $top1, max probability difference <= $dp)" >&2
      fail=1
    fi
  done
  "$tmp/qscript" -q recipes/gguf.lua model="$tmp/$arch.F16.gguf" out="$tmp/$arch.requant.gguf" type=Q8_0 >/dev/null
  if ! cmp -s "$tmp/$arch.requant.gguf" "$tmp/$arch.Q8_0.gguf"; then
    echo "95-gguf-llama: FAIL: $arch F16 GGUF -> Q8_0 differs from the folder -> Q8_0" >&2
    fail=1
  fi
done
[ "$fail" = 0 ] && echo "95-gguf-llama: ok"
exit "$fail"
