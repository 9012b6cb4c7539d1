#!/usr/bin/env bash
# Score every checkpoint of a running `tiw train` on the dev split and keep the best (by PSNR, 3 sources).
#   scripts/eval_checkpoints.sh RUN_DIR DATA_DIR [SPLIT]
# Polls RUN_DIR/model.safetensors (rewritten at each checkpoint); writes RUN_DIR/curve.jsonl
# (one line per checkpoint: step, L1 and PSNR for 1 and 3 sources) and RUN_DIR/best.safetensors.
# Stops when RUN_DIR/done exists.
set -uo pipefail
cd "$(dirname "$0")/.."
run=$1
data=$2
split=${3:-dev}
mkdir -p "$run/models"
last=""
while :; do
    if [ -f "$run/model.safetensors" ]; then
        step=$(.venv/bin/python -c "import json,sys; from safetensors import safe_open
with safe_open(sys.argv[1], 'pt') as f: print(f.metadata().get('step', '0'))" "$run/model.safetensors" 2>/dev/null)
        if [ -n "$step" ] && [ "$step" != "$last" ]; then
            model="$run/models/step_$(printf %06d "$step").safetensors"
            cp "$run/model.safetensors" "$model"
            OMP_NUM_THREADS=1 .venv/bin/tiw eval --data "$data" --split "$split" --weights "$model" \
                --sources 1,3 --metrics l1,psnr --baselines none --max-frames 16 --device cpu \
                --json "$model.eval.json" >/dev/null 2>"$model.eval.log" &&
            .venv/bin/python scripts/checkpoint_curve.py "$run" "$model" "$step"
            last=$step
        fi
    fi
    [ -f "$run/done" ] && break
    sleep 30
done
