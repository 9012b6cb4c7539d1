#!/usr/bin/env bash
# The second, short GPU call of 2026-11-26 (benchmarks/README.md): base-512 alone, end to end at
# 1 and 8 sources for small-256 and base-256, and end to end in fp32. Inputs as scripts/gpu_session.sh.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-out2}; DEVICE=${DEVICE:-cuda}; mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
export PYTHONPATH=$PWD:/tmp/site:$PWD/.gpu/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
bench() { local name=$1 limit=$2; shift 2
    timeout -k 5 "$limit" python3 -m tiwcli bench --device "$DEVICE" --batch-size 32 --frames 32 "$@" \
        --json "$OUT/bench_$name.json" >"$OUT/bench_$name.txt" 2>&1; echo "[$SECONDS s] $name rc $?"; }
bench model_512 40 --presets base-512 --sources 1,2,4,8 --no-end-to-end
bench e2e_sources 100 --presets small-256,base-256 --sources 1,8 --end-to-end --no-faces --clip-frames 256 --long-factor 4
bench e2e_fp32 35 --presets small-256 --sources 1 --precision fp32 --end-to-end --no-faces --clip-frames 256 --long-factor 4
