# Sourced by run_live60.sh and run_fast.sh: the 640x480 60 fps stand-in for a camera, and one 30 s
# `tiw live` run of it. The caller sets `out` (the output folder) and `tiw` (an array: the command).

live_clip() {  # -> $clip, made once per output folder
    clip="$out/live60.mp4"
    [ -f "$clip" ] || .venv/bin/python benchmarks/live/make_live60.py "$clip"
}

live_run() {  # NAME ARGS... -> NAME.mp4/.json/.txt in $out, one summary line on stdout
    local name=$1; shift
    "${tiw[@]}" live samples/source.jpg --camera "$clip" --loop --max-seconds 30 -o "$out/$name.mp4" \
        --overwrite --stats-json "$out/$name.json" "$@" > "$out/$name.txt" 2>&1
    .venv/bin/python -c "
import json,sys; d=json.load(open('$out/$name.json'))
print('$name', f\"{d['frames_per_second']:.1f} fps, shown {d['frames_shown']} of {d['frames_captured']}, latency p50 {d['latency_ms_p50']:.0f} p95 {d['latency_ms_p95']:.0f} ms,\",
      ', '.join(f'{k} {v:.0f}' for k, v in d['stage_ms_per_frame'].items()))"
}
