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
clip="$out/live60.mp4"
[ -f "$clip" ] || .venv/bin/python benchmarks/live/make_live60.py "$clip"
uptime | tee "$out/uptime_before.txt"
run() {  # NAME ARGS...
    local name=$1; shift
    "${tiw[@]}" live samples/source.jpg --camera "$clip" --loop --max-seconds 30 -o "$out/$name.mp4" \
        --overwrite --stats-json "$out/$name.json" "$@" > "$out/$name.txt" 2>&1
    .venv/bin/python -c "
import json,sys; d=json.load(open('$out/$name.json'))
print('$name', f\"{d['frames_per_second']:.1f} fps, shown {d['frames_shown']} of {d['frames_captured']}, latency p50 {d['latency_ms_p50']:.0f} p95 {d['latency_ms_p95']:.0f} ms,\",
      ', '.join(f'{k} {v:.0f}' for k, v in d['stage_ms_per_frame'].items()))"
}
for setting in "default" "threads1:--threads 1" "workers2:--workers 2 --threads 1"; do
    name=${setting%%:*}; args=${setting#*:}; [ "$args" = "$setting" ] && args=""
    run "$name" $args
done
uptime | tee "$out/uptime_after.txt"
