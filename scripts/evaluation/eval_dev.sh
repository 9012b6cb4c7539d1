#!/usr/bin/env bash
# The model card's dev rule, for one weights file: `tiw eval` on the dev person (1 and 3 sources,
# 16 driving frames) and the cross-identity figure on the dev portraits driven by the dev clip.
# The test person and the test portraits are not touched.
#   scripts/evaluation/eval_dev.sh WEIGHTS OUT_DIR      (one thread; writes OUT_DIR/dev_eval.json, dev_cross.json)
set -euo pipefail
cd "$(dirname "$0")/../.."
weights=$1
out=$2
mkdir -p "$out"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
.venv/bin/tiw eval --data data/train-256 --split dev --weights "$weights" --sources 1,3 \
    --metrics l1,psnr --max-frames 16 --baselines none --device cpu --json "$out/dev_eval.json" \
    >"$out/dev_eval.log" 2>&1
.venv/bin/python benchmarks/cross_identity.py --weights "$weights" --mouth-interior warp --mouth-scale 1 --portraits data/train-256/dev-portraits \
    --driving data/train-256/dev/carphone_pristine_1212d8b3_000.mp4 --max-frames 60 \
    --json "$out/dev_cross.json" >"$out/dev_cross.log" 2>&1
