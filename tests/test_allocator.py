"""tiwcli.allocator: glibc keeps freed memory, so a frame's large tensors stop page-faulting."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys

import pytest

from tiwcli.allocator import OPT_OUT, _apply

# in a process of its own (the settings are process-wide): 20 rounds like a frame's, eight 4 MiB
# tensors alive at once and then all freed, and the minor page faults of those 20 rounds
FAULTS = """
import json, resource, sys
import torch
from tiwcli.allocator import keep_freed_memory
settings = None
if sys.argv[1] == "tuned":
    settings = keep_freed_memory()
else:  # glibc's starting values, held fixed (its own adjustments depend on the heap's history)
    import ctypes
    for parameter in (-1, -3):  # M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
        assert ctypes.CDLL(None).mallopt(parameter, 128 * 1024) == 1
def frame():
    return [torch.empty(1 << 20).fill_(1) for _ in range(8)]
for _ in range(2):  # the first rounds fault either way
    frame()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    frame()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"faults": faults, "applied": list(settings.applied) if settings else []}))
"""


def glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
    except (OSError, TypeError):
        return False


def faults(mode: str) -> dict:
    environ = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, env=environ, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.skipif(not glibc(), reason="mallopt is glibc's")
def test_freed_tensors_are_reused_without_page_faults():
    plain, tuned = faults("plain"), faults("tuned")
    assert tuned["applied"] == ["mmap_threshold", "trim_threshold", "top_pad"]
    # glibc's starting thresholds give the 32 MiB back and fault it in again (8,192 pages) every
    # round; its defaults adjust the thresholds as it goes and did so on some rounds (from 8,192 to
    # 162,000 faults in 20 rounds here, by what ran before)
    assert plain["faults"] >= 19 * 8192, plain
    assert tuned["faults"] < 8192, tuned  # fewer than one round's, over 20 rounds


def test_users_settings_and_the_opt_out_win():
    assert _apply({OPT_OUT: "0"}).applied == ()
    assert "TIW_KEEP_FREED_MEMORY=0" in _apply({OPT_OUT: "0"}).reason
    settings = _apply({"MALLOC_TRIM_THRESHOLD_": "100000"})
    assert settings.applied == () and "MALLOC_TRIM_THRESHOLD_" in settings.reason


def test_describe_says_what_the_process_does(monkeypatch):
    import tiwcli.allocator as allocator

    monkeypatch.setattr(allocator, "_done", None)
    assert allocator.describe().startswith("glibc's defaults")
    monkeypatch.setattr(allocator, "_done", allocator.AllocatorSettings(("mmap_threshold", "top_pad")))
    assert allocator.describe() == "freed memory kept (mmap_threshold, top_pad)"
    monkeypatch.setattr(allocator, "_done", allocator._apply({OPT_OUT: "off"}))
    assert allocator.describe() == "not set: TIW_KEEP_FREED_MEMORY=off"
