#!/usr/bin/env bash
# Score the ablation rows trained by scripts/gpu/run.sh (benchmarks/ablation.md, "2,000 steps"):
# per row, `tiw eval` on the test person (1 and 3 sources; the baselines once, with the first row)
# and the cross-identity figure on the unseen portraits, two rows at a time on one thread each.
#   scripts/evaluation/eval_ablation.sh WEIGHTS_DIR OUT_DIR
# WEIGHTS_DIR holds ROW__step_00002000.fp32.safetensors (scripts/gpu/bf16_weights.py to-fp32 of the
# files the GPU call returns).
set -euo pipefail
cd "$(dirname "$0")/../.."
weights=${1:-runs/gpu}
out=${2:-runs/gpu/ablation}
export OMP_NUM_THREADS=1
score() {  # row, baselines
    local row=$1 w=$weights/${1}__step_00002000.fp32.safetensors
    mkdir -p "$out/$row"
    .venv/bin/tiw eval --data data/train-256 --split test --weights "$w" --sources 1,3 \
        --metrics l1,psnr,ssim,akd,aed --max-frames 24 --face-backend dlib --device cpu --baselines "$2" \
        --json "$out/$row/eval_test.json" >"$out/$row/eval_test.log" 2>&1
    .venv/bin/python benchmarks/cross_identity.py --weights "$w" --data data/train-256 --max-frames 60 \
        --json "$out/$row/cross_identity.json" --grid "$out/$row/cross_identity.jpg" >"$out/$row/cross_identity.log" 2>&1
}
(score baseline copy-source,landmark-warp; score warp-landmarks none; score all none) &
(score warp none; score warp-perceptual none; score landmark-prior none) &
wait
