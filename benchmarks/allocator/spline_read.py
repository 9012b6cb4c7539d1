"""The landmark spline read at 128 x 128 cells (the full-resolution warp's fine grid), one source,
one thread: the previous form (a batch of broadcast (q, 4) x (4, K) products, a new tensor for the
clamp) against `landmark_prior.spline_at` now (one matrix product, clamped in place), with the
allocator as `tiw` sets it or with glibc's defaults (`TIW_KEEP_FREED_MEMORY=0`), each in a process:

    for s in 1 0; do TIW_KEEP_FREED_MEMORY=$s OMP_NUM_THREADS=1 .venv/bin/python \\
        benchmarks/allocator/spline_read.py; done
"""

from __future__ import annotations

import statistics
import time

import torch
from einops import rearrange

from tiwcli.allocator import keep_freed_memory
from tiwcli.models import landmark_prior
from tiwcli.models.landmark_prior import ThinPlateSpline, _radial, coordinate_grid


def previous_spline_at(spline: ThinPlateSpline, feature_size: int) -> torch.Tensor:
    """spline_at as it was before 2026-12-07 (commit 4a008f0)."""
    controls = spline.controls
    queries = rearrange(coordinate_grid(feature_size, controls.device, controls.dtype), "h w xy -> (h w) xy")
    ones = torch.ones_like(queries[:, :1])
    query_terms = torch.cat([queries, queries.square().sum(-1, keepdim=True), ones], dim=-1)
    control_terms = torch.cat(
        [-2 * controls, torch.ones_like(controls[..., :1]), controls.square().sum(-1, keepdim=True)], dim=-1
    )
    distance2 = (query_terms @ control_terms.transpose(-1, -2)).clamp_min(0)
    at_queries = _radial(distance2)
    query_affine = torch.cat([ones, queries], dim=-1)
    centres = at_queries @ spline.weights + query_affine @ spline.coefficients
    return torch.where(spline.known[..., None, None], centres, queries)


def main() -> None:
    allocator = keep_freed_memory()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    driving = torch.rand(1, 68, 2, generator=generator) - 0.5
    sources = driving[:, None] + 0.02 * torch.randn(1, 1, 68, 2, generator=generator)
    spline = landmark_prior.thin_plate_spline(driving, sources, 0.001)
    with torch.inference_mode():
        difference = (previous_spline_at(spline, 128) - landmark_prior.spline_at(spline, 128)).abs().max()
        for name, read in (("previous", previous_spline_at), ("now", landmark_prior.spline_at)):
            for _ in range(3):
                read(spline, 128)
            times = []
            for _ in range(30):
                start = time.perf_counter()
                read(spline, 128)
                times.append(1000 * (time.perf_counter() - start))
            print(f"{name:8s} {statistics.median(times):6.2f} ms (median of 30)", flush=True)
    print(f"allocator: {list(allocator.applied) or allocator.reason}; max difference {difference:.1e}")


if __name__ == "__main__":
    main()
