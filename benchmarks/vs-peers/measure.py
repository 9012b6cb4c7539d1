"""tiw's shipped weights against FOMM (vox-256), like for like, in one process.

Batch 1, the same torch thread count for both, fp32, 256x256, the sources encoded once (FOMM's
source keypoints too; its generator re-encodes the source image every frame, as FOMM does). The two
are timed in alternating rounds so that a change in the machine's speed hits both; each figure is
the median over rounds of the median over frames. FOMM is `fomm_standin.py` (its architecture,
random weights); its parameter and FLOP counts are printed to check it against the published 59.8 M
and 110 GFLOP. The process keeps freed memory as `tiw` does (`tiwcli.allocator`), for both models;
`TIW_KEEP_FREED_MEMORY=0` measures with glibc's defaults.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/vs-peers/measure.py --threads 1 \
        [--weights A B ...] --json OUT.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fomm_standin import Fomm

from tiwcli.allocator import describe, keep_freed_memory
from tiwcli.checkpoint import load_model
from tiwcli.evaluation.bench import animate_frames, encode, load_average, median_seconds

ROOT = Path(__file__).resolve().parents[2]


def gflops(call) -> float:
    with FlopCounterMode(display=False) as counter:
        call()
    return counter.get_total_flops() / 1e9


def parameters_m(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--weights",
        type=Path,
        nargs="+",
        default=[ROOT / "weights" / "tiw-landmark-256.safetensors"],
        help="one or more tiw weights files, each timed in the same rounds",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sources", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tiw-frames", type=int, default=20, help="frames timed per round")
    parser.add_argument("--fomm-frames", type=int, default=3, help="frames timed per round")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    keep_freed_memory()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    fomm = Fomm().eval()
    models = [load_model(path).eval() for path in args.weights]
    size = models[0].config.image_size
    source = torch.rand(1, 3, size, size)
    driving = torch.rand(1, 3, size, size)
    load_before = load_average()[0]
    with torch.inference_mode():
        kp_source, jac_source = fomm.source_keypoints(source)
        sources = source[:, None].expand(1, args.sources, -1, -1, -1).contiguous()

        def fomm_frame():
            return fomm(source, kp_source, jac_source, driving)

        def tiw_frame(model, encoding):
            return lambda: animate_frames(model, encoding, driving)

        frames = {
            path.name: tiw_frame(model, encode(model, sources))
            for path, model in zip(args.weights, models, strict=True)
        }
        fomm_frame()  # warm-up
        for frame in frames.values():
            frame()
        rounds = []
        for number in range(args.rounds):
            row = {"FOMM": 1000 * median_seconds(fomm_frame, args.fomm_frames)}
            for name, frame in frames.items():
                row[name] = 1000 * median_seconds(frame, args.tiw_frames)
            rounds.append(row)
            print(f"round {number + 1}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in row.items()), flush=True)
        flops = {"FOMM": gflops(fomm_frame)} | {name: gflops(frame) for name, frame in frames.items()}
    params = {"FOMM": parameters_m(fomm)} | {
        path.name: parameters_m(model) for path, model in zip(args.weights, models, strict=True)
    }
    ms = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    result = {
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "sources": args.sources,
        "batch": 1,
        "models": {
            name: {
                "params_m": params[name],
                "gflops": flops[name],
                "ms": ms[name],
                "speedup": ms["FOMM"] / ms[name],
            }
            for name in ms
        },
        "rounds": rounds,
        "load_before": load_before,
        "load_after": load_average()[0],
        "torch": torch.__version__,
        "allocator": describe(),
    }
    for name, row in result["models"].items():
        print(
            f"{name}: {row['params_m']:.2f} M parameters, {row['gflops']:.2f} GFLOP, "
            f"{row['ms']:.1f} ms/frame, FOMM / it: {row['speedup']:.1f}x"
        )
    print(
        f"batch 1, {result['threads']} thread(s), {args.sources} source(s); "
        f"load {load_before:.2f} -> {result['load_after']:.2f}; allocator: {result['allocator']}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
