#!/usr/bin/env bash
# tiw animate on the demo inputs (default settings: 2 torch threads on the 2-core machine), batch 2
# against batch 8, interleaved, N runs each; prints frames/s per run and the median per batch.
#   benchmarks/end-to-end/demo_batch.sh [N] > benchmarks/end-to-end/demo_batch.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
uptime
for i in $(seq "$runs"); do
    for b in 2 8; do
        fps=$(.venv/bin/tiw animate samples/source.jpg samples/driving.mp4 -o /tmp/tiw_demo_batch.mp4 --overwrite \
            --batch-size "$b" 2>&1 | grep -oE "[0-9.]+ frames/s" | head -1 | cut -d' ' -f1)
        echo "run $i batch $b: $fps frames/s"
    done
done | tee /tmp/tiw_demo_batch.txt
for b in 2 8; do
    grep "batch $b:" /tmp/tiw_demo_batch.txt | awk '{print $5}' | sort -n | awk -v b="$b" '{a[NR]=$1} END {print "batch " b ": median " a[int((NR+1)/2)] " frames/s over " NR " runs"}'
done
uptime
