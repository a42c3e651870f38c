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
# Measured 2026-12-07 21:58 on this 2-core machine with no other work running (load average
# 1.4), this script with GIB=2 RUNS=5, medians (range over the five pairs):
#
#   recipe            qscript  floor   ratio (range)       cpu ratio  peak RSS  output
#   int8_dynamic      0.31 s   0.38 s  0.75x (0.21-0.91)   1.33x      43 MiB    536 MB
#   int4_weight_only  0.25 s   0.28 s  0.89x (0.33-1.17)   1.30x      66 MiB    284 MB
#   fp8               0.33 s   0.57 s  0.63x (0.22-0.95)   1.07x      43 MiB    536 MB
#   fp16              0.53 s   1.29 s  0.38x (0.21-1.02)   0.35x      37 MiB   1071 MB
#   bf16              0.55 s   0.60 s  0.92x (0.33-0.94)   1.08x      37 MiB   1071 MB
#
# The floor's own time swings with the disk's write-back (0.3-1.3 s here), so paired runs
# of the same two commands in turns were taken too (9 pairs each, 15 for int4, medians with
# range): wall against the floor int8 0.83x (0.40-0.94), int4 0.92x (0.66-1.03), fp8 0.87x
# (0.44-0.96), fp16 0.75x (0.32-1.02), bf16 0.69x (0.35-0.94); CPU time 1.35x, 1.64x,
# 1.64x, 0.99x, 0.90x the floor's. What makes it: every row-wise weight is read once
# (range, check, quantize and the report's sums on each chunk while in cache; the report's
# histogram is counted only if a JSON or HTML report is written), AVX-512 kernels that fuse
# quantizing and measuring, and O_DIRECT blocks written behind so that computing and the
# disk overlap. On a machine loaded with other work the wall time follows the CPU time
# instead (1.3-1.7x the floor for int8, int4 and fp8 at load average 4-10). What is left in
# the CPU profile: pread's copy out of the page cache (about a fifth, as in the floor), the
# fused kernels' float64 sum chains (their order fixes the report's figures), fp8's division
# and encoding, the copy into O_DIRECT blocks.
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
