#!/usr/bin/env bash
# Speed of the keypoints-8 / generator-4 student (benchmarks/fast/RULE.md, 2026-12-08) next to the
# present fast preset and the default weights, in one run on a quiet machine (training paused):
#   benchmarks/fast/speed_k8g4.sh STUDENT OUT_DIR [OLD_TREE]
# The student has been the shipped fast preset since 2026-12-08; to time it against the first fast
# preset again, take that one from git history and name it in $FAST:
#   git show f7caf22:weights/tiw-fast-256.safetensors > /tmp/fast1.safetensors
#   FAST=/tmp/fast1.safetensors benchmarks/fast/speed_k8g4.sh weights/tiw-fast-256.safetensors OUT
# 1. the rule's speed test: model_frame.py, one thread, the fast preset and the student alternated,
#    three pairs (plus the default weights);
# 2. with OLD_TREE (a git worktree of the commit before the spline's faster read), the same frames
#    from that tree, alternated with this one (the spline change alone);
# 3. vs-peers/measure.py: FOMM, the default weights, the fast preset and the student, one thread;
# 4. tiw animate on the demo inputs, default settings (2 threads), the default weights and the
#    student alternated, three runs each;
# 5. tiw live on the 640x480 60 fps stand-in (run_fast.sh), default weights against the student.
set -euo pipefail
cd "$(dirname "$0")/../.."
student=$1; out=$2; old=${3:-}
fast=${FAST:-weights/tiw-fast-256.safetensors}; shipped=weights/tiw-landmark-256.safetensors
mkdir -p "$out"
uptime | tee "$out/uptime_before.txt"
for i in 1 2 3; do
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cpu-latency/model_frame.py 1 "$fast" "$student" "$shipped"
    if [ -n "$old" ]; then
        PYTHONPATH="$old" OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cpu-latency/model_frame.py 1 "$fast" "$shipped"
    fi
done | tee "$out/model_frame.txt"
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/vs-peers/measure.py --threads 1 --rounds 5 \
    --weights "$shipped" "$fast" "$student" --json "$out/vs_fomm.json" | tee "$out/vs_fomm.txt"
for i in 1 2 3; do
    for w in "$shipped" "$student"; do
        fps=$(.venv/bin/tiw animate samples/source.jpg samples/driving.mp4 -o /tmp/tiw_speed_demo.mp4 --overwrite \
            --weights "$w" 2>&1 | grep -oE "[0-9.]+ frames/s" | head -1)
        echo "run $i $(basename "$w"): $fps"
    done
done | tee "$out/demo.txt"
benchmarks/live/run_fast.sh "$out/live" "$student"
uptime | tee "$out/uptime_after.txt"
