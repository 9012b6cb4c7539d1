"""The landmark spline read at 128 x 128 cells (the full-resolution warp's fine grid, a (16384, 76)
kernel a source), one source, one thread, three rounds of 30 reads, with the allocator as `tiw`
sets it or with glibc's defaults (`TIW_KEEP_FREED_MEMORY=0`), each in a process:

    for s in 1 0; do TIW_KEEP_FREED_MEMORY=$s OMP_NUM_THREADS=1 .venv/bin/python \\
        benchmarks/allocator/spline_read.py; done
"""

from __future__ import annotations

import statistics
import time

import torch

from tiwcli.allocator import describe, keep_freed_memory
from tiwcli.models import landmark_prior


def main() -> None:
    keep_freed_memory()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    driving = torch.rand(1, 68, 2, generator=generator) - 0.5
    sources = driving[:, None] + 0.02 * torch.randn(1, 1, 68, 2, generator=generator)
    spline = landmark_prior.thin_plate_spline(driving, sources, 0.001)
    with torch.inference_mode():
        for _ in range(3):
            landmark_prior.spline_at(spline, 128)
        for number in range(3):
            times = []
            for _ in range(30):
                start = time.perf_counter()
                landmark_prior.spline_at(spline, 128)
                times.append(1000 * (time.perf_counter() - start))
            print(f"round {number + 1}: {statistics.median(times):6.2f} ms (median of 30)", flush=True)
    print(f"allocator: {describe()}")


if __name__ == "__main__":
    main()
