"""What a narrower keypoint detector, generator or attention would save a frame, before training one:
a weights file against untrained models of its config with `keypoint_channels` 8,
`generator_channels` 4, `key_dim` 32, `value_dim` 64 and/or `attention_reduction` 2 (the time of a
frame does not depend on the weights' values). Batch 1, one source, one thread, made-up landmarks
(`evaluation.bench.animate_frames`); three rounds of 15 frames after 3 of warm-up, the variants
alternated; ms a frame.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fast/narrower_cost.py [WEIGHTS]
"""

from __future__ import annotations

import dataclasses
import sys
import time

import torch

from tiwcli.allocator import keep_freed_memory
from tiwcli.checkpoint import load_model
from tiwcli.evaluation.bench import animate_frames, encode
from tiwcli.models import ImplicitWarping

VARIANTS = {
    "kp8": {"keypoint_channels": 8},
    "kp8-d3": {"keypoint_channels": 8, "keypoint_depth": 3},
    "gen4": {"generator_channels": 4},
    "kp8+gen4": {"keypoint_channels": 8, "generator_channels": 4},
    "keys32": {"key_dim": 32},
    "values64": {"value_dim": 64},
    "keys32+values64": {"key_dim": 32, "value_dim": 64},
    "reduction2": {"attention_reduction": 2},
}


def main(argv: list[str]) -> int:
    keep_freed_memory()
    torch.set_num_threads(1)
    base = load_model(argv[0] if argv else "weights/tiw-fast-256.safetensors").eval()
    models = {"as is": base} | {
        name: ImplicitWarping(dataclasses.replace(base.config, **fields)).eval()
        for name, fields in VARIANTS.items()
    }
    torch.manual_seed(0)
    sources, driving = torch.rand(1, 1, 3, 256, 256), torch.rand(1, 3, 256, 256)
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        encodings = {name: encode(model, sources) for name, model in models.items()}
        for _ in range(3):
            for name, model in models.items():
                for _ in range(3):
                    animate_frames(model, encodings[name], driving)
                start = time.perf_counter()
                for _ in range(15):
                    animate_frames(model, encodings[name], driving)
                times[name].append((time.perf_counter() - start) / 15 * 1000)
    for name, values in times.items():
        print(f"{name:12s}", " ".join(f"{value:.1f}" for value in values))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
