"""What the full-resolution spline (ModelConfig.landmark_flow_full_resolution) costs: the model
alone at batch 1, one source, one thread, two weights files timed in turns in one process.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/spline_cost.py WEIGHTS_A WEIGHTS_B [--rounds 6]
    python benchmarks/spline_cost.py WEIGHTS_A WEIGHTS_B --device cuda [--sources 3] [--precision bf16]

Each round times 8 frames (keypoints + `animate`, made-up landmarks as `tiw bench` uses) per
file; the first round is a warm-up. Prints the median and every round, in ms per frame.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from tiwcli.checkpoint import load_model
from tiwcli.evaluation.bench import face_landmarks
from tiwcli.runtime import autocast


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, nargs=2)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sources", type=int, default=1)
    parser.add_argument(
        "--precision", default="fp32", help="fp32, or bf16 autocast as tiw animate's auto on CUDA"
    )
    parser.add_argument("--batch", type=int, default=1, help="driving frames per call")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    models = {path.name: load_model(path).eval().to(device) for path in args.weights}
    torch.manual_seed(0)
    size = next(iter(models.values())).config.image_size
    count = args.sources
    sources = torch.rand(1, count, 3, size, size, device=device)
    driving = torch.rand(args.batch, 3, size, size, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode(), autocast(device, args.precision):
        encodings = {
            name: model.encode_sources(sources, face_landmarks(count, device).reshape(1, count, 68, 2))
            for name, model in models.items()
        }
        for round_index in range(args.rounds):
            for name, model in models.items():
                sync()
                start = time.perf_counter()
                for _ in range(args.frames):
                    model.animate(
                        encodings[name],
                        model.keypoint_detector(driving),
                        face_landmarks(args.batch, device, seed=1),
                    )
                sync()
                if round_index:
                    times[name].append((time.perf_counter() - start) / (args.frames * args.batch) * 1000)
    for name, values in times.items():
        ordered = sorted(values)
        rounds = ", ".join(f"{value:.1f}" for value in values)
        print(f"{name}: median {ordered[len(ordered) // 2]:.1f} ms/frame; rounds {rounds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
