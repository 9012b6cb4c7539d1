"""Halve a tiw checkpoint for transfer (float32 -> bfloat16) and restore it (bfloat16 -> float32).

The lent GPU machine returns files of at most 16 MiB (scripts/gpu/run.sh). Restored weights are
the bf16-rounded weights in float32, which `tiw` loads like any checkpoint; they are what is scored.

    python scripts/gpu/bf16_weights.py to-bf16 IN.safetensors OUT.safetensors
    python scripts/gpu/bf16_weights.py to-fp32 IN.safetensors OUT.safetensors [IN OUT ...]
"""

import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file


def convert(source: str, target: str, dtype: torch.dtype) -> None:
    with safe_open(source, framework="pt", device="cpu") as reader:
        metadata = dict(reader.metadata() or {})
        tensors = {name: reader.get_tensor(name) for name in reader.keys()}
    tensors = {
        name: tensor.to(dtype) if tensor.is_floating_point() else tensor for name, tensor in tensors.items()
    }
    save_file({name: tensor.contiguous() for name, tensor in tensors.items()}, target, metadata=metadata)


if __name__ == "__main__":
    direction, *paths = sys.argv[1:]
    for source, target in zip(paths[::2], paths[1::2], strict=True):
        convert(source, target, {"to-bf16": torch.bfloat16, "to-fp32": torch.float32}[direction])
