"""Where the model runs and in which precision: the only place either is decided.

`resolve_device` turns a device name (auto, cpu, cuda, cuda:N; under torchrun, a bare cuda is the
process's own GPU) into a `torch.device`; `autocast(device, precision)` is the autocast context of
every forward pass: `tiw animate`, `tiw live`, `tiw train`, `tiw eval` and `tiw bench` alike, so
the same device and precision give the same numbers everywhere.

Precision: auto is bf16 on CUDA and fp32 elsewhere; bf16 is honoured on the CPU too (fast only
where the CPU has bf16 instructions, e.g. AVX512-BF16 or AMX); fp16 is CUDA only (fp32 elsewhere).
"""

from __future__ import annotations

import contextlib

import torch

from tiwcli.choices import DEVICES, Precision, check_choice, check_device
from tiwcli.errors import InputError


def resolve_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """auto -> CUDA when available, else the CPU; asking for CUDA without one is a one-line error.

    `local_rank` (torchrun's LOCAL_RANK): a bare `cuda` (or `auto` with GPUs) means that process's
    GPU, `cuda:<local_rank % GPUs>`."""
    check_device(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise InputError(f"--device {name}: no CUDA GPU is available to torch here")
    count = torch.cuda.device_count()
    if device.index is None and local_rank is not None:
        device = torch.device("cuda", local_rank % max(count, 1))
    if device.index is not None and device.index >= count:
        raise InputError(f"--device {name}: torch sees {count} GPU(s); use {DEVICES}")
    return device


def autocast_dtype(device: torch.device, precision: Precision = "auto") -> torch.dtype | None:
    """The autocast dtype for a device and a precision choice; None: plain fp32."""
    check_choice(precision, Precision, "precision")
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "fp16":
        return torch.float16 if device.type == "cuda" else None
    return torch.bfloat16


def autocast(device: torch.device, precision: Precision = "auto") -> contextlib.AbstractContextManager:
    """The autocast context of a forward pass (a no-op for fp32)."""
    dtype = autocast_dtype(device, precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def precision_name(device: torch.device, precision: Precision = "auto") -> str:
    """What a precision choice means on a device, for reports: 'bfloat16', 'float32'..."""
    dtype = autocast_dtype(device, precision)
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")
