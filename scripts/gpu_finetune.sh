#!/usr/bin/env bash
# A lent GPU's second session (2026-11-26), in a fixed wall-clock budget:
#  1. the shipped weights (full-resolution spline) on CUDA for the first time: `tiw eval` on the dev
#     person (same command as scripts/eval_dev.sh's first half, so it compares with the CPU JSON),
#     and the model's time per frame against the same tensors without the full-resolution spline;
#  2. four continuations of the shipped weights side by side at a 5x lower learning rate than the
#     first GPU session (whose checkpoints all fell on the dev person from step 1,000 on), with the
#     perceptual loss, the mouth pairs and the still motion as the variables;
#  3. checkpoints 250/750/last of each back as bf16 (scripts/bf16_weights.py), 3 per tar.
# Carry (under 64 MiB with the tracked files): data/train-256/train, data/train-256/dev,
# data/train-256/manifest.json, .whl (PyAV), .gpu/hed_int8.npz; see scripts/gpu_session.sh.
# Dry run on the CPU: PATH=.venv/bin:$PATH DEVICE=cpu BUDGET=150 STEPS=2 OUT=/tmp/gpu scripts/gpu_finetune.sh
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-out}
DEVICE=${DEVICE:-cuda}
BUDGET=${BUDGET:-450}
STEPS=${STEPS:-2000}
runs=/tmp/tiw-gpu-runs
source scripts/gpu_env.sh
weights=weights/tiw-landmark-256.safetensors
python3 scripts/with_landmark_prior.py "$weights" "$runs/nofull.safetensors"  # the same tensors, option off

# 1. the shipped weights on CUDA
log "dev eval on $DEVICE"
timeout -k 5 60 python3 -m tiwcli eval --data data/train-256 --split dev --weights "$weights" --sources 1,3 \
    --metrics l1,psnr --max-frames 16 --baselines none --device "$DEVICE" --json "$OUT/logs/dev_eval_cuda.json" \
    >"$OUT/logs/dev_eval_cuda.txt" 2>&1
log "dev eval rc $?"
for sources in 1 3; do
    timeout -k 5 30 python3 benchmarks/spline_cost.py "$runs/nofull.safetensors" "$weights" --device "$DEVICE" \
        --sources "$sources" --frames 32 --rounds 6 >"$OUT/logs/spline_cost_cuda_sources$sources.txt" 2>&1
    log "spline cost, $sources sources, rc $?"
done

# 2. four continuations side by side until the deadline
left=$((BUDGET - 40 - SECONDS))
log "training for $left s"
common=(--data data/train-256 --preset landmark-256 --init "$weights" --landmark-weight 0 --warp-only-steps 0
    --steps "$STEPS" --batch-size 16 --lr 5e-5 --seed 3 --device "$DEVICE" --no-gan --checkpoint-every 250
    --keep 20 --sample-every 0 --log-every 50 --no-progress --num-workers 2)
perceptual=(--perceptual-network auto --perceptual-weight 10)
train() {  # name, options...
    local name=$1; shift
    timeout -k 30 -s TERM "$left" python3 -m tiwcli train --out "$runs/$name" "$@" >"$OUT/logs/train_$name.txt" 2>&1
    echo "$name rc $?" >>"$OUT/logs/session.txt"
}
train plain "${common[@]}" --still-probability 0 &
train perceptual "${common[@]}" --still-probability 0 "${perceptual[@]}" &
train mouth "${common[@]}" --still-probability 0 "${perceptual[@]}" --mouth-pair-probability 0.3 --mouth-weight 10 &
train still "${common[@]}" --still-probability 0.3 "${perceptual[@]}" &
sleep 60; (nvidia-smi; uptime) >"$OUT/logs/during_training.txt" 2>&1
wait
log "training done"

# 3. pack
step() { ls "$runs/$1"/checkpoints/step_$(printf %08d "$2").safetensors 2>/dev/null; }
last() { ls -t "$runs/$1"/checkpoints/step_*[0-9].safetensors 2>/dev/null | head -1; }
for name in plain perceptual mouth still; do  # 3 x 4.8 MB each
    pack "$name" "$(step "$name" 250)" "$(step "$name" 750)" "$(last "$name")"
done
pack_logs
