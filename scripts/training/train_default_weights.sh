#!/usr/bin/env bash
# Reproduce weights/tiw-landmark-256.safetensors (see weights/README.md): the offline training set,
# stage 1 (`tiw train` of the warp-256 preset, 300 steps on one CPU thread: the ablation's "+ full-res
# warp" row), stage 2 (1,200 steps of the landmark-256 preset, landmark prior on, from stage 1), stage 3
# (the spline at full resolution in the warp switched on: no training), the dev scores it was chosen
# by, then the model card's evaluation on the test person and the cross-identity figure.
#   scripts/training/train_default_weights.sh      (from any folder; it writes data/train-256 and runs/)
set -euo pipefail
cd "$(dirname "$0")/../.."
make setup
.venv/bin/python scripts/data/make_training_dataset.py data/train-256
OMP_NUM_THREADS=1 .venv/bin/tiw train --data data/train-256 --out runs/ablation/warp --preset warp-256 \
    --landmark-weight 0 --warp-only-steps 112 --steps 300 --seed 0 --device cpu --no-gan --still-probability 0 \
    --checkpoint-every 100 --sample-every 300 --log-every 20 --no-progress
OMP_NUM_THREADS=1 .venv/bin/tiw train --data data/train-256 --out runs/prior-train --preset landmark-256 \
    --init runs/ablation/warp/model.safetensors --landmark-weight 0 --warp-only-steps 0 --steps 1200 \
    --lr 2.5e-4 --seed 1 --device cpu --no-gan --still-probability 0 --checkpoint-every 100 --keep 20 \
    --sample-every 400 --log-every 20 --no-progress
# the choice: dev person and dev portraits only, every 200 steps; the highest mean dev PSNR (1 and 3
# sources) among checkpoints with a face in >= 95% of the dev-portrait frames
for step in 200 400 600 800 1000 1200; do
    weights=$(printf "runs/prior-train/checkpoints/step_%08d.safetensors" "$step")
    .venv/bin/tiw eval --data data/train-256 --split dev --weights "$weights" \
        --sources 1,3 --metrics l1,psnr --max-frames 16 --baselines none --json "runs/prior-train/dev_$step.json"
    .venv/bin/python benchmarks/cross_identity.py --weights "$weights" --portraits data/train-256/dev-portraits \
        --driving data/train-256/dev/carphone_pristine_1212d8b3_000.mp4 --max-frames 60 \
        --json "runs/prior-train/dev_portraits_$step.json"
done
# stage 3 (no training): the same weights with the spline read at full resolution in the warp, chosen
# on the dev side (benchmarks/mouth/RULE.md)
scripts/evaluation/eval_dev.sh runs/prior-train/checkpoints/step_00001200.safetensors runs/prior-train/dev_stage2
.venv/bin/python scripts/training/with_landmark_prior.py runs/prior-train/checkpoints/step_00001200.safetensors \
    weights/tiw-landmark-256.safetensors --preset landmark-256 --full-resolution-spline
scripts/evaluation/eval_dev.sh weights/tiw-landmark-256.safetensors runs/prior-train/dev_stage3
# the report: the test person and unseen portraits
.venv/bin/tiw eval --data data/train-256 --split test --weights weights/tiw-landmark-256.safetensors \
    --sources 1,2,3 --metrics l1,psnr,ssim,akd,mkr,aed --max-frames 24 --face-backend dlib --device cpu \
    --json weights/eval.json --csv weights/eval.csv --plot weights/eval.png
.venv/bin/python benchmarks/cross_identity.py --weights weights/tiw-landmark-256.safetensors --data data/train-256 \
    --max-frames 60 --json weights/cross_identity.json --grid weights/cross_identity.jpg
sha256sum weights/tiw-landmark-256.safetensors
