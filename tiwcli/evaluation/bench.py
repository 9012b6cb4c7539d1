"""Speed measurements behind `tiw bench`: the model alone, end to end, FLOPs and memory.

- model alone: source encodings computed once, then driving frames through the keypoint
  detector + query encoder + warper + generator (what every frame costs), timed two ways:
  **latency**, one frame per call (batch 1: what a live camera pays per frame), and
  **throughput**, `batch_size` frames per call (what `tiw animate` on a file reaches).
  Both are medians over repeated calls after a warm-up call;
- end to end: `tiw animate`'s render API on a real clip in a child process per run (so the
  peak resident memory of one run is its own), with its time split per stage
  (bench_end_to_end.py);
- FLOPs per frame from `torch.utils.flop_counter`, and the time they would take at a peak
  rate (H100: about 790 TFLOP/s dense bf16), to say how far from the floor we are;
- the machine: torch's thread count and the load average before and after each row, because
  on a shared CPU a busy neighbour slows small-op models like this one several times over.

Speed knobs (`SpeedKnobs`): the thread count, channels-last memory layout and `torch.compile`
(inductor; on CPU it generates C++, so the first call pays a compile of tens of seconds,
reported apart as `compile_seconds`).
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.flop_counter import FlopCounterMode

from tiwcli import allocator
from tiwcli.choices import Precision
from tiwcli.errors import TiwError
from tiwcli.models import ImplicitWarping
from tiwcli.runtime import autocast, precision_name

if TYPE_CHECKING:
    from tiwcli.inference.onnx_engine import OnnxEngine

H100_BF16_FLOPS = 790e12  # dense bf16 peak the floor is measured against


@dataclass(frozen=True)
class SpeedKnobs:
    threads: int | None = None  # torch intra-op threads; None: torch's default (one per core)
    channels_last: bool = False  # NHWC weights and inputs (oneDNN's preferred layout)
    compile: bool = False  # torch.compile (inductor) of the per-frame path
    engine: str = "torch"  # what runs the model: torch, or onnx (ONNX Runtime on an export of it)


@dataclass(frozen=True)
class MachineState:
    cpu_count: int
    threads: int  # torch.get_num_threads() when read
    load_average: tuple[float, float, float]  # os.getloadavg(): 1, 5, 15 minutes
    torch_version: str
    processor: str
    allocator: str = ""  # tiwcli.allocator.describe(): freed memory kept or glibc's defaults

    @property
    def busy(self) -> bool:
        """More runnable work in the last minute than half the cores: timings are contaminated."""
        return self.load_average[0] > 0.5 * self.cpu_count


def machine_state() -> MachineState:
    return MachineState(
        cpu_count=os.cpu_count() or 1,
        threads=torch.get_num_threads(),
        load_average=load_average(),
        torch_version=torch.__version__,
        processor=platform.processor() or platform.machine(),
        allocator=allocator.describe(),
    )


def load_average() -> tuple[float, float, float]:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # not on every platform
        return (float("nan"),) * 3  # type: ignore[return-value]
    return (round(one, 2), round(five, 2), round(fifteen, 2))


@dataclass(frozen=True)
class ModelTiming:
    preset: str
    device: str
    dtype: str
    num_sources: int
    threads: int
    channels_last: bool
    compiled: bool
    latency_ms: float  # batch 1: median time of one call with one driving frame
    batch_size: int
    batched_ms_per_frame: float  # median time of one call with batch_size frames, / batch_size
    batched_frames_per_second: float
    encode_ms: float  # one-off cost of encoding the sources
    compile_seconds: float | None  # first calls (batch 1 and batched) when compiled, else None
    gflops_per_frame: float
    h100_floor_us: float  # gflops_per_frame at H100 bf16 peak, in microseconds
    peak_memory_mb: float | None  # CUDA peak allocated; None on CPU (see end-to-end RSS)
    load_before: float  # 1-minute load average when the row started
    load_after: float
    engine: str = "torch"  # torch, or onnx (ONNX Runtime, the same weights exported)


def face_landmarks(count: int, device: torch.device, seed: int = 0) -> torch.Tensor | None:
    """(count, 68, 2) made-up face landmarks in [-0.5, 0.5] (a landmark-prior model's per-frame
    input: its spline costs the same for any layout), fixed by `seed`."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(count, 68, 2, generator=generator) - 0.5).to(device)


def encode(model: ImplicitWarping, sources: torch.Tensor):
    """`encode_sources`, with made-up landmarks for a model that reads them."""
    if not model.config.uses_landmarks:
        return model.encode_sources(sources)
    batch, num_sources = sources.shape[:2]
    landmarks = face_landmarks(batch * num_sources, sources.device).reshape(batch, num_sources, 68, 2)
    return model.encode_sources(sources, landmarks)


def animate_frames(model: ImplicitWarping, encoding, driving: torch.Tensor) -> torch.Tensor:
    """Keypoints + `animate` of driving images (b, 3, H, W), with made-up landmarks for a model
    that reads them (the same each call, as a tracker would hand over)."""
    keypoints = model.keypoint_detector(driving)
    if not model.config.uses_landmarks:
        return model.animate(encoding, keypoints)
    return model.animate(encoding, keypoints, face_landmarks(driving.shape[0], driving.device, seed=1))


def count_flops(model: ImplicitWarping, num_sources: int) -> float:
    """FLOPs of one driving frame (sources already encoded)."""
    size = model.config.image_size
    device = next(model.parameters()).device
    with torch.inference_mode():
        encoding = encode(model, torch.rand(1, num_sources, 3, size, size, device=device))
        driving = torch.rand(1, 3, size, size, device=device)
        with FlopCounterMode(display=False) as counter:
            animate_frames(model, encoding, driving)
    return float(counter.get_total_flops())


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run with `threads` intra-op threads (None: leave as is), restored afterwards."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def frame_step(model: ImplicitWarping, knobs: SpeedKnobs) -> Callable:
    """(encoding, driving images) -> animated images: the per-frame path, with the knobs applied.

    Channels-last converts the model's weights in place (a layout change, same values).
    """
    if knobs.channels_last:
        model.to(memory_format=torch.channels_last)

    def step(encoding, driving: torch.Tensor) -> torch.Tensor:
        if knobs.channels_last:
            driving = driving.contiguous(memory_format=torch.channels_last)
        return animate_frames(model, encoding, driving)

    if not knobs.compile:
        return step
    try:
        return torch.compile(step, dynamic=False)
    except Exception as error:  # torch raises many types here; one line for the user
        raise TiwError(f"torch.compile is not usable here: {error}".splitlines()[0]) from None


def median_seconds(call: Callable[[], object], repeats: int, device: torch.device | None = None) -> float:
    """The median wall time of `repeats` calls, in seconds (each waits for the device)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        if device is not None:
            _synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _first_call_seconds(call: Callable[[], object], device: torch.device, compiled: bool) -> float:
    """Run once (warm-up: kernel selection, allocation, compilation) and say how long it took."""
    start = time.perf_counter()
    if not compiled:
        call()
    else:
        try:
            call()
        except Exception as error:  # inductor failures (no compiler, ...) surface at the first call
            raise TiwError(f"torch.compile failed: {error}".splitlines()[0]) from None
    _synchronize(device)
    return time.perf_counter() - start


def time_model(
    model: ImplicitWarping,
    preset: str,
    num_sources: int,
    batch_size: int = 8,
    frames: int = 32,
    precision: Precision = "fp32",
    knobs: SpeedKnobs | None = None,
    engine: OnnxEngine | None = None,
) -> ModelTiming:
    """Latency (batch 1) and throughput (`batch_size` frames per call) of the model alone.

    `frames` bounds the work of each: about that many frames are timed at batch 1, and
    about as many in batches (at least one call each). `engine`: the ONNX engine of `model`'s
    export (`onnx_stand_in`), timed instead of `model` on the same inputs (knobs.engine "onnx");
    the FLOPs are counted on `model`, the same graph.
    """
    knobs = knobs or SpeedKnobs()
    if (engine is not None) != (knobs.engine == "onnx"):
        raise ValueError("an ONNX engine is timed with knobs.engine 'onnx', and only then")
    device = next(model.parameters()).device
    size = model.config.image_size
    sources = torch.rand(1, num_sources, 3, size, size, device=device)
    single = torch.rand(1, 3, size, size, device=device)
    batch = torch.rand(batch_size, 3, size, size, device=device)
    load_before = load_average()[0]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    runner = model if engine is None else engine
    with torch_threads(knobs.threads), torch.inference_mode(), autocast(device, precision):
        step = frame_step(runner, knobs)
        encode(runner, sources)  # warm-up
        encode_seconds = median_seconds(lambda: encode(runner, sources), 1, device)
        encoding = encode(runner, sources)
        compile_seconds = _first_call_seconds(lambda: step(encoding, single), device, knobs.compile)
        latency = median_seconds(lambda: step(encoding, single), max(1, frames), device)
        compile_seconds += _first_call_seconds(lambda: step(encoding, batch), device, knobs.compile)
        batched = median_seconds(lambda: step(encoding, batch), max(1, frames // batch_size), device)
        threads = torch.get_num_threads()
    if knobs.channels_last:
        model.to(memory_format=torch.contiguous_format)
    gflops = count_flops(model, num_sources) / 1e9
    return ModelTiming(
        preset=preset,
        device=device.type,
        dtype=precision_name(device, precision),
        num_sources=num_sources,
        threads=threads,
        channels_last=knobs.channels_last,
        compiled=knobs.compile,
        latency_ms=latency * 1000,
        batch_size=batch_size,
        batched_ms_per_frame=batched / batch_size * 1000,
        batched_frames_per_second=batch_size / batched,
        encode_ms=encode_seconds * 1000,
        compile_seconds=compile_seconds if knobs.compile else None,
        gflops_per_frame=gflops,
        h100_floor_us=gflops * 1e9 / H100_BF16_FLOPS * 1e6,
        peak_memory_mb=torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
        load_before=load_before,
        load_after=load_average()[0],
        engine=knobs.engine,
    )


def onnx_stand_in(model: ImplicitWarping, folder: Path, threads: int | None) -> OnnxEngine:
    """ONNX Runtime on `model` exported into `folder` (once per model: the file is kept there
    under the model's id), with `threads` intra-op threads (None: ONNX Runtime's default)."""
    from tiwcli.inference.onnx_engine import OnnxEngine, SessionConfig
    from tiwcli.inference.onnx_export import export_onnx, require_onnx

    require_onnx()
    path = folder / f"bench-{id(model)}.onnx"
    if not path.is_file():
        export_onnx(model, path, None, overwrite=True)
    return OnnxEngine(path, SessionConfig(threads=threads or 0))


@dataclass(frozen=True)
class ModuleTiming:
    """Where one driving frame's time goes (batch 1): a top-level part of the model."""

    preset: str
    num_sources: int
    threads: int
    module: str  # attribute name on ImplicitWarping; "(outside the parts)": the glue between them
    ms_per_frame: float  # exclusive: time inside another top-level part is that part's
    share: float  # of the whole frame's time
    gflops_per_frame: float | None  # by the part's class (parts sharing a class share the figure)


def profile_modules(
    model: ImplicitWarping, preset: str, num_sources: int, frames: int = 16, threads: int | None = None
) -> list[ModuleTiming]:
    """Exclusive time per top-level part of the model for one driving frame (batch 1), the mean
    over `frames` calls after a warm-up; parts the per-frame path never calls are left out.
    The hooks synchronise the device around each part, so the parts add up to the whole."""
    device = next(model.parameters()).device
    size = model.config.image_size
    seconds: dict[str, float] = {}
    stack: list[list] = []  # [name, resumed at]

    def enter(name: str) -> Callable:
        def hook(module, args) -> None:  # type: ignore[no-untyped-def]
            _synchronize(device)
            now = time.perf_counter()
            if stack:
                seconds[stack[-1][0]] = seconds.get(stack[-1][0], 0.0) + now - stack[-1][1]
            stack.append([name, now])

        return hook

    def leave(module, args, output) -> None:  # type: ignore[no-untyped-def]
        _synchronize(device)
        now = time.perf_counter()
        name, resumed = stack.pop()
        seconds[name] = seconds.get(name, 0.0) + now - resumed
        if stack:
            stack[-1][1] = now

    with torch_threads(threads), torch.inference_mode():
        encoding = encode(model, torch.rand(1, num_sources, 3, size, size, device=device))
        driving = torch.rand(1, 3, size, size, device=device)
        animate_frames(model, encoding, driving)  # warm-up
        handles = []
        for name, child in model.named_children():
            handles.append(child.register_forward_pre_hook(enter(name)))
            handles.append(child.register_forward_hook(leave))
        try:
            start = time.perf_counter()
            for _ in range(frames):
                animate_frames(model, encoding, driving)
            _synchronize(device)
            total = (time.perf_counter() - start) / frames
        finally:
            for handle in handles:
                handle.remove()
        used_threads = torch.get_num_threads()
    flops = _flops_by_class(model, num_sources)
    children = dict(model.named_children())
    rows = [
        ModuleTiming(
            preset,
            num_sources,
            used_threads,
            name,
            value / frames * 1000,
            value / frames / total,
            flops.get(type(children[name]).__name__),
        )
        for name, value in seconds.items()
    ]
    outside = total - sum(seconds.values()) / frames
    glue = ModuleTiming(
        preset, num_sources, used_threads, "(outside the parts)", outside * 1000, outside / total, None
    )
    return [*rows, glue]


def _flops_by_class(model: ImplicitWarping, num_sources: int) -> dict[str, float]:
    """GFLOP per driving frame per module class, as torch's FLOP counter names them."""
    size = model.config.image_size
    device = next(model.parameters()).device
    with torch.inference_mode():
        encoding = encode(model, torch.rand(1, num_sources, 3, size, size, device=device))
        driving = torch.rand(1, 3, size, size, device=device)
        with FlopCounterMode(display=False) as counter:
            animate_frames(model, encoding, driving)
    return {name: sum(counts.values()) / 1e9 for name, counts in counter.get_flop_counts().items()}


def as_dicts(rows: Sequence[object]) -> list[dict[str, object]]:
    return [asdict(row) for row in rows]
