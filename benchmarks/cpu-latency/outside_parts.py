"""Where one frame's time goes: the model's parts and the functions `ImplicitWarping.render` calls
outside them (spline, warp, priors, blend). Batch 1, one source, one thread, made-up landmarks, the
mean over 30 frames after 5 of warm-up; the process keeps freed memory as `tiw` does
(benchmarks/cpu-latency/README.md, 2026-12-08).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cpu-latency/outside_parts.py [WEIGHTS]
"""

from __future__ import annotations

import collections
import sys
import time
from collections.abc import Callable

import torch

import tiwcli.models.implicit_warping as implicit_warping
from tiwcli.allocator import keep_freed_memory
from tiwcli.checkpoint import load_model
from tiwcli.evaluation.bench import animate_frames, encode

FUNCTIONS = (
    "spline_flow_base",
    "motion_gate",
    "mouth_region",
    "warp_sources",
    "mouth_bias",
    "blend",
    "read_correspondence",
    "gated_mask",
    "nearest_source",
)
seconds: collections.defaultdict[str, float] = collections.defaultdict(float)


def timed(name: str, function: Callable) -> Callable:
    def call(*args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        result = function(*args, **kwargs)
        seconds[name] += time.perf_counter() - start
        return result

    return call


def main(argv: list[str]) -> int:
    keep_freed_memory()
    torch.set_num_threads(1)
    for name in FUNCTIONS:
        setattr(implicit_warping, name, timed(name, getattr(implicit_warping, name)))
    model = load_model(argv[0] if argv else "weights/tiw-fast-256.safetensors").eval()
    model.attention_bias = timed("attention_bias", model.attention_bias)  # type: ignore[method-assign]
    for name, child in model.named_children():
        child.forward = timed(f"part: {name}", child.forward)  # type: ignore[method-assign]
    frames = 30
    with torch.inference_mode():
        encoding = encode(model, torch.rand(1, 1, 3, 256, 256))
        driving = torch.rand(1, 3, 256, 256)
        for _ in range(5):
            animate_frames(model, encoding, driving)
        seconds.clear()
        start = time.perf_counter()
        for _ in range(frames):
            animate_frames(model, encoding, driving)
        total = (time.perf_counter() - start) / frames * 1000
    print(f"{'total':28s} {total:6.1f} ms a frame")
    for name, value in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"{name:28s} {value / frames * 1000:6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
