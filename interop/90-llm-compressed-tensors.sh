#!/usr/bin/env bash
# Issue 10: Hugging Face folders in, compressed-tensors folders out, checked against
# independent ports of the reference code (torch 1.13; compressed-tensors and vLLM cannot be
# installed here). scripts/fixtures/llama_hf_folder.py builds small Llama folders (bf16, two
# shards + index, GQA, tokenizer/generation files; untied and tied; also a pytorch_model.bin
# and f16/f32 folders); recipes/llm.lua writes
# every scheme, a group_size, mixed precision and sharding variants through the CLI; then
# interop/llm/check_ct.py checks every code, scale and zero point bit for bit against
# scripts/fixtures/ct_reference.py, the config field by field, and runs the vLLM
# scheme-selection port (interop/llm/vllm_port.py) on it. The input folders must stay
# byte-identical, and a second run into a written folder must be refused without
# overwrite=true. The single-file recipes int8_dynamic.lua and int4_weight_only.lua run on
# the same folder without skip= (lm_head stays in float by default for a *ForCausalLM config)
# and interop/llm/check_vllm_file.py checks that vLLM would serve them; include=lm_head is
# the negative control that check must reject.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/qscript" ./cmd/qscript
/usr/bin/python3 scripts/fixtures/llama_hf_folder.py "$dir/llama" >/dev/null
/usr/bin/python3 scripts/fixtures/llama_hf_folder.py "$dir/tied" --tied --hidden 128 --intermediate 384 --seed 1 >/dev/null
/usr/bin/python3 scripts/fixtures/llama_hf_folder.py "$dir/bin" --bin --hidden 128 --intermediate 256 --seed 2 >/dev/null
/usr/bin/python3 scripts/fixtures/llama_hf_folder.py "$dir/f16" --dtype float16 --hidden 128 --intermediate 256 --seed 3 >/dev/null
/usr/bin/python3 scripts/fixtures/llama_hf_folder.py "$dir/f32" --dtype float32 --hidden 128 --intermediate 256 --seed 4 >/dev/null
sum_in() { (cd "$dir" && find llama tied bin f16 f32 -type f -print0 | sort -z | xargs -0 sha256sum); }
before=$(sum_in)

n=0
run() { # run NAME MODEL SPEC ARGS...: writes $dir/out-NAME and checks it
  local name=$1 model=$2 spec=$3
  shift 3
  if ! "$dir/qscript" -q recipes/llm.lua model="$dir/$model" out="$dir/out-$name" "$@" >"$dir/log" 2>&1; then
    cat "$dir/log" >&2
    echo "90-llm-compressed-tensors: FAIL: qscript recipes/llm.lua $name $*" >&2
    exit 1
  fi
  if ! /usr/bin/python3 interop/llm/check_ct.py "$dir/out-$name" "$dir/$model" "$spec" >"$dir/check"; then
    cat "$dir/check" >&2
    echo "90-llm-compressed-tensors: FAIL: $name" >&2
    exit 1
  fi
  echo "  $name: $(sed 's/^check_ct: ok: //' "$dir/check")"
  n=$((n + 1))
}
for s in W8A16 W4A16 W4A16_ASYM W8A8 FP8_DYNAMIC W8A16_FP8; do
  run "$s" llama "{\"default\": \"$s\"}" scheme=$s
done
run W4A16-g64 llama '{"default": "W4A16", "group_size": 64}' scheme=W4A16 group_size=64
run W4A16_ASYM-g32-tied tied '{"default": "W4A16_ASYM", "group_size": 32}' scheme=W4A16_ASYM group_size=32
run mixed llama '{"default": "W4A16", "overrides": [[["re:.*down_proj"], "W8A16"], [["re:.*[qkv]_proj", "re:.*o_proj"], "W8A8"]]}' \
  scheme=W4A16 'override=re:.*down_proj=W8A16;re:.*[qkv]_proj,re:.*o_proj=W8A8' max_shard_size=600KB
run fp8-mixed-tied tied '{"default": "FP8_DYNAMIC", "overrides": [[["re:.*mlp.*"], "W4A16_ASYM"]]}' \
  scheme=FP8_DYNAMIC 'override=re:.*mlp.*=W4A16_ASYM' max_shard_size=100KB

run bin-W4A16_ASYM-g64 bin '{"default": "W4A16_ASYM", "group_size": 64}' scheme=W4A16_ASYM group_size=64
run f16-FP8_DYNAMIC f16 '{"default": "FP8_DYNAMIC"}' scheme=FP8_DYNAMIC
run f16-W4A16_ASYM f16 '{"default": "W4A16_ASYM", "group_size": 32}' scheme=W4A16_ASYM group_size=32
run f32-W8A8 f32 '{"default": "W8A8"}' scheme=W8A8
run f32-W4A16 f32 '{"default": "W4A16", "group_size": 64}' scheme=W4A16 group_size=64

# The single-file weight-only recipes on the same folder (through its index), with no skip=:
# lm_head stays in float by default (config.json says LlamaForCausalLM), and the report says
# why. The quantization_config in their metadata must be one vLLM serves, with the tensors its scheme
# loads (interop/llm/check_vllm_file.py): int8_dynamic as W8A8 with dynamic per-token
# activations, int4_weight_only as WNA16.
m=0
single() { # single RECIPE NAME WANT_CLASS ARGS...
  local recipe=$1 name=$2 want=$3
  shift 3
  if ! "$dir/qscript" -q "recipes/$recipe" model="$dir/llama/model.safetensors.index.json" out="$dir/$name.safetensors" \
    "$@" >"$dir/log" 2>&1; then
    cat "$dir/log" >&2
    echo "90-llm-compressed-tensors: FAIL: qscript recipes/$recipe $*" >&2
    exit 1
  fi
  if ! grep -q "lm_head .*skipped: output head of LlamaForCausalLM stays in full precision" "$dir/log"; then
    cat "$dir/log" >&2
    echo "90-llm-compressed-tensors: FAIL: $recipe $*: the report does not give lm_head's reason" >&2
    exit 1
  fi
  if ! /usr/bin/python3 interop/llm/check_vllm_file.py "$dir/$name.safetensors" "$dir/llama" "$want" >"$dir/check"; then
    cat "$dir/check" >&2
    echo "90-llm-compressed-tensors: FAIL: $recipe $*" >&2
    exit 1
  fi
  echo "  $recipe $*: $(sed 's/^check_vllm_file: ok: //' "$dir/check")"
  m=$((m + 1))
}
single int8_dynamic.lua int8 CompressedTensorsW8A8Int8
single int8_dynamic.lua int8-tensor CompressedTensorsW8A8Int8 per_channel=false
single int4_weight_only.lua int4 CompressedTensorsWNA16
single int4_weight_only.lua uint4-g64 CompressedTensorsWNA16 symmetric=false group_size=64
single int4_weight_only.lua int4-channel CompressedTensorsWNA16 group_size=-1
# Negative control: lm_head asked for by name is quantized, and the vLLM check sees it.
"$dir/qscript" -q recipes/int8_dynamic.lua model="$dir/llama/model.safetensors.index.json" out="$dir/head.safetensors" \
  'include=lm_head,model.layers.*' >"$dir/log" 2>&1
if /usr/bin/python3 interop/llm/check_vllm_file.py "$dir/head.safetensors" "$dir/llama" CompressedTensorsW8A8Int8 >"$dir/check" \
  || ! grep -q "lm_head is not in ignore" "$dir/check"; then
  cat "$dir/log" "$dir/check" >&2
  echo "90-llm-compressed-tensors: FAIL: include=lm_head did not quantize lm_head, or check_vllm_file.py did not notice" >&2
  exit 1
fi

if [ "$(sum_in)" != "$before" ]; then
  echo "90-llm-compressed-tensors: FAIL: an input folder changed" >&2
  exit 1
fi
if "$dir/qscript" -q recipes/llm.lua model="$dir/llama" out="$dir/out-W8A16" scheme=W8A8 >"$dir/log" 2>&1 \
  || ! grep -q "overwrite=true" "$dir/log"; then
  cat "$dir/log" >&2
  echo "90-llm-compressed-tensors: FAIL: a written folder was replaced without overwrite=true" >&2
  exit 1
fi
echo "90-llm-compressed-tensors: ok ($n folders: every code/scale/zero point = the compressed-tensors port bit for bit, config field by field, vLLM port picks the expected scheme; inputs unchanged; busy folder refused; $m single-file int8_dynamic/int4_weight_only outputs with lm_head in float by default: vLLM port picks W8A8Int8/WNA16 and finds its tensors; include=lm_head quantizes it and the check notices)"
