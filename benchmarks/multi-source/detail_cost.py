"""What the two-band source blend (`ModelConfig.source_detail_power`, issue 27) adds to a frame: the
full-resolution warp (`warp_sources`) at 256 x 256 with D = 16 (the detail band 2 and 3 px wide,
`source_detail_sigma`) against D = 0, one to three sources, batch 1, one thread, bicubic sampling as
the shipped file, rounds alternating in one process. Only the warp differs; the networks before it
are untouched.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/multi-source/detail_cost.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from einops import rearrange

from tiwcli.allocator import keep_freed_memory
from tiwcli.io.video import read_all_frames
from tiwcli.models.full_resolution_warp import Correspondence, warp_sources
from tiwcli.models.layers import coordinate_grid
from tiwcli.samples import sample_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(1)
    clip = sample_file("WolfgangLanger_Pexels.mp4")  # a real clip (its first three frames)
    frames = torch.from_numpy(read_all_frames(clip, max_frames=3)).permute(0, 3, 1, 2).float() / 255
    images = torch.nn.functional.interpolate(frames, size=(256, 256), mode="area")[None]  # (1, 3, 3, H, W)
    identity = rearrange(coordinate_grid(32), "h w xy -> xy h w")
    settings = {"D = 0": (0.0, 2.0), "D = 16, 2 px": (16.0, 2.0), "D = 16, 3 px": (16.0, 3.0)}
    print(f"{'sources':>8}" + "".join(f"{name + ' ms':>16}" for name in settings))
    for count in (1, 2, 3):
        torch.manual_seed(count)
        masses = torch.softmax(torch.randn(1, count, 32, 32), dim=1) * 0.95
        flows = identity[None, None].repeat(1, count, 1, 1, 1) + 0.01 * torch.randn(1, count, 2, 32, 32)
        correspondence = Correspondence(flows=flows, masses=masses)
        sources = images[:, :count]
        times: dict[str, list[float]] = {name: [] for name in settings}
        with torch.inference_mode():
            for _ in range(args.rounds):
                for name, (power, sigma) in settings.items():
                    start = time.perf_counter()
                    warp_sources(
                        sources,
                        correspondence,
                        interpolation="bicubic",
                        detail_power=power,
                        detail_sigma=sigma,
                    )
                    times[name].append((time.perf_counter() - start) * 1000)
        print(f"{count:>8}" + "".join(f"{statistics.median(values):>16.2f}" for values in times.values()))


if __name__ == "__main__":
    main()
