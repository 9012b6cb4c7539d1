# Sourced by the GPU call scripts (gpu_session.sh, gpu_finetune.sh): the device machine's Python
# environment and the call's log. Needs OUT and runs set; installs the carried PyPI wheels
# (.whl: PyAV) and the int8-packed HED-VGG16 (.gpu/hed_int8.npz) into /tmp/site.
mkdir -p "$OUT/logs" "$runs"
log() { echo "[$SECONDS s] $*" | tee -a "$OUT/logs/session.txt"; }
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
[ -f .gpu/hed_int8.npz ] && python3 scripts/hed_int8.py unpack .gpu/hed_int8.npz /tmp/site
export PYTHONPATH=$PWD:/tmp/site:$PWD/.gpu/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
(nvidia-smi; nproc; free -g) >"$OUT/logs/machine.txt" 2>&1
python3 -c "import torch, av; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'av', av.__version__)" 2>&1 | tee -a "$OUT/logs/session.txt"
# checkpoints back as bf16 (scripts/bf16_weights.py), several to a tar (each under 16 MiB)
pack() {  # tar name, checkpoint files...
    local tar=$1; shift
    local folder=$runs/pack-$tar pairs=() file run; mkdir -p "$folder"
    for file in "$@"; do
        [ -f "$file" ] || continue
        run=$(basename "$(dirname "$(dirname "$file")")")  # RUN/checkpoints/step_N.safetensors
        pairs+=("$file" "$folder/${run}__$(basename "$file")")
    done
    [ ${#pairs[@]} -gt 0 ] && python3 scripts/bf16_weights.py to-bf16 "${pairs[@]}"
    tar -cf "$OUT/$tar.tar" -C "$folder" .
}
# every run's log, configs and checkpoint list into OUT/logs.tar.gz
pack_logs() {
    for run in "$runs"/*/; do
        name=$(basename "$run"); [[ $name == pack-* ]] && continue
        mkdir -p "$OUT/logs/$name"; cp "$run"/log.jsonl "$run"/run.json "$OUT/logs/$name/" 2>/dev/null
        ls -la "$run/checkpoints" >"$OUT/logs/$name/checkpoints.txt" 2>&1
    done
    tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
    echo "[$SECONDS s] packed"; ls -la "$OUT"
}
