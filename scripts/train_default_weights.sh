#!/usr/bin/env bash
# Reproduce weights/tiw-landmark-256.safetensors (see weights/README.md): the offline training set,
# `tiw train` of the warp-256 preset on one CPU thread, each checkpoint scored on the dev person
# (carphone) with the best kept, the landmark prior switched on over those weights, then the
# model card's evaluation on the dev and test persons and the cross-identity figure.
set -euo pipefail
cd "$(dirname "$0")/.."
make setup
.venv/bin/python scripts/make_training_dataset.py data/train-256
OMP_NUM_THREADS=1 .venv/bin/tiw train --data data/train-256 --out runs/warp256 --preset warp-256 \
    --steps 2400 --checkpoint-every 200 --sample-every 400 --log-every 20 --device cpu --seed 0 --no-progress &
scripts/eval_checkpoints.sh runs/warp256 data/train-256 dev &
wait %1
touch runs/warp256/done
wait
cp runs/warp256/best.safetensors runs/tiw-warp-256.safetensors
# stage 2: the same weights with the landmark prior switched on (the priors own no weights)
.venv/bin/python scripts/with_landmark_prior.py runs/tiw-warp-256.safetensors weights/tiw-landmark-256.safetensors
.venv/bin/tiw eval --data data/train-256 --split dev --weights weights/tiw-landmark-256.safetensors \
    --sources 1,3 --metrics l1,psnr --max-frames 16 --json weights/dev_eval.json
.venv/bin/tiw eval --data data/train-256 --split test --weights weights/tiw-landmark-256.safetensors \
    --sources 1,2,3 --metrics l1,psnr,ssim,akd,mkr,aed --max-frames 24 --face-backend dlib --device cpu \
    --json weights/eval.json --csv weights/eval.csv --plot weights/eval.png
.venv/bin/python benchmarks/cross_identity.py --weights weights/tiw-landmark-256.safetensors --data data/train-256 \
    --max-frames 60 --json weights/cross_identity.json --grid weights/cross_identity.jpg
sha256sum weights/tiw-landmark-256.safetensors
