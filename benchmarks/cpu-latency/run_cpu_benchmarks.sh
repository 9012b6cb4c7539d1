#!/usr/bin/env bash
# Issue 11's CPU figures in one go, on a quiet machine (nothing else running): model alone,
# CPU knobs, end to end with the time split, `tiw animate` on the demo, and `tiw live` with the
# demo clip standing in for a camera. Writes *.txt and *.json into benchmarks/cpu-latency/ (1, 2),
# benchmarks/end-to-end/ (3, 3b) and benchmarks/live/ (5).
#   benchmarks/cpu-latency/run_cpu_benchmarks.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
out=benchmarks/cpu-latency
ends=benchmarks/end-to-end
live=benchmarks/live
uptime | tee $out/cpu_uptime_before.txt
# 1. model alone: batch-1 latency and batch-8 throughput, 1 and 2 threads
.venv/bin/tiw bench --presets small-256,warp-256,landmark-256 --sources 1,3 --threads 1,2 --frames 32 \
    --no-end-to-end --device cpu --json $out/bench_cpu_256_latency.json > $out/bench_cpu_256_latency.txt 2>&1
# 2. CPU knobs on the shipped preset: channels-last and torch.compile (inductor, C++ via gcc)
.venv/bin/tiw bench --presets landmark-256 --sources 1 --threads 1 --channels-last both --compile both \
    --frames 16 --no-end-to-end --device cpu --json $out/bench_cpu_knobs.json > $out/bench_cpu_knobs.txt 2>&1
# 3. end to end with the time split: the default face path (640x360 Pexels clip, one source photo,
#    paste-back), 1 and 2 threads, beside the model alone
.venv/bin/tiw bench --presets small-256,landmark-256 --sources 1 --threads 1,2 --frames 8 --clip-frames 96 \
    --long-factor 2 --device cpu --json $ends/bench_cpu_end_to_end.json > $ends/bench_cpu_end_to_end.txt 2>&1
# 3b. the shipped weights on the demo inputs (`make sample-data`), default face path
for threads in 1 2; do
    OMP_NUM_THREADS=$threads .venv/bin/tiw animate samples/source.jpg samples/driving.mp4 -o /tmp/animated.mp4 \
        --overwrite --verbose > $ends/animate_demo_${threads}thread.txt 2>&1
done
# 5. tiw live, the demo clip standing in for a camera (played at its own 23.976 fps, looped)
.venv/bin/tiw live samples/source.jpg --camera samples/driving.mp4 --loop --max-seconds 30 -o /tmp/live.mp4 \
    --overwrite --threads 1 --stats-json $live/live_cpu_1thread.json > $live/live_cpu_1thread.txt 2>&1
.venv/bin/tiw live samples/source.jpg --camera samples/driving.mp4 --loop --max-seconds 30 -o /tmp/live.mp4 \
    --overwrite --threads 1 --workers 2 --stats-json $live/live_cpu_2workers.json > $live/live_cpu_2workers.txt 2>&1
uptime | tee $out/cpu_uptime_after.txt
