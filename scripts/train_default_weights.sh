#!/usr/bin/env bash
# Reproduce weights/tiw-small-256.safetensors: the real offline sample dataset at 256 px,
# then `tiw train` on CPU (about an hour on 2 cores), then the model card's evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
make setup
.venv/bin/python scripts/make_sample_dataset.py data/sample-256 --size 256
.venv/bin/tiw train --data data/sample-256 --out runs/default --preset small-256 --steps 3600 \
    --checkpoint-every 200 --sample-every 400 --log-every 20 --device cpu --seed 0
cp runs/default/model.safetensors weights/tiw-small-256.safetensors
.venv/bin/tiw eval --data data/sample-256 --weights weights/tiw-small-256.safetensors \
    --num-sources 1,2,3 --json weights/eval.json --plot weights/eval.png
sha256sum weights/tiw-small-256.safetensors
