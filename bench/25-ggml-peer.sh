#!/usr/bin/env bash
# Issue 4, acceptance 5: llama-quantize's Q8_0 and Q4_0 against qscript's int8 per-channel and
# int4 group-128 kernels, same machine, same session, on 4096x4096 and 11008x4096 float32
# weights, in GB/s of float32 input (1e9 bytes).
#
# llama-quantize itself is not installable here, so the peer is the function it calls for each
# chunk of rows, ggml_quantize_chunk, from the prebuilt llama.cpp libraries of the npm package
# @node-llama-cpp/linux-x64 (libggml-base.so; Q8_0 and Q4_0 need nothing from the CPU backend).
# bench/ggml/quantize_peer.c loads it, checks its Q8_0 and Q4_0 blocks against NUMERICS.md by
# hand decoding, and times it split over THREADS threads in row chunks as llama-quantize does,
# best of REPS (more, up to 4 x REPS, while the fastest run got under 0.95 of the cores).
# qscript's figures are its Go benchmarks in ./quant (GOMAXPROCS=THREADS), best of COUNT runs
# of BENCHTIME each. The two alternate twice, and each keeps its best.
#
# This is the kernel alone, the peer's best case: a whole llama-quantize run also converts
# f16/bf16 weights to float32 and writes the GGUF file. The npm libraries are built like
# llama.cpp's own CPU Docker image (GGML_NATIVE=OFF, CPU variants chosen at run time), so
# libggml-base.so, where the quantizers live, targets baseline x86-64: Q8_0 calls roundf per
# element, Q4_0 is SSE2. A -march=native build of ggml may be faster.
#
# The work differs in its grouping, and the table says so: Q8_0 has one fp16 scale per 32
# elements where qscript's int8 has one float32 scale per row (after a whole-row min/max
# pass), and Q4_0 groups 32 where qscript groups 128 and packs into int32 words.
#
# The tarball: $GGML_NPM_TGZ, else /tmp/llamanpm/node-llama-cpp-linux-x64-3.22.1.tgz, else
# `npm pack` from the npm registry into a temporary folder. Nothing is installed or kept.
# Exits 2 when the library cannot be fetched, built against or loaded, 1 when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
reps=${REPS:-5}
count=${COUNT:-5}
benchtime=${BENCHTIME:-10x}
package=@node-llama-cpp/linux-x64@3.22.1

die() { echo "25-ggml-peer: $*" >&2; exit 2; }

[ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] || die "the npm package ships linux-x64 libraries; this is $(uname -s)/$(uname -m)"
cc=${CC:-gcc}
command -v "$cc" >/dev/null || die "no C compiler ($cc) to build bench/ggml/quantize_peer.c"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qscript-ggml.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

tgz=${GGML_NPM_TGZ:-/tmp/llamanpm/node-llama-cpp-linux-x64-3.22.1.tgz}
if [ ! -f "$tgz" ]; then
  command -v npm >/dev/null || die "$tgz is absent and there is no npm to fetch $package"
  (cd "$tmp" && npm pack --silent "$package" >/dev/null 2>"$tmp/npm.err") ||
    die "npm pack $package failed: $(tail -n 3 "$tmp/npm.err")"
  tgz=$(ls "$tmp"/node-llama-cpp-linux-x64-*.tgz 2>/dev/null | head -n 1)
  [ -n "$tgz" ] || die "npm pack $package wrote no tarball"
fi
tar -xzf "$tgz" -C "$tmp" package/bins/linux-x64 || die "cannot unpack the libraries from $tgz"
lib="$tmp/package/bins/linux-x64/libggml-base.so"
[ -f "$lib" ] || die "$tgz has no bins/linux-x64/libggml-base.so"

"$cc" -O2 -std=c11 -Wall -o "$tmp/quantize_peer" bench/ggml/quantize_peer.c -ldl -lpthread -lm ||
  die "cannot compile bench/ggml/quantize_peer.c"
# The harness exits 2 (cannot load) or 1 (a check failed) with its own message; keep its status.
run_ggml() {
  local out status=0
  out=$("$tmp/quantize_peer" "$lib" "$threads" "$reps") || status=$?
  if [ "$status" -ne 0 ]; then
    echo "$out" >&2
    echo "25-ggml-peer: the ggml peer failed (exit $status); no figures" >&2
    exit "$status"
  fi
  echo "$out"
}
run_go() {
  GOMAXPROCS=$threads go test -run '^$' -benchtime "$benchtime" -count "$count" \
    -bench 'BenchmarkInt8PerChannel$|BenchmarkInt8PerChannelObserverThenQuantize$|BenchmarkInt4Group128Packed$' ./quant
}
# Two rounds, ggml then qscript each time, best of both: on a shared 2-core machine a noisy
# spell then cannot slow one side alone.
load_before=$(cut -d' ' -f1 /proc/loadavg)
ggml_out=$(run_ggml)
go_out=$(run_go)
ggml_round2=$(run_ggml)
go_round2=$(run_go)
ggml_out=$(printf '%s\n%s\n' "$ggml_out" "$ggml_round2")
go_out=$(printf '%s\n%s\n' "$go_out" "$go_round2")

qscript_gbs() { # benchmark name, shape -> best GB/s over the runs
  echo "$go_out" | awk -v n="Benchmark$1/$2" '
    $1 ~ "^"n"(-[0-9]+)?$" { for (i = 1; i < NF; i++) if ($(i+1) == "MB/s" && $i > best) best = $i }
    END { if (best > 0) printf "%.3f", best / 1000 }'
}
ggml_gbs() { # type, shape, column (4: quantize_chunk alone, 5: with ggml_validate_row_data) -> best
  echo "$ggml_out" | awk -v t="$1" -v s="$2" -v c="$3" '
    $1 == "ggml" && $2 == t && $3 == s && $c > best { best = $c }
    END { if (best > 0) printf "%.3f", best }'
}
ggml_share() { # type, shape -> the share of the cores the fastest quantize_chunk run got
  echo "$ggml_out" | awk -v t="$1" -v s="$2" '
    $1 == "ggml" && $2 == t && $3 == s && $4 > best { best = $4; share = $6 }
    END { print share }'
}

echo "$ggml_out" | sed -n '1,2p'  # the library and the numerics check (both batches print them)
printf '%-36s %-11s %-5s %9s %6s %9s %9s %8s\n' work shape ggml "ggml GB/s" cores "+validate" "qscript" "q/ggml"
contended=""
row() { # label, go benchmark, ggml type, shape
  local g v c q
  g=$(ggml_gbs "$3" "$4" 4); v=$(ggml_gbs "$3" "$4" 5); c=$(ggml_share "$3" "$4"); q=$(qscript_gbs "$2" "$4")
  [ -n "$g" ] && [ -n "$q" ] || { echo "25-ggml-peer: no figure for $1 $4 (ggml '$g', qscript '$q')" >&2; exit 1; }
  if [ "$(echo "$c < 0.95" | bc -l)" = 1 ] && [[ $contended != *" $3/$4"* ]]; then contended="$contended $3/$4"; fi
  printf '%-36s %-11s %-5s %9s %6s %9s %9s %7.2fx\n' "$1" "$4" "$3" "$g" "$c" "$v" "$q" "$(echo "$q / $g" | bc -l)"
}
for shape in 4096x4096 11008x4096; do
  row "int8 per-channel, observer+quantize" Int8PerChannel Q8_0 "$shape"
  row "  (two passes: observe, quantize)" Int8PerChannelObserverThenQuantize Q8_0 "$shape"
  row "int4 group-128 + packing" Int4Group128Packed Q4_0 "$shape"
done
echo "threads: $threads (ggml: row chunks of >= 32*512 elements from a shared counter; qscript: GOMAXPROCS)." \
  "Two alternating rounds: ggml best of 2x$reps runs (or more while contended), qscript best of 2x$count runs of $benchtime. +validate: with" \
  "ggml_validate_row_data per chunk, as llama-quantize runs it; the ratio is against ggml without it." \
  "Grouping differs: Q8_0 has an fp16 scale per 32, qscript int8 a float32 scale per row; Q4_0 groups 32, qscript 128, packed." \
  "cores: the CPU time ggml's fastest run got, as a share of $threads cores." \
  "Load average before/after: $load_before/$(cut -d' ' -f1 /proc/loadavg)"
if [ -n "$contended" ]; then
  echo "25-ggml-peer: WARNING: other processes took the cores during ggml's best runs of$contended" \
    "(share below 0.95): those ggml figures, and their ratios, are the machine's, not ggml's; rerun on a quiet machine" >&2
fi
