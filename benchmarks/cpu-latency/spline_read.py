"""The landmark spline's read (`models.landmark_prior.spline_at`) alone: one source, dlib-like made-up
landmarks, the 128 x 128 grid of the full-resolution base and the 32 x 32 grid of the attention's
prior; median of 200 reads after 10 of warm-up, one thread, a fresh spline each read (no cached
reading). To compare two commits, run it alternately from a worktree of each (PYTHONPATH picks the
`tiwcli` measured; the first word printed says which):

    for i in 1 2 3; do
        PYTHONPATH=/tmp/wt-old OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cpu-latency/spline_read.py
        OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cpu-latency/spline_read.py
    done
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch


def main() -> int:
    import tiwcli
    from tiwcli.evaluation.bench import median_seconds
    from tiwcli.models.landmark_prior import ThinPlateSpline, spline_at, thin_plate_spline

    torch.set_num_threads(1)
    torch.manual_seed(0)
    driving = torch.rand(1, 68, 2) * 1.2 - 0.6
    spline = thin_plate_spline(driving, (driving + 0.03 * torch.randn(1, 68, 2))[:, None], 0.001)
    parts = (spline.controls, spline.weights, spline.coefficients, spline.known)
    cells = []
    with torch.inference_mode():
        for side in (128, 32):
            read = lambda: spline_at(ThinPlateSpline(*parts), side)  # noqa: B023, E731
            for _ in range(10):
                read()
            cells.append(f"{side} x {side}: {median_seconds(read, 200) * 1000:.2f} ms")
    print(Path(tiwcli.__file__).parents[1].name, "|", " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
