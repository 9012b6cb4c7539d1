#!/usr/bin/env bash
# Issue 25: what keeping freed memory (tiwcli.allocator, on by default) gives, against glibc's
# defaults (TIW_KEEP_FREED_MEMORY=0), in one run on a quiet machine, each pair back to back:
# page faults and time of a model frame, FOMM like for like, `tiw animate` on the demo, `tiw live`.
#   benchmarks/allocator/run.sh OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1; tiw=(.venv/bin/tiw)
mkdir -p "$out"
shipped=weights/tiw-landmark-256.safetensors; fast=weights/tiw-fast-256.safetensors
[ -f samples/source.jpg ] || .venv/bin/python scripts/data/make_sample_inputs.py
uptime | tee "$out/uptime_before.txt"
setting() { [ "$1" = glibc ] && echo TIW_KEEP_FREED_MEMORY=0 || echo TIW_KEEP_FREED_MEMORY=1; }  # kept|glibc -> env
# each model in a process of its own (glibc's own thresholds follow what the process did before)
for i in 1 2 3; do
    for weights in "$shipped" "$fast"; do
        for setting in kept glibc; do
            echo "run $i $setting"
            env "$(setting "$setting")" OMP_NUM_THREADS=1 .venv/bin/python benchmarks/allocator/frame_faults.py "$weights"
        done
    done
done | tee "$out/faults.txt"
for setting in kept glibc; do
    env "$(setting "$setting")" OMP_NUM_THREADS=1 .venv/bin/python benchmarks/vs-peers/measure.py --threads 1 \
        --weights "$shipped" "$fast" --json "$out/fomm_$setting.json" | tee "$out/fomm_$setting.txt"
done
for i in 1 2 3; do
    for setting in kept glibc; do
        fps=$(env "$(setting "$setting")" "${tiw[@]}" animate samples/source.jpg samples/driving.mp4 -o "$out/demo.mp4" \
            --overwrite 2>&1 | grep -oE "[0-9.]+ frames/s" | head -1 | cut -d' ' -f1)
        echo "demo run $i $setting: $fps frames/s"
    done
done | tee "$out/demo.txt"
source benchmarks/live/live_runs.sh
live_clip
run() { live_run "$@" | tee -a "$out/live.txt"; }
run shipped-kept
TIW_KEEP_FREED_MEMORY=0 run shipped-glibc
run fast-kept --weights fast
run shipped-workers2-kept --workers 2 --threads 1
uptime | tee "$out/uptime_after.txt"
