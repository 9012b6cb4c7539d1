"""Page faults, CPU time and wall time of one frame, batch 1, one source, one thread, with the
allocator as `tiw` sets it (`tiwcli.allocator`) or with glibc's defaults (`TIW_KEEP_FREED_MEMORY=0`):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/allocator/frame_faults.py WEIGHTS... [--frames 30]

Prints one line per weights file: minor page faults a frame, CPU ms a frame (user + system), system
ms, wall ms, and the peak resident memory. Run it twice, once with each setting, on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import torch

from tiwcli.allocator import describe, keep_freed_memory
from tiwcli.checkpoint import load_model
from tiwcli.evaluation.bench import animate_frames, encode, load_average
from tiwcli.evaluation.bench_child import peak_rss_kib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, nargs="+")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = {}
    for path in args.weights:
        model = load_model(path).eval()
        size = model.config.image_size
        sources, driving = torch.rand(1, 1, 3, size, size), torch.rand(1, 3, size, size)
        with torch.inference_mode():
            encoding = encode(model, sources)
            for _ in range(5):
                animate_frames(model, encoding, driving)
            before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            for _ in range(args.frames):
                animate_frames(model, encoding, driving)
            wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
        n = args.frames
        rows[path.name] = row = {
            "faults_per_frame": (after.ru_minflt - before.ru_minflt) / n,
            "cpu_ms": 1000 * (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / n,
            "system_ms": 1000 * (after.ru_stime - before.ru_stime) / n,
            "wall_ms": 1000 * wall / n,
        }
        print(
            f"{path.name:28s} faults/frame {row['faults_per_frame']:7.1f}  cpu {row['cpu_ms']:6.1f} ms"
            f"  system {row['system_ms']:5.1f} ms  wall {row['wall_ms']:6.1f} ms",
            flush=True,
        )
    summary = {
        "allocator": describe(),
        "peak_rss_mib": peak_rss_kib() / 1024,
        "load": load_average()[0],
        "frames": args.frames,
        "models": rows,
    }
    peak, load = summary["peak_rss_mib"], summary["load"]
    print(f"allocator: {summary['allocator']}; peak {peak:.0f} MiB; load {load:.2f}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
