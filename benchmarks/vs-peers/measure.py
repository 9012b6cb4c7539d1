"""tiw's shipped weights against FOMM (vox-256), like for like, in one process.

Batch 1, the same torch thread count for both, fp32, 256x256, the sources encoded once (FOMM's
source keypoints too; its generator re-encodes the source image every frame, as FOMM does). The two
are timed in alternating rounds so that a change in the machine's speed hits both; each figure is
the median over rounds of the median over frames. FOMM is `fomm_standin.py` (its architecture,
random weights); its parameter and FLOP counts are printed to check it against the published 59.8 M
and 110 GFLOP.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/vs-peers/measure.py --threads 1 --json OUT.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fomm_standin import Fomm

from tiwcli.checkpoint import load_model
from tiwcli.evaluation.bench import animate_frames, encode, load_average

ROOT = Path(__file__).resolve().parents[2]


def median_ms(call, frames: int) -> float:
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def gflops(call) -> float:
    with FlopCounterMode(display=False) as counter:
        call()
    return counter.get_total_flops() / 1e9


def parameters_m(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "weights" / "tiw-landmark-256.safetensors")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sources", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tiw-frames", type=int, default=20, help="frames timed per round")
    parser.add_argument("--fomm-frames", type=int, default=3, help="frames timed per round")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    fomm = Fomm().eval()
    model = load_model(args.weights).eval()
    size = model.config.image_size
    source = torch.rand(1, 3, size, size)
    driving = torch.rand(1, 3, size, size)
    load_before = load_average()[0]
    with torch.inference_mode():
        kp_source, jac_source = fomm.source_keypoints(source)
        encoding = encode(model, source[:, None].expand(1, args.sources, -1, -1, -1).contiguous())

        def fomm_frame():
            return fomm(source, kp_source, jac_source, driving)

        def tiw_frame():
            return animate_frames(model, encoding, driving)

        fomm_frame(), tiw_frame()  # warm-up
        rounds = []
        for number in range(args.rounds):
            row = {
                "fomm_ms": median_ms(fomm_frame, args.fomm_frames),
                "tiw_ms": median_ms(tiw_frame, args.tiw_frames),
            }
            rounds.append(row)
            print(f"round {number + 1}: FOMM {row['fomm_ms']:.1f} ms, tiw {row['tiw_ms']:.1f} ms", flush=True)
        counts = {
            "fomm_gflops": gflops(fomm_frame),
            "tiw_gflops": gflops(tiw_frame),
        }
    fomm_ms = statistics.median(r["fomm_ms"] for r in rounds)
    tiw_ms = statistics.median(r["tiw_ms"] for r in rounds)
    result = {
        "weights": str(args.weights),
        "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "sources": args.sources,
        "batch": 1,
        "fomm_params_m": parameters_m(fomm),
        "tiw_params_m": parameters_m(model),
        **counts,
        "fomm_ms": fomm_ms,
        "tiw_ms": tiw_ms,
        "speedup": fomm_ms / tiw_ms,
        "rounds": rounds,
        "load_before": load_before,
        "load_after": load_average()[0],
        "torch": torch.__version__,
    }
    print(
        f"FOMM vox-256 stand-in: {result['fomm_params_m']:.1f} M parameters, "
        f"{counts['fomm_gflops']:.1f} GFLOP, "
        f"{fomm_ms:.0f} ms/frame\n"
        f"tiw {args.weights.name}, {args.sources} source(s): {result['tiw_params_m']:.2f} M parameters, "
        f"{counts['tiw_gflops']:.2f} GFLOP, {tiw_ms:.1f} ms/frame\n"
        f"tiw is {result['speedup']:.1f}x faster (batch 1, {result['threads']} thread(s); "
        f"load {load_before:.2f} -> {result['load_after']:.2f})"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
