#!/usr/bin/env bash
# The fifth try's dev drivers (benchmarks/mouth/RULE.md): the 8 dev portraits driven by 14 windows of
# 60 frames, two per clip (from frame 0, and from frame min(60, length - 60)), of the dev clip and of
# the first clip of each training video. No test person, no test portrait.
#   benchmarks/mouth/driver_windows.sh MODE OUT_DIR [WEIGHTS]     (one thread; run it twice at once
#   on 2 cores: each takes the windows the other has not)
# MODE: frame | closed | causal (closed without the look-ahead, as `tiw live`)
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=$1
out=$2
weights=${3:-weights/tiw-landmark-256.safetensors}
mkdir -p "$out"
case $mode in
    causal) flags=(--mouth-reference closed --no-look-ahead) ;;
    *) flags=(--mouth-reference "$mode") ;;
esac
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for clip in data/train-256/dev/carphone_pristine_1212d8b3_000.mp4 data/train-256/train/*_000.mp4; do
    frames=$(.venv/bin/python -c "import av, sys; print(sum(1 for _ in av.open(sys.argv[1]).decode(video=0)))" "$clip")
    second=$((frames - 60 < 60 ? frames - 60 : 60))
    for start in 0 "$second"; do
        name=$(basename "$clip" .mp4)_from$(printf %03d "$start")
        [[ -s "$out/$name.json" ]] && continue
        mkdir "$out/$name.lock" 2>/dev/null || continue # another run of this script has it
        .venv/bin/python benchmarks/cross_identity.py --weights "$weights" \
            --portraits data/train-256/dev-portraits --driving "$clip" --start-frame "$start" --max-frames 60 \
            "${flags[@]}" --json "$out/$name.json" >"$out/$name.log" 2>&1
        rmdir "$out/$name.lock"
    done
done
