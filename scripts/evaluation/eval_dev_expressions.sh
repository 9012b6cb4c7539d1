#!/usr/bin/env bash
# Dev scores of one weights file, as benchmarks/expressions/RULE.md says: scripts/evaluation/eval_dev.sh, then the dev
# portraits driven by the retalking-4 dev clip (the model's own figures: no mouth interior, the mouth scale 1, as
# every row of benchmarks/expressions/dev/summary.txt). Summarise with benchmarks/expressions/summarise_dev.py.
#   scripts/evaluation/eval_dev_expressions.sh WEIGHTS OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
w=$1; out=$2
scripts/evaluation/eval_dev.sh "$w" "$out"
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cross_identity.py --weights "$w" --mouth-interior warp --mouth-scale 1 --portraits data/train-256/dev-portraits \
    --driving data/train-256/dev/retalking_4_5273fa35_000.mp4 --max-frames 60 --json "$out/dev_cross_retalking4.json" > "$out/dev_cross_retalking4.log" 2>&1
echo done "$w"
