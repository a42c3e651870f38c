#!/usr/bin/env bash
# Issue 12 (calibration throughput): static calibration (150 samples, histogram observer, batch
# 32) of torchvision resnet18 and mobilenet_v2 at 224x224 (random weights, made by
# scripts/fixtures/zoo_models.py) and of the bundled encoder block and digits CNN, each against
# onnxruntime-node fp32 inference of the same model on the same 150 samples at the same batch
# size: whole process against whole process (load, run, exit; /usr/bin/time's wall and CPU
# seconds and peak RSS), the ratio of samples/s from one run of each. The target is resnet18's
# ratio at least 0.5. The result's SHA-256 is printed so that a speed-up can be checked to
# change no range (calib's TestResultsGolden checks the bundled models).
#
# Measured 2026-12-07 on this 2-core machine while six other jobs loaded it (load average
# 13-25, so wall times are noisy; CPU seconds are steadier), five paired runs, whole process,
# min / median / max:
#   resnet18 calibration:   CPU 6.04 / 6.57 / 6.64 s, wall 19.4 / 22.9 / 35.7 s, peak RSS 875 MiB
#   ORT inference:          CPU 3.80 / 3.94 / 4.41 s, wall 10.5 / 13.0 / 14.4 s, peak RSS 526-612 MiB
#   throughput ratio (ORT time / calibration time, pair by pair): CPU 0.59 / 0.61 / 0.72,
#   wall 0.39 / 0.46 / 0.69 (one unpaired run of this script when the load eased: 0.95 wall,
#   0.68 CPU). The 0.5 target is met on CPU time, not reliably on wall time under this load.
#   Against the calibration before this work (same data, batch 32): CPU 0.72 / 0.75 / 0.77x,
#   wall 0.53 / 0.63 / 0.92x, peak RSS 1,696 -> 875 MiB.
#   mobilenet_v2 (three paired runs): ratio CPU 0.30 / 0.31 / 0.33, wall 0.25 / 0.30 / 0.40;
#   peak RSS 1,377 MiB vs ORT 523-609 MiB (depthwise Conv, Clip and 53 observed activations).
# Then (same day, 21:00, load average 4-5 from three other engineers' jobs; five paired runs,
# min / median / max), after: a worker left without batches lends its cores to the Runner
# still running (the last batch's ops split over both cores), the arena carving values and
# kernel scratch out of chunks, element-wise nodes writing over a dead input, Conv + Clip
# fused (Constants ordered first), a vectorized depthwise 3x3 and clamp, and the other
# engineer's GEMM work; results unchanged (resnet18 336fdfd3afa513f1, mobilenet_v2
# a457d8b0554a9b8f):
#   resnet18 calibration:   CPU 4.68 / 4.70 / 4.90 s, wall 2.51 / 3.52 / 5.32 s, peak RSS 427 MiB
#   ORT inference:          CPU 2.85 / 2.87 / 3.72 s, wall 1.57 / 1.59 / 3.79 s, peak RSS 611 MiB
#   throughput ratio (ORT time / calibration time, pair by pair): CPU 0.61 / 0.61 / 0.76,
#   wall 0.41 / 0.62 / 1.40 (a paired set at 20:46, load 3, before the Clip work, which
#   resnet18 does not use: wall 2.70 / 2.78 / 2.91 s against 1.54 / 1.59 / 1.86 s, ratio
#   0.55 / 0.57 / 0.69). Against the calibration at the start of the day: CPU 0.81 / 0.83 /
#   0.89x, wall 0.72 / 0.84 / 1.52x, peak RSS 875 -> 427 MiB.
#   mobilenet_v2: calibration CPU 3.61 / 3.66 / 3.70 s, peak RSS 618 MiB; ORT CPU 1.50 / 1.56 /
#   1.76 s, RSS 602-609 MiB; ratio CPU 0.41 / 0.42 / 0.48, wall 0.31 / 0.44 / 0.64. Against
#   the start of the day: CPU 0.59 / 0.65 / 0.66x, peak RSS 1,375 -> 618 MiB. With the
#   depthwise edges' own loop (21:14, load 4): calibration CPU 3.31 / 3.35 / 3.42 s, wall
#   1.83 / 1.85 / 2.40 s; ORT CPU 1.21 / 1.23 / 1.63 s, wall 0.71 / 0.72 / 1.40 s (less
#   slowed than in the set above); ratio CPU 0.36 / 0.37 / 0.48, wall 0.29 / 0.40 / 0.72.
#   What is left is the observers (three passes over each of 53 activations: min/max, the
#   2048-bin histogram, the report's 256 bins; ~1.2 s CPU) and the GEMMs.
#   The observers then (21:36-21:39, load average 6, seven paired runs against the build
#   before, min / median / max): both histograms' bin kernels leave the zeros out (a ReLU's
#   half; counted at once), the report's bins are computed eight at a time in float32, and
#   after the first batch the report's pass finds the extremes too (two passes, not three).
#   mobilenet_v2 calibration CPU 2.74 / 2.80 / 2.99 s against 3.27 / 3.29 / 3.41 s, ratio
#   CPU 0.83 / 0.85 / 0.91; resnet18 CPU 4.65 / 4.75 / 4.94 s against 4.50 / 4.87 / 5.00 s,
#   ratio 0.95 / 0.98 / 1.05 (the observers are ~10% of its time); same SHA-256s. Fusing
#   the report's counting into the 2048-bin pass chunk by chunk was measured too: 1.01x
#   CPU, not kept.
# The graph/ side of that work (its own paired set at 21:05, load average 6, five runs):
# a Conv runs the Add and Relu/Clip after it on each tile of its output when no observer
# watches the values between (Hooks.Watch); convolutions on planes of 256+ read im2col's
# rows in place as shifted slices of the zero-padded input (phase planes for strides: the
# stem, the downsampling convs; sgemm.RunRows), smaller ones pack im2col a cache-sized chunk
# at a time; the first depth block sets each tile to bias + product. In a CPU profile of the
# resnet18 run the GEMM micro-kernels are ~60%, im2col 6% (24% before), MaxPool 5%, the
# observers ~10%. resnet18: calibration CPU 4.92 / 4.99 / 5.19 s against ORT 3.12 / 3.55 /
# 3.85 s, ratio CPU 0.62 / 0.72 / 0.78 (wall 0.29 / 0.92 / 1.38 at that load).
# Then mobilenet_v2's graph costs (21:45-21:48, load average 1.5-5 from the other engineers'
# jobs; paired runs, min / median / max): a depthwise 3x3 stride-1 plane padded by one runs
# its inner rows as one flat vector run (the taps lie at the same offsets from every output
# of the flat plane; each row's first and last output computed again without the outside
# taps) and its first and last rows eight at a time; a 1x1 stride-1 Conv's GEMM reads the
# input planes in place (sgemm.Operands.BRowOffsets: whole panels through the in-place
# kernel, a new form of it setting bias + product in the first depth block, only the last
# partial panel packed); RunRows sets bias + product itself (no fill pass) and splits its
# tiles over the cores, so a batch of one on two cores (and calibration's last batch) keeps
# the in-place path. In mobilenet_v2's CPU profile the depthwise convs went from 0.81 s to
# 0.34 s and B's packing (0.22 s) is gone. Against the same tree with graph/ as before
# (seven runs): mobilenet_v2 calibration CPU 2.35 / 2.37 / 2.43 s against 2.67 / 2.71 /
# 2.77 s, ratio 0.87 / 0.88 / 0.88, wall 0.86 / 0.88 / 0.96; resnet18 (five) CPU 0.96 /
# 0.98 / 1.00x. Against ORT (five paired runs): mobilenet_v2 calibration CPU 2.38 / 2.39 /
# 2.42 s, wall 1.32 / 1.45 / 2.03 s, peak RSS 618 MiB; ORT CPU 1.15 / 1.19 / 1.64 s, wall
# 0.67 / 0.70 / 1.70 s; throughput ratio CPU 0.48 / 0.50 / 0.69, wall 0.48 / 0.52 / 0.92
# (0.37 / 0.40 before this and the observers' work). resnet18: calibration CPU 4.44 / 4.53
# / 4.58 s against ORT 2.83 / 3.16 / 3.49 s, ratio CPU 0.64 / 0.70 / 0.76, wall 0.55 /
# 0.85 / 1.34. Same SHA-256s (336fdfd3afa513f1, a457d8b0554a9b8f). What is left in
# mobilenet_v2's graph time: the GEMM kernels (~0.8 s CPU, near the cores' FMA rate; the
# 4- and 17-column last panels of 14x14 and 7x7 planes ~0.1 s), the depthwise kernels
# (~0.3 s; stride-2 rows one call each), the observers ~0.9 s.
#
# Issue 6 acceptance 4 and 5 (calibration): peak RSS of calibrating the digits CNN (and the
# encoder block) with the histogram observer on 10,000 samples must be within 10% of the
# peak on 150 samples (the gate); calibration samples/s on the CNN and the encoder block, against
# onnxruntime-node fp32 inference of the same model on the same data in the same run.
# The 10,000-sample sets are calib.npy / encoder_calib.npy tiled and perturbed with
# N(0, 0.01) noise (seed 0), written to a temporary folder.
#
# What the figures show. Calibration's working set (two graph.Runners' buffers, four jobs'
# batches, the observers; activations are observed during the run, not copied) is reached within the first batches, so the
# live heap is the same whatever the sample count (digits CNN ~3 MB, encoder ~6-10 MB). Peak
# RSS would still grow with any garbage made per batch, because Go collects only once the
# heap doubles (GOGC=100): a long run lets it pile up to that goal, a 150-sample run (5
# batches) ends first. Calibration used to allocate 93 KB (CNN) and 635 KB (encoder) per
# batch of 32 (RSS 150→10,000 samples +55-90%), then 3-6 KB and 10 KB (closures and
# goroutines of parallel kernels: +7-15%, not reliably within 10%). Calibration's Runners now
# run every op on their worker's goroutine while every worker has batches (the workers
# already fill the cores; only the last batches' Runners, once the other workers have none
# left, split their ops over the lent cores: once per calibration, not per batch), whose
# kernels create no closure, and the shape subgraph's helpers use the
# Runner's temporary ints: per batch the CNN allocates nothing and the encoder ~3.4 KB
# (calib's TestSteadyStateAllocations bounds both). Runs in a row on this 2-core machine,
# shared with other jobs, gave RSS 150→10,000 (six runs):
#   digits_cnn          +0.0% -2.2% -1.1% -2.3% -1.1% +0.0%  (11.0-11.5 MB both; one GC per run)
#   encoder_block_op17  +2.0% +2.1% +2.7% +2.8% +2.1% +4.1%  (18.3-18.8 MB → 19.1-19.3 MB)
# Calibration samples/s did not change (BenchmarkCalibrateLong, alternating old and new
# builds: CNN 26.1-26.7k before, 26.6-27.1k after; encoder 10.6-10.9k both). The gate is
# issue 6's: RSS at 10,000 samples at most 10% above RSS at 150.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/bin/time ] || { echo "50-calibration: needs /usr/bin/time (apt-get install time)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qscript-calib.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
m=examples/models
go build -o "$tmp/calibration" ./bench/calibration

/usr/bin/python3 - "$tmp" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(0)
for name in ["calib", "encoder_calib"]:
    x = np.load(f"examples/models/{name}.npy")
    reps = -(-10000 // x.shape[0])
    big = np.concatenate([x] * reps)[:10000]
    big = (big + rng.normal(0, 0.01, big.shape)).astype(np.float32)
    np.save(f"{sys.argv[1]}/{name}_10k.npy", big)
PY

field() { grep -F "$1" "$2" | sed 's/.*: //'; }
measure() { # model data samples → "samples_per_s rss_kb peak_live_heap_kb gc_cycles"
  /usr/bin/time -v "$tmp/calibration" -model "$1" -calib "$2" -samples "$3" >"$tmp/out.json" 2>"$tmp/time.txt"
  local rate rss live gcs
  rate=$(/usr/bin/python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["samples_per_s"])' "$tmp/out.json")
  live=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["peak_live_heap_bytes"] // 1024)' "$tmp/out.json")
  gcs=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["gc_cycles"])' "$tmp/out.json")
  rss=$(field "Maximum resident set size" "$tmp/time.txt")
  echo "$rate $rss $live $gcs"
}

fail=0
for pair in "digits_cnn:calib" "encoder_block_op17:encoder_calib"; do
  model=${pair%%:*}; data=${pair##*:}
  read -r rate150 rss150 live150 gc150 < <(measure $m/$model.onnx "$tmp/${data}_10k.npy" 150)
  read -r rate1k rss1k live1k gc1k < <(measure $m/$model.onnx "$tmp/${data}_10k.npy" 1000)
  read -r rate10k rss10k live10k gc10k < <(measure $m/$model.onnx "$tmp/${data}_10k.npy" 10000)
  ort=$(node bench/calibration/ort_speed.js $m/$model.onnx "$tmp/${data}_10k.npy" 32)
  ortrate=$(/usr/bin/python3 -c 'import json,sys; print("%.1f" % json.loads(sys.argv[1])["samples_per_s"])' "$ort")
  growth=$(/usr/bin/python3 -c "print('%.1f' % (100.0 * ($rss10k - $rss150) / $rss150))")
  ratio=$(/usr/bin/python3 -c "print('%.2f' % ($rate10k / $ortrate))")
  echo "$model: peak RSS / peak live heap / GC cycles: 150 samples ${rss150} / ${live150} KiB / ${gc150}," \
       "1000 samples ${rss1k} / ${live1k} KiB / ${gc1k}, 10000 samples ${rss10k} / ${live10k} KiB / ${gc10k}" \
       "(RSS 150→10000: ${growth}%, 1000→10000: $(/usr/bin/python3 -c "print('%.1f' % (100.0 * ($rss10k - $rss1k) / $rss1k))")%)"
  echo "$model: calibration ${rate10k} samples/s (histogram, batch 32, 10000 samples) vs ORT fp32 inference ${ortrate} samples/s: ratio ${ratio}"
  if /usr/bin/python3 -c "import sys; sys.exit(0 if $rss10k <= 1.10 * $rss150 else 1)"; then :; else
    echo "50-calibration: $model peak RSS grows with the samples (150 → 10000: more than 10%)"; fail=1
  fi
done

# Throughput, whole process against whole process (issue 12).
/usr/bin/python3 scripts/fixtures/zoo_models.py "$tmp/zoo" --hw 224 --calib 150 --only resnet18,mobilenet_v2 >/dev/null
/usr/bin/python3 -c 'import numpy as np, sys; np.save(sys.argv[2], np.load(sys.argv[1])[:150])' $m/encoder_calib.npy "$tmp/encoder_150.npy"
/usr/bin/python3 -c 'import numpy as np, sys; np.save(sys.argv[2], np.load(sys.argv[1])[:150])' $m/calib.npy "$tmp/digits_150.npy"
whole() { # label command... → "wall cpu rss_kb"
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/whole.txt" "$@" >"$tmp/whole.out"
  awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$tmp/whole.txt"
}
for pair in "resnet18:$tmp/zoo/resnet18/model.onnx:$tmp/zoo/resnet18/calib.npy" \
            "mobilenet_v2:$tmp/zoo/mobilenet_v2/model.onnx:$tmp/zoo/mobilenet_v2/calib.npy" \
            "encoder_block_op17:$m/encoder_block_op17.onnx:$tmp/encoder_150.npy" \
            "digits_cnn:$m/digits_cnn.onnx:$tmp/digits_150.npy"; do
  IFS=: read -r name model data <<<"$pair"
  read -r qwall qcpu qrss < <(whole "$tmp/calibration" -model "$model" -calib "$data" -samples 150 -batch 32)
  sha=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result_sha256"][:16])' "$tmp/whole.out")
  read -r owall ocpu orss < <(whole node bench/calibration/ort_speed.js "$model" "$data" 32)
  ratio=$(/usr/bin/python3 -c "print('%.2f' % ($owall / $qwall))")
  echo "$name: calibration (histogram, 150 samples, batch 32) $(/usr/bin/python3 -c "print('%.1f' % (150 / $qwall))") samples/s" \
       "(wall ${qwall} s, CPU ${qcpu} s, peak RSS $((qrss / 1024)) MiB, result ${sha}) vs ORT fp32 inference" \
       "$(/usr/bin/python3 -c "print('%.1f' % (150 / $owall))") samples/s (wall ${owall} s, CPU ${ocpu} s, peak RSS $((orss / 1024)) MiB):" \
       "ratio ${ratio} (CPU time: $(/usr/bin/python3 -c "print('%.2f' % ($ocpu / $qcpu))")), whole process"
done
[ $fail = 0 ] && echo "50-calibration: ok" || { echo "50-calibration: FAIL"; exit 1; }
