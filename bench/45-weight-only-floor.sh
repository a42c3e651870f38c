#!/usr/bin/env bash
# Issue 12: every weight-only recipe against the I/O floor, whole process, file to file.
#
# The checkpoint is bench/int8scale's at GIB (default 2): two 7B-like decoder blocks and a
# 32000×4096 lm_head, 2.14 GB of f32, largest tensor 524 MB. Each recipe runs as a user runs
# it (built-in recipe: save, then print the report the save measured; fp8 has no recipe, so
# a three-line script does qs.quantize{fp8_e4m3, per channel} + qs.save + print report):
#
#   int8_dynamic      int8 per-channel symmetric        int4_weight_only  int4 groups of 128
#   fp8               fp8 e4m3 per-channel              fp16, bf16        casts of every tensor
#
# The I/O floor is bench/iofloor: read the input to its end, write an output of the size
# qscript wrote, fsync (plain read/write/fsync, one after the other). With the input in the
# page cache (as SPEC §9 measures), each recipe and its floor run RUNS times in turns (A B A
# B ...), and the script prints per recipe the median wall time of both, the median of the
# pairwise ratios with its range, the median ratio of CPU time (user+sys; on a machine
# shared with other work it moves less than the wall time), and the largest peak RSS
# (/usr/bin/time -v). Targets
# (issue 12): ratio <= 1.25 and peak RSS <= 160 MiB for every recipe. Timings on a shared
# machine are noisy: read the ranges.
#
# Measured 2026-12-07 on the 2-core machine, LOADED (load average 4-10 from other work), after
# the statistics kernels went to AVX-512 (the same float64 lanes, sums bit for bit), the
# group kernel fused quantizing and measuring (int4 groups and int8 channels), fp8 codes
# decoded 16 at a time, casts cast and measured in one loop, chunks read into each worker's
# own buffer, and (another change) O_DIRECT blocks written behind on a goroutine. This
# script with GIB=2 RUNS=5 printed medians
#
#   recipe            ratio (range)       cpu ratio  peak RSS
#   int8_dynamic      0.32x (0.27-0.77)   0.33x      43 MiB
#   int4_weight_only  0.76x (0.51-2.12)   1.33x      66 MiB
#   fp8               0.54x (0.44-1.64)   0.49x      45 MiB
#   fp16              0.79x (0.31-1.09)   1.23x      38 MiB
#   bf16              0.66x (0.51-0.79)   0.91x      38 MiB
#
# and in a second run 0.84x, 1.70x, 0.56x, 0.38x, 0.41x (cpu 1.26x, 2.29x, 0.61x, 0.43x,
# 0.64x), the floor swinging 0.28-1.9 s with the disk's other writers (its page-cache writes
# and fsync). Paired whole-process runs (7 of each, in turns, input cached; two sessions)
# moved less: against the floor, wall 1.31-1.42x (int8), 1.53-1.71x (int4), 1.51-1.72x
# (fp8), 0.78-1.03x (fp16), 0.80-1.22x (bf16), CPU time 1.6-1.8x, 2.3-2.5x, 2.3-2.6x,
# 1.4-1.5x, 1.3-1.5x (the floor's own CPU time is its read and write, 0.16-0.35 s); against
# the save before this work, CPU time 0.76x, 0.70x, 0.86x, 0.79x, 0.73x and wall 0.66x,
# 0.60x, 0.76x, 0.86x, 0.72x. Peak RSS 38-66 MiB. What is left (CPU profile): pread's copy
# out of the page cache (a fifth of int4's and int8's CPU time, as in the floor), the fused
# group kernel, now at the latency of its float64 FMA chains (one per lane per 8 values, the
# order the report's figures are fixed by; only interleaving two independent blocks would
# go faster), fp8's division and encoding, the writer's copy into O_DIRECT blocks. Within
# the 1.25x target on this loaded machine: fp16 and bf16; int8 and fp8 in the script's runs
# but not the paired ones; int4 in neither (in one script run of two). Their CPU time is
# 1.6-2.6x the floor's, which the wall time follows when the cores are shared.
# Usage: bench/45-weight-only-floor.sh [GIB] [RUNS]   (defaults 2 and 3; needs ~2.5×GIB free)
set -euo pipefail
cd "$(dirname "$0")/.."
gib=${1:-2}
runs=${2:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qscript-floor.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[ -x /usr/bin/time ] || { echo "45-weight-only-floor: needs /usr/bin/time (apt-get install time)"; exit 1; }

go build -o "$tmp/int8scale" ./bench/int8scale
go build -o "$tmp/iofloor" ./bench/iofloor
go build -o "$tmp/qscript" ./cmd/qscript
"$tmp/int8scale" "$tmp/model.safetensors" "$gib"
size=$(stat -c %s "$tmp/model.safetensors")
cat > "$tmp/fp8.lua" <<'LUA'
-- fp8 e4m3 weights per channel (compressed-tensors float-quantized), as a user writes it.
local qs = require "qs"
local q = qs.quantize(qs.load(arg.model), { weights = { dtype = "fp8_e4m3", per_channel = true } })
qs.save(q, arg.out)
print(q:report())
LUA

field() { grep -F "$1" "$2" | sed 's/.*: //'; }
seconds() { field 'Elapsed (wall clock)' "$1" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'; }
# timed OUT COMMAND...: runs COMMAND under /usr/bin/time -v, input in the page cache; prints
# "wall_seconds peak_kib cpu_seconds".
timed() {
  local out=$1
  shift
  cat "$tmp/model.safetensors" > /dev/null
  /usr/bin/time -v "$@" > "$out.log" 2> "$out.time" || {
    cat "$out.log" "$out.time" >&2
    echo "45-weight-only-floor: FAIL: $*" >&2
    exit 1
  }
  echo "$(seconds "$out.time") $(field 'Maximum resident' "$out.time") $(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$out.time")"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf 'model  %.2f GB f32 (%d bytes), largest tensor 524 MB; %d runs of each recipe and its floor in turns\n' "$(awk -v s="$size" 'BEGIN { print s / 1e9 }')" "$size" "$runs"
printf '%-17s %9s %9s %8s %15s %9s %13s %9s\n' recipe qscript floor ratio "ratio range" "cpu ratio" "peak RSS" output
status=0
for recipe in int8_dynamic int4_weight_only fp8 fp16 bf16; do
  script="recipes/$recipe.lua"
  [ "$recipe" = fp8 ] && script="$tmp/fp8.lua"
  : > "$tmp/q.s"; : > "$tmp/f.s"; : > "$tmp/r.s"; : > "$tmp/rss"; : > "$tmp/c.s"
  for _ in $(seq "$runs"); do
    rm -f "$tmp/out.safetensors"
    read -r q qrss qcpu < <(timed "$tmp/q" "$tmp/qscript" "$script" model="$tmp/model.safetensors" out="$tmp/out.safetensors")
    osize=$(stat -c %s "$tmp/out.safetensors")
    rm -f "$tmp/out.safetensors"
    read -r f _ fcpu < <(timed "$tmp/f" "$tmp/iofloor" "$tmp/model.safetensors" "$tmp/floor.out" "$osize")
    rm -f "$tmp/floor.out"
    echo "$q" >> "$tmp/q.s"; echo "$f" >> "$tmp/f.s"; echo "$qrss" >> "$tmp/rss"
    awk -v q="$q" -v f="$f" 'BEGIN { print q / f }' >> "$tmp/r.s"
    awk -v q="$qcpu" -v f="$fcpu" 'BEGIN { print (f > 0) ? q / f : 0 }' >> "$tmp/c.s"
  done
  qm=$(median < "$tmp/q.s"); fm=$(median < "$tmp/f.s"); rm_=$(median < "$tmp/r.s")
  rlo=$(sort -g "$tmp/r.s" | head -1); rhi=$(sort -g "$tmp/r.s" | tail -1)
  rss=$(sort -g "$tmp/rss" | tail -1); cm=$(median < "$tmp/c.s")
  printf '%-17s %8.2fs %8.2fs %7.2fx %7.2f-%-6.2f %8.2fx %9d MiB %6d MB\n' "$recipe" "$qm" "$fm" "$rm_" "$rlo" "$rhi" "$cm" $((rss / 1024)) $((osize / 1000000))
  awk -v r="$rm_" 'BEGIN { exit !(r <= 1.25) }' || { echo "  $recipe: median ratio $rm_ is above the 1.25 target"; status=1; }
  [ $((rss / 1024)) -le 160 ] || { echo "  $recipe: peak RSS $((rss / 1024)) MiB is above the 160 MiB target"; status=1; }
done
[ "$status" = 0 ] && echo "45-weight-only-floor: every recipe within 1.25x the I/O floor and 160 MiB" ||
  echo "45-weight-only-floor: targets missed (see above; timings on a loaded machine vary, rerun when it is idle)"
