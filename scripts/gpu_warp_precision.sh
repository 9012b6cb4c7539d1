#!/usr/bin/env bash
# The second GPU call of 2026-11-26 (one H100): does sampling the warp in float32 under bf16
# autocast (tiwcli/models/full_resolution_warp.py) recover the fp32 dev score, and what does it
# cost? The dev person through `tiw eval` in bf16 and fp32, and the shipped model alone
# (benchmarks/spline_cost.py, bf16, batch 1 and 32) with this warp and with the previous one
# (.gpu/old/full_resolution_warp.py: `git show c4313cf:tiwcli/models/full_resolution_warp.py`).
# Carry: data/train-256/dev, data/train-256/manifest.json, .whl, .gpu/old.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-out3}; DEVICE=${DEVICE:-cuda}; mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
export PYTHONPATH=$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
weights=weights/tiw-landmark-256.safetensors
python3 scripts/with_landmark_prior.py "$weights" /tmp/nofull.safetensors >/dev/null
run() {  # name: dev eval bf16 + fp32, spline cost bf16 at batch 1 and 32
    local name=$1
    for precision in bf16 fp32; do
        timeout -k 5 60 python3 -m tiwcli eval --data data/train-256 --split dev --weights "$weights" --sources 1,3 \
            --metrics l1,psnr --max-frames 16 --baselines none --device "$DEVICE" --precision "$precision" \
            --json "$OUT/dev_${name}_$precision.json" >"$OUT/dev_${name}_$precision.txt" 2>&1
        echo "[$SECONDS s] $name dev $precision rc $?"
    done
    for batch in 1 32; do
        timeout -k 5 40 python3 benchmarks/spline_cost.py /tmp/nofull.safetensors "$weights" --device "$DEVICE" \
            --precision bf16 --batch "$batch" --frames 8 --rounds 6 >"$OUT/spline_${name}_batch$batch.txt" 2>&1
        echo "[$SECONDS s] $name spline batch $batch rc $?"; cat "$OUT/spline_${name}_batch$batch.txt"
    done
}
run float32_warp
cp tiwcli/models/full_resolution_warp.py /tmp/full_resolution_warp.py
cp .gpu/old/full_resolution_warp.py tiwcli/models/full_resolution_warp.py
run bf16_warp
cp /tmp/full_resolution_warp.py tiwcli/models/full_resolution_warp.py  # as it was
grep -H "implicit-warping" "$OUT"/dev_*.txt
