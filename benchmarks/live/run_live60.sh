#!/usr/bin/env bash
# tiw live on a 640x480 60 fps stand-in for a camera (the demo clip padded to 640x480, re-timed to
# 60 fps: benchmarks/live/make_live60.py), 30 s each, in one run on a quiet machine:
#   benchmarks/live/run_live60.sh OUT_DIR [TIW_COMMAND...]
# TIW_COMMAND defaults to .venv/bin/tiw; e.g. `env PYTHONPATH=/tmp/old .venv/bin/python -m tiwcli`
# (separate words) runs an older checkout (a git worktree in /tmp/old) with the same environment.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1; shift
if [ $# -gt 0 ]; then tiw=("$@"); else tiw=(.venv/bin/tiw); fi
mkdir -p "$out"
source benchmarks/live/live_runs.sh
live_clip
uptime | tee "$out/uptime_before.txt"
for setting in "default" "threads1:--threads 1" "workers2:--workers 2 --threads 1"; do
    name=${setting%%:*}; args=${setting#*:}; [ "$args" = "$setting" ] && args=""
    live_run "$name" $args
done
uptime | tee "$out/uptime_after.txt"
