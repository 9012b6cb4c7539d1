"""The landmark spline read on the full-resolution warp's fine grid (128 x 128 queries, 76 controls):
the previous way (three (q, K) sums, then clamp, log and product as new tensors) against
`landmark_prior.spline_at` now (one matrix product for the squared distances, the kernel in place),
timed in alternating rounds in one process, batch 1, one source, one thread, on real landmarks
(a dev clip's first frame as the driving frame, its tenth as the source).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fast/spline_eval.py LANDMARKS.npy [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from tiwcli.evaluation.bench import median_seconds
from tiwcli.models.landmark_prior import ThinPlateSpline, spline_at, thin_plate_spline
from tiwcli.models.layers import coordinate_grid


def previous_spline_at(spline: ThinPlateSpline, size: int) -> torch.Tensor:
    """`spline_at` as it was up to 2026-12-07 (commit 622db8a)."""
    controls = spline.controls
    queries = rearrange(coordinate_grid(size, controls.device, controls.dtype), "h w xy -> (h w) xy")
    distance2 = (
        queries.square().sum(-1)[:, None]
        + controls.square().sum(-1)[:, :, None]
        - 2 * queries @ controls.transpose(-1, -2)
    ).clamp_min(0)
    at_queries = distance2 * torch.log(distance2.clamp_min(1e-12))
    query_affine = torch.cat([torch.ones_like(queries[:, :1]), queries], dim=-1)
    centres = at_queries @ spline.weights + query_affine @ spline.coefficients
    return torch.where(spline.known[..., None, None], centres, queries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landmarks", type=Path, help="a clip's (t, 68, 2) landmarks in [-1, 1]")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--size", type=int, default=128, help="the fine grid's side")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    points = torch.from_numpy(np.load(args.landmarks).astype(np.float32))
    if points.ndim != 3 or points.shape[0] < 10 or points.shape[1:] != (68, 2):
        raise SystemExit(f"{args.landmarks}: expected (t >= 10, 68, 2) landmarks, got {tuple(points.shape)}")
    spline = thin_plate_spline(points[None, 0], points[None, None, 9], 0.001)
    with torch.inference_mode():
        now, before = spline_at(spline, args.size), previous_spline_at(spline, args.size)
        pixels = (now - before).abs().max().item() * args.size  # [-1, 1] units -> fine-grid pixels
        rounds = []
        for _ in range(args.rounds):
            rounds.append(
                (
                    1000 * median_seconds(lambda: previous_spline_at(spline, args.size), args.frames),
                    1000 * median_seconds(lambda: spline_at(spline, args.size), args.frames),
                )
            )
    old = statistics.median(r[0] for r in rounds)
    new = statistics.median(r[1] for r in rounds)
    print(f"largest difference: {pixels:.2e} px of the {args.size}-px grid")
    for index, (a, b) in enumerate(rounds, 1):
        print(f"round {index}: previous {a:.2f} ms, now {b:.2f} ms")
    print(f"median over rounds: previous {old:.2f} ms, now {new:.2f} ms ({old / new:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
