#!/usr/bin/env bash
# tiw live with the shipped weights and with the distilled fast preset, in one run on a quiet
# machine (the 640x480 60 fps stand-in of run_live60.sh, 30 s each):
#   benchmarks/live/run_fast.sh OUT_DIR FAST_WEIGHTS
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1; fast=$2; tiw=(.venv/bin/tiw)
mkdir -p "$out"
source benchmarks/live/live_runs.sh
live_clip
uptime | tee "$out/uptime_before.txt"
run() { live_run "$@" | tee -a "$out/summary.txt"; }
run shipped
run fast --weights "$fast"
run shipped-workers2 --workers 2 --threads 1
run fast-workers2 --weights "$fast" --workers 2 --threads 1
uptime | tee "$out/uptime_after.txt"
