#!/usr/bin/env bash
# The ablation of benchmarks/ablation.md (cumulative rows: today's design, + full-resolution warp
# with the locality prior and warp-only warm-up, + landmark guidance): each row trained with the same data, seed, steps, batch
# and losses (pyramid L1 + keypoint equivariance, no GAN, no synthetic motion), one CPU thread,
# then scored by `tiw eval` on the held-out people (dev = carphone, test = the cap12/cap13 man).
#   scripts/training/run_ablation.sh DATA_DIR RUNS_DIR STEPS
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-data/train-256}
runs=${2:-runs/ablation}
steps=${3:-300}
warmup=$((steps * 3 / 8))
common=(--data "$data" --steps "$steps" --seed 0 --device cpu --no-gan --still-probability 0
    --checkpoint-every 100 --sample-every "$steps" --log-every 20 --no-progress)
export OMP_NUM_THREADS=1
train_row() {  # name, options...
    local name=$1; shift
    [ -f "$runs/$name/model.safetensors" ] && grep -q "\"step\": $steps" "$runs/$name/log.jsonl" 2>/dev/null \
        || .venv/bin/tiw train --out "$runs/$name" "${common[@]}" "$@" \
        || .venv/bin/tiw train --out "$runs/$name" "${common[@]}" --resume
}
train_row baseline --preset small-256 --landmark-weight 0 --warp-only-steps 0
train_row warp --preset warp-256 --landmark-weight 0 --warp-only-steps "$warmup"
train_row warp-landmarks --preset warp-256 --landmark-weight 10 --warp-only-steps "$warmup"
for name in baseline warp warp-landmarks; do
    for split in dev test; do
        .venv/bin/tiw eval --data "$data" --split "$split" --weights "$runs/$name/model.safetensors" \
            --sources 1,3 --metrics l1,psnr,ssim,akd,aed --max-frames 24 --face-backend dlib \
            --device cpu --json "$runs/$name/eval_$split.json"
    done
done
