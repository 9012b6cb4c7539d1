#!/usr/bin/env bash
# tiw live with the shipped weights and with the distilled fast preset, in one run on a quiet
# machine (the 640x480 60 fps stand-in of run_live60.sh, 30 s each):
#   benchmarks/live/run_fast.sh OUT_DIR FAST_WEIGHTS
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1; fast=$2
mkdir -p "$out"
clip="$out/live60.mp4"
[ -f "$clip" ] || .venv/bin/python benchmarks/live/make_live60.py "$clip"
uptime | tee "$out/uptime_before.txt"
run() {  # NAME ARGS...
    local name=$1; shift
    .venv/bin/tiw live samples/source.jpg --camera "$clip" --loop --max-seconds 30 -o "$out/$name.mp4" \
        --overwrite --stats-json "$out/$name.json" "$@" > "$out/$name.txt" 2>&1
    .venv/bin/python -c "
import json,sys; d=json.load(open('$out/$name.json'))
print('$name', f\"{d['frames_per_second']:.1f} fps, shown {d['frames_shown']} of {d['frames_captured']}, latency p50 {d['latency_ms_p50']:.0f} p95 {d['latency_ms_p95']:.0f} ms,\",
      ', '.join(f'{k} {v:.0f}' for k, v in d['stage_ms_per_frame'].items()))" | tee -a "$out/summary.txt"
}
run shipped
run fast --weights "$fast"
run shipped-workers2 --workers 2 --threads 1
run fast-workers2 --weights "$fast" --workers 2 --threads 1
uptime | tee "$out/uptime_after.txt"
