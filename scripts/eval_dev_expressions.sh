#!/usr/bin/env bash
# dev scores of one weights file, as benchmarks/expressions/RULE.md says
set -euo pipefail
cd /work/main
w=$1; out=$2
scripts/eval_dev.sh "$w" "$out"
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cross_identity.py --weights "$w" --portraits data/train-256/dev-portraits \
    --driving data/train-256/dev/retalking_4_5273fa35_000.mp4 --max-frames 60 --json "$out/dev_cross_retalking4.json" > "$out/dev_cross_retalking4.log" 2>&1
echo done "$w"
