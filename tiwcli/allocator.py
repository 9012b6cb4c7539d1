"""How freed memory goes back to the system: keep it, so the next frame's tensors reuse it.

With glibc's defaults, the many tensors of a frame (several MB each) are allocated by `mmap` and
given back with `munmap` when freed, and the top of the heap is trimmed as soon as it is free: every
frame the kernel hands out fresh zeroed pages again, one page fault per 4 KiB. On the 2-core CPU
machine that was 2,100-6,300 faults a model frame (batch 1, one thread), and 107 against 84 ms of CPU
a fast-preset frame, 130 against 113 with the default weights (`benchmarks/allocator/`).

`keep_freed_memory` tells glibc (`mallopt`) to serve allocations of up to 32 MiB from the heap, to
keep up to 1 GiB of free heap instead of trimming it, and to grow the heap 64 MiB at a time. The
peak resident memory stays what the work needs (the freed pages are reused, not added to); what
changes is that the process keeps its peak instead of shrinking back between frames.

It is applied once by the `tiw` entry point and `tiw bench`'s child processes; library users may
call it themselves. It does nothing where the C library is not glibc, when the user set glibc's
own `MALLOC_*_` variables or `GLIBC_TUNABLES` (theirs win), or when `TIW_KEEP_FREED_MEMORY=0`.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MIB = 1 << 20
SETTINGS: tuple[tuple[str, int, int], ...] = (
    ("mmap_threshold", M_MMAP_THRESHOLD, 32 * MIB),  # glibc's largest allowed value on 64-bit
    ("trim_threshold", M_TRIM_THRESHOLD, 1024 * MIB),
    ("top_pad", M_TOP_PAD, 64 * MIB),
)
OPT_OUT = "TIW_KEEP_FREED_MEMORY"
USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")


@dataclass(frozen=True)
class AllocatorSettings:
    """What `keep_freed_memory` did: `applied` names the settings glibc took; `reason` says why
    nothing was set when it is empty."""

    applied: tuple[str, ...]
    reason: str = ""


_done: AllocatorSettings | None = None


def keep_freed_memory() -> AllocatorSettings:
    """Apply the settings once per process (later calls return the first call's result)."""
    global _done
    if _done is None:
        _done = _apply(os.environ)
    return _done


def describe() -> str:
    """What this process's allocator does, for benchmark reports (applies nothing)."""
    if _done is None:
        return "glibc's defaults (keep_freed_memory not called)"
    if _done.applied:
        return "freed memory kept (" + ", ".join(_done.applied) + ")"
    return f"not set: {_done.reason}"


def _apply(environ) -> AllocatorSettings:
    if environ.get(OPT_OUT, "1").strip().lower() in {"0", "false", "no", "off"}:
        return AllocatorSettings((), f"{OPT_OUT}={environ[OPT_OUT]}")
    user = [name for name in USER_VARIABLES if name in environ]
    if user:
        return AllocatorSettings((), f"the user's {', '.join(user)}")
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return AllocatorSettings((), "not glibc")
    applied = tuple(name for name, parameter, value in SETTINGS if mallopt(parameter, value) == 1)
    return AllocatorSettings(applied, "" if applied else "glibc refused the settings")


def _glibc_mallopt():
    """glibc's `mallopt`, or None on another C library (musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (glibc only)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return None
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt
