#!/usr/bin/env bash
# The dev cross-identity figures alone (both drivers of benchmarks/expressions/RULE.md), for re-scoring
# a candidate whose dev self-reenactment (dev_eval.json) is already in OUT_DIR, e.g. with a new measure.
#   scripts/evaluation/eval_dev_cross.sh WEIGHTS OUT_DIR      (one thread; writes dev_cross*.json)
set -euo pipefail
cd "$(dirname "$0")/../.."
w=$1; out=$2
mkdir -p "$out"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
.venv/bin/python benchmarks/cross_identity.py --weights "$w" --mouth-interior warp --portraits data/train-256/dev-portraits \
    --driving data/train-256/dev/carphone_pristine_1212d8b3_000.mp4 --max-frames 60 \
    --json "$out/dev_cross.json" >"$out/dev_cross.log" 2>&1
.venv/bin/python benchmarks/cross_identity.py --weights "$w" --mouth-interior warp --portraits data/train-256/dev-portraits \
    --driving data/train-256/dev/retalking_4_5273fa35_000.mp4 --max-frames 60 \
    --json "$out/dev_cross_retalking4.json" >"$out/dev_cross_retalking4.log" 2>&1
echo done "$w"
