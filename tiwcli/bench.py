"""Speed measurements behind `tiw bench`: the model alone, end to end, FLOPs and memory.

- model alone: source encodings computed once, then driving batches through the
  keypoint detector + query encoder + warper + generator (what every frame costs);
- end to end: decode + model + encode of a real clip through the `Animator`,
  in a child process per run so the peak resident memory of one run is its own;
- FLOPs per frame from `torch.utils.flop_counter`, and the time they would take
  at a peak rate (H100: about 790 TFLOP/s dense bf16), to say how far from the floor we are.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from tiwcli.errors import InputError
from tiwcli.models import ImplicitWarping

H100_BF16_FLOPS = 790e12  # dense bf16 peak the floor is measured against


@dataclass(frozen=True)
class ModelTiming:
    preset: str
    device: str
    dtype: str
    num_sources: int
    batch_size: int
    ms_per_frame: float
    frames_per_second: float
    encode_ms: float  # one-off cost of encoding the sources
    gflops_per_frame: float
    h100_floor_us: float  # gflops_per_frame at H100 bf16 peak, in microseconds
    peak_memory_mb: float | None  # CUDA peak allocated; None on CPU (see end-to-end RSS)


@dataclass(frozen=True)
class EndToEndTiming:
    preset: str
    device: str
    num_sources: int
    frames: int
    ms_per_frame: float
    frames_per_second: float
    peak_rss_mb: float


def count_flops(model: ImplicitWarping, num_sources: int) -> float:
    """FLOPs of one driving frame (sources already encoded)."""
    size = model.config.image_size
    device = next(model.parameters()).device
    with torch.inference_mode():
        encoding = model.encode_sources(torch.rand(1, num_sources, 3, size, size, device=device))
        driving = torch.rand(1, 3, size, size, device=device)
        with FlopCounterMode(display=False) as counter:
            model.animate(encoding, model.keypoint_detector(driving))
    return float(counter.get_total_flops())


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_model(
    model: ImplicitWarping,
    preset: str,
    num_sources: int,
    batch_size: int = 8,
    frames: int = 32,
    dtype: torch.dtype | None = None,
) -> ModelTiming:
    """Per-frame time of the model alone, after one warm-up batch."""
    device = next(model.parameters()).device
    size = model.config.image_size
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
    sources = torch.rand(1, num_sources, 3, size, size, device=device)
    driving = torch.rand(batch_size, 3, size, size, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode(), autocast:
        model.encode_sources(sources)  # warm-up: first calls pay for kernel selection and allocation
        _synchronize(device)
        start = time.perf_counter()
        encoding = model.encode_sources(sources)
        _synchronize(device)
        encode_ms = (time.perf_counter() - start) * 1000
        model.animate(encoding, model.keypoint_detector(driving))  # warm-up
        _synchronize(device)
        batches = max(1, frames // batch_size)
        start = time.perf_counter()
        for _ in range(batches):
            model.animate(encoding, model.keypoint_detector(driving))
        _synchronize(device)
        seconds = (time.perf_counter() - start) / (batches * batch_size)
    gflops = count_flops(model, num_sources) / 1e9
    return ModelTiming(
        preset=preset,
        device=device.type,
        dtype=str(dtype).removeprefix("torch.") if dtype is not None else "float32",
        num_sources=num_sources,
        batch_size=batch_size,
        ms_per_frame=seconds * 1000,
        frames_per_second=1 / seconds,
        encode_ms=encode_ms,
        gflops_per_frame=gflops,
        h100_floor_us=gflops * 1e9 / H100_BF16_FLOPS * 1e6,
        peak_memory_mb=torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
    )


# Runs `tiw animate` and, at exit, reports the child's own peak resident memory. VmHWM is the
# high-water mark of the child's address space; ru_maxrss would not do: at exec, Linux carries
# the parent's (the bench's own, large) high-water mark into the child's ru_maxrss.
_CHILD = """
import atexit, resource, sys

def report():
    try:
        with open("/proc/self/status") as status:
            kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"TIW_PEAK_RSS_KIB {kib}", file=sys.stderr)

atexit.register(report)
sys.argv = ["tiw", *sys.argv[1:]]
from tiwcli.cli import main
main()
"""


def time_end_to_end(
    weights: Path,
    sources: list[Path],
    driving: Path,
    device: str,
    batch_size: int,
    preset: str,
) -> EndToEndTiming:
    """Run `tiw animate --no-crop` on real files in a child process: its frames/s and peak RSS.

    The frame rate is the one `tiw animate` reports for decode + model + encode (start-up and
    model loading excluded); the peak resident memory is the child's own.
    """
    import re
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "out.mp4"
        command = [
            sys.executable, "-c", _CHILD, "animate", *map(str, sources), str(driving), "-o", str(output),
            "--weights", str(weights), "--no-crop", "--device", device, "--batch-size", str(batch_size),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = ([line for line in result.stderr.splitlines() if "TIW_PEAK" not in line] or ["no output"])[-1]
        raise InputError(f"end-to-end run failed: {last}")
    summary = re.search(r": (\d+) frames,.*?; ([\d.]+) frames/s", result.stdout)
    peak = re.search(r"TIW_PEAK_RSS_KIB (\d+)", result.stderr)
    if summary is None or peak is None:
        raise InputError(f"end-to-end run printed no summary: {result.stdout.strip()[:200]}")
    frames, fps = int(summary.group(1)), float(summary.group(2))
    return EndToEndTiming(
        preset=preset,
        device=device,
        num_sources=len(sources),
        frames=frames,
        ms_per_frame=1000 / fps,
        frames_per_second=fps,
        peak_rss_mb=int(peak.group(1)) / 1024,
    )


def as_dicts(rows: list[ModelTiming] | list[EndToEndTiming]) -> list[dict[str, object]]:
    return [asdict(row) for row in rows]
