#!/usr/bin/env bash
# PyTorch 1.13 vs qscript's quant kernels on the same machine, same session, in memory:
# int8 per-channel (observer + quantize), fp16/bf16 casts, int4 group-128 with packing, on
# 4096x4096 and 11008x4096 float32 weights. GB/s of float32 input (1e9 bytes).
# llama-quantize is not installed here, so it is not measured.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-$(nproc)}

torch_out=$(/usr/bin/python3 - "$threads" <<'PY'
import sys, time, warnings
import torch
from torch.ao.quantization.observer import PerChannelMinMaxObserver
warnings.simplefilter("ignore")
torch.set_num_threads(int(sys.argv[1]))

def best(f, reps=5):
    f()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    return min(t)

def int4_group128(w):
    rows, cols = w.shape
    g = w.reshape(rows, cols // 128, 128)
    scale = g.abs().amax(-1, keepdim=True) / 7.5
    q = torch.clamp(torch.round(g / scale), -8, 7).to(torch.int32).reshape(rows, cols // 8, 8) + 8
    shifts = torch.arange(8, dtype=torch.int32) * 4
    return (q << shifts).sum(-1, dtype=torch.int32), scale

for rows in (4096, 11008):
    w = torch.randn(rows, 4096) * 0.02
    gb = w.numel() * 4 / 1e9
    def perchannel():
        o = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
        o(w)
        s, z = o.calculate_qparams()
        return torch.quantize_per_channel(w, s, z, 0, torch.qint8)
    o = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric); o(w)
    s, z = o.calculate_qparams()
    shape = f"{rows}x4096"
    print(f"int8_per_channel {shape} {gb / best(perchannel):.3f}")
    print(f"quantize_per_channel_only {shape} {gb / best(lambda: torch.quantize_per_channel(w, s, z, 0, torch.qint8)):.3f}")
    print(f"fp16_cast {shape} {gb / best(lambda: w.half()):.3f}")
    print(f"bf16_cast {shape} {gb / best(lambda: w.bfloat16()):.3f}")
    print(f"int4_group128_packed {shape} {gb / best(lambda: int4_group128(w), 3):.3f}")
PY
)

go_out=$(GOMAXPROCS=$threads go test -run '^$' -benchtime 20x -count 1 \
  -bench 'BenchmarkInt8PerChannel$|BenchmarkInt8PerChannelObserverThenQuantize$|BenchmarkCastF16$|BenchmarkCastBF16$|BenchmarkInt4Group128Packed$' ./quant)

gbs() { # benchmark name, shape -> GB/s
  echo "$go_out" | awk -v n="Benchmark$1/$2" '$1 ~ "^"n"(-[0-9]+)?$" { for (i=1;i<=NF;i++) if ($(i+1)=="MB/s") printf "%.3f", $i/1000 }'
}
tq() { echo "$torch_out" | awk -v k="$1" -v s="$2" '$1==k && $2==s {print $3}'; }

printf '%-34s %-11s %10s %10s %7s\n' work shape "torch GB/s" "qscript" ratio
row() { # label torch-key go-bench shape
  local t g
  t=$(tq "$2" "$4"); g=$(gbs "$3" "$4")
  printf '%-34s %-11s %10s %10s %6.1fx\n' "$1" "$4" "$t" "$g" "$(echo "$g / $t" | bc -l)"
}
for shape in 4096x4096 11008x4096; do
  row "int8 per-channel, observer+quant" int8_per_channel Int8PerChannel "$shape"
  row "  (two passes: observe, quantize)" int8_per_channel Int8PerChannelObserverThenQuantize "$shape"
  row "fp16 cast" fp16_cast CastF16 "$shape"
  row "bf16 cast" bf16_cast CastBF16 "$shape"
  row "int4 group-128 + packing" int4_group128_packed Int4Group128Packed "$shape"
done
echo "torch quantize_per_channel alone: $(echo "$torch_out" | awk '$1=="quantize_per_channel_only"{printf "%s %s GB/s  ", $2, $3}')"
echo "threads: $threads (torch.set_num_threads, GOMAXPROCS); llama-quantize: not installed, not measured"
