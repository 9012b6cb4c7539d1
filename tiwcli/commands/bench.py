"""`tiw bench`: batch-1 latency and batched throughput of the model, end to end with the time
split, FLOPs and peak memory, with the thread count and machine load beside every figure."""

from __future__ import annotations

import json
import tempfile
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from tiwcli.commands.options import DeviceChoice, parse_int_list


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


class Knob(str, Enum):
    off = "off"
    on = "on"
    both = "both"  # a row with and a row without: the comparison

    def values(self) -> tuple[bool, ...]:
        return {"off": (False,), "on": (True,), "both": (False, True)}[self.value]


def bench(
    *,
    presets: Annotated[str, typer.Option(help="Comma-separated model presets.")] = "small-256,base-256",
    sources: Annotated[str, typer.Option(help="Comma-separated numbers of source images.")] = "1,2,4,8",
    device: Annotated[DeviceChoice, typer.Option(help="Where the model runs.")] = DeviceChoice.auto,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Driving frames per call for the throughput figure (latency: 1).")
    ] = 8,
    frames: Annotated[int, typer.Option(min=1, help="Frames timed per model-only figure.")] = 32,
    threads: Annotated[
        Optional[str],  # noqa: UP045 (typer needs Optional here on Python 3.10)
        typer.Option(help="Comma-separated torch thread counts to compare, e.g. 1,2 (default: torch's)."),
    ] = None,
    channels_last: Annotated[
        Knob, typer.Option(help="Channels-last memory layout: off, on, or both (compare).")
    ] = Knob.off,
    compile_model: Annotated[
        Knob,
        typer.Option("--compile", help="torch.compile (inductor) the per-frame path: off, on, or both."),
    ] = Knob.off,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile", help="Also the time and FLOPs of each part of the model for one frame (batch 1)."
        ),
    ] = False,
    end_to_end: Annotated[
        bool, typer.Option(help="Also time `tiw animate` on a real clip: split per stage, peak memory.")
    ] = True,
    faces: Annotated[
        bool,
        typer.Option(help="End to end: also the default face path (track, crop, paste-back) at 640x360."),
    ] = True,
    clip_frames: Annotated[int, typer.Option(min=8, help="Length of the end-to-end clip.")] = 48,
    long_factor: Annotated[
        int, typer.Option(min=2, help="Memory check: a clip this many times longer.")
    ] = 10,
    precision: Annotated[
        Precision,
        typer.Option(
            help="Model-alone autocast dtype: auto (bf16 on CUDA, fp32 on CPU), fp32, or bf16 (on a CPU, "
            "fast only where it has bf16 instructions, e.g. AVX512-BF16 or AMX)."
        ),
    ] = Precision.auto,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON.")] = None,
) -> None:
    """Time the model alone (latency at batch 1, throughput in batches) and end to end."""
    import torch

    from tiwcli.checkpoint import save_model
    from tiwcli.config import model_preset
    from tiwcli.console import make_console
    from tiwcli.evaluation.bench import (
        SpeedKnobs,
        as_dicts,
        machine_state,
        profile_modules,
        time_model,
        with_model_alone,
    )
    from tiwcli.inference.animator import resolve_device
    from tiwcli.models import ImplicitWarping

    console = make_console(stderr=True)
    torch_device = resolve_device(device.value)
    preset_names = [name.strip() for name in presets.split(",") if name.strip()]
    source_counts = parse_int_list(sources, "--sources")
    thread_counts: tuple[int | None, ...] = parse_int_list(threads, "--threads") if threads else (None,)
    knob_sets = [
        SpeedKnobs(threads=count, channels_last=layout, compile=compiled)
        for count in thread_counts
        for layout in channels_last.values()
        for compiled in compile_model.values()
    ]
    bf16 = precision == Precision.bf16 or (precision == Precision.auto and torch_device.type == "cuda")
    dtype = torch.bfloat16 if bf16 else None
    before = machine_state()
    _print_machine(console, "before", before)
    model_rows = []
    profile_rows = []
    end_to_end_rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        clip = _make_real_clips(work, clip_frames, long_factor) if end_to_end else None
        for name in preset_names:
            config = model_preset(name)
            torch.manual_seed(0)
            model = ImplicitWarping(config).to(torch_device).eval()
            for knobs in knob_sets:
                for count in source_counts:
                    console.print(f"model alone: {name}, {count} source(s), {_describe(knobs)}")
                    model_rows.append(time_model(model, name, count, batch_size, frames, dtype, knobs))
            for count in source_counts if profile else ():
                for threads_count in thread_counts:
                    console.print(f"profile: {name}, {count} source(s)")
                    profile_rows += profile_modules(model, name, count, frames, threads_count)
            if clip is None:
                continue
            weights = work / f"{name}.safetensors"
            save_model(weights, model)
            end_to_end_rows += _end_to_end(
                console,
                weights,
                name,
                clip,
                torch_device.type,
                batch_size,
                source_counts,
                thread_counts,
                faces,
            )
    end_to_end_rows = with_model_alone(end_to_end_rows, model_rows)
    after = machine_state()
    _print_machine(console, "after", after)
    _print_tables(make_console(), model_rows, end_to_end_rows)
    if profile_rows:
        _print_profile(make_console(), profile_rows)
    if before.busy or after.busy:
        console.print(
            "[yellow]the machine was busy (1-minute load average above half the cores): "
            "these figures are contaminated; measure again on a quiet machine[/]"
        )
    if json_path is not None:
        report = {
            "machine_before": as_dicts([before])[0],
            "machine_after": as_dicts([after])[0],
            "model": as_dicts(model_rows),
            "profile": as_dicts(profile_rows),
            "end_to_end": as_dicts(end_to_end_rows),
        }
        json_path.write_text(json.dumps(report, indent=2))


def _end_to_end(
    console, weights, preset, clip, device, batch_size, source_counts, thread_counts, faces
) -> list:  # type: ignore[no-untyped-def]
    """`tiw animate` runs: 1 and the most sources on the 256 crop (short, long) at each thread
    count, and one source photo with the face path on the 640x360 clip."""
    from tiwcli.evaluation.bench import time_end_to_end

    runs = [
        (clip["sources"][:count], driving, False)
        for count in sorted({1, max(source_counts)})
        for driving in (clip["short"], clip["long"])
    ]
    if faces:
        runs.append(([clip["photo"]], clip["faces"], True))
    rows = []
    for threads in thread_counts:
        for source_paths, driving, with_faces in runs:
            console.print(f"end to end: {preset}, {len(source_paths)} source(s), {driving.name}")
            rows.append(
                time_end_to_end(
                    weights,
                    source_paths,
                    driving,
                    device,
                    batch_size,
                    preset,
                    faces=with_faces,
                    threads=threads,
                )
            )
    return rows


def _describe(knobs) -> str:  # type: ignore[no-untyped-def]
    parts = [f"{knobs.threads} thread(s)" if knobs.threads else "default threads"]
    parts += ["channels-last"] * knobs.channels_last + ["compiled"] * knobs.compile
    return ", ".join(parts)


def _print_machine(console, when: str, state) -> None:  # type: ignore[no-untyped-def]
    load = " ".join(f"{value:.2f}" for value in state.load_average)
    console.print(
        f"machine {when}: {state.cpu_count} CPUs ({state.processor}), torch {state.torch_version}, "
        f"torch threads {state.threads}, load average {load} (1, 5, 15 min)"
    )


def _make_real_clips(folder: Path, frames: int, long_factor: int) -> dict:
    """From the Pexels clip (640x360): a 256x256 centre crop, its longer loop, 8 source frames;
    and for the face path, the first `frames` frames at full size plus a source photo."""
    import numpy as np

    from tiwcli.io.images import resize_image, save_image
    from tiwcli.io.video import VideoReader, VideoWriter
    from tiwcli.samples import sample_file

    path = sample_file("WolfgangLanger_Pexels.mp4")
    full, crops = [], []
    with VideoReader(path) as reader:
        fps = reader.info.fps
        for frame in reader.frames():
            height, width = frame.shape[:2]
            left = (width - height) // 2
            full.append(frame)
            crops.append(resize_image(frame[:, left : left + height], (256, 256)))
            if len(crops) == frames:
                break
    clip = np.stack(crops)
    short, long = folder / "driving.mp4", folder / f"driving_x{long_factor}.mp4"
    faces = folder / "driving_640x360.mp4"
    with VideoWriter(short, fps) as writer:
        writer.write_batch(clip)
    with VideoWriter(long, fps) as writer:
        for _ in range(long_factor):
            writer.write_batch(clip)
    with VideoWriter(faces, fps) as writer:
        writer.write_batch(np.stack(full))
    sources = []
    for index in np.linspace(0, len(clip) - 1, 8).round().astype(int):
        source = folder / f"source_{index:03d}.png"
        save_image(source, clip[index])
        sources.append(source)
    photo = folder / "source_photo_640x360.png"
    save_image(photo, full[-1])
    return {"short": short, "long": long, "sources": sources, "faces": faces, "photo": photo}


def _print_profile(console, rows) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(title="Profile: one driving frame (batch 1), exclusive time per part of the model")
    for column in ("preset", "src", "threads", "part", "ms/frame", "share", "GFLOP (by class)"):
        table.add_column(
            column, justify="right", overflow="fold", no_wrap=column in ("preset", "dtype", "load")
        )
    for row in rows:
        table.add_row(
            row.preset, str(row.num_sources), str(row.threads), row.module, f"{row.ms_per_frame:.2f}",
            f"{100 * row.share:.0f}%", "-" if row.gflops_per_frame is None else f"{row.gflops_per_frame:.2f}",
        )  # fmt: skip
    console.print(table)


def _print_tables(console, model_rows, end_to_end_rows) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(
        title="Model alone, sources encoded once. Latency: 1 frame per call (b=1); throughput: a batch "
        "per call, per frame. cl: channels-last. load: 1-minute load average before→after"
    )
    columns = (
        "preset", "device", "dtype", "src", "threads", "knobs", "b=1 ms", "b=1 fps", "batch",
        "batched ms", "batched fps", "encode ms", "compile s", "GFLOP", "H100 µs", "CUDA MB", "load",
    )  # fmt: skip
    for column in columns:
        table.add_column(
            column, justify="right", overflow="fold", no_wrap=column in ("preset", "dtype", "load")
        )
    for row in model_rows:
        knobs = "+".join(["cl"] * row.channels_last + ["compile"] * row.compiled) or "-"
        table.add_row(
            row.preset, row.device, row.dtype, str(row.num_sources), str(row.threads), knobs,
            f"{row.latency_ms:.1f}", f"{1000 / row.latency_ms:.1f}", str(row.batch_size),
            f"{row.batched_ms_per_frame:.1f}", f"{row.batched_frames_per_second:.1f}", f"{row.encode_ms:.0f}",
            "-" if row.compile_seconds is None else f"{row.compile_seconds:.0f}",
            f"{row.gflops_per_frame:.2f}", f"{row.h100_floor_us:.1f}",
            "-" if row.peak_memory_mb is None else f"{row.peak_memory_mb:.0f}",
            f"{row.load_before:.2f}→{row.load_after:.2f}",
        )  # fmt: skip
    console.print(table)
    if not end_to_end_rows:
        return
    table = Table(
        title="End to end: tiw animate, own process. x model: ms/frame over the model alone's (same "
        "preset, sources, threads, batch). Split: ms/frame per stage; stages overlap"
    )
    columns = (
        "preset", "device", "src", "input", "frames", "threads", "batch", "ms/frame", "fps",
        "x model", "split ms/frame", "RSS MB", "load",
    )  # fmt: skip
    for column in columns:
        table.add_column(
            column, justify="right", overflow="fold", no_wrap=column in ("preset", "dtype", "load")
        )
    for row in end_to_end_rows:
        split = ", ".join(f"{stage} {value:.1f}" for stage, value in row.split_ms.items())
        table.add_row(
            row.preset, row.device, str(row.num_sources),
            "640x360, faces" if row.faces else "256 crop", str(row.frames), str(row.threads),
            str(row.batch_size), f"{row.ms_per_frame:.1f}", f"{row.frames_per_second:.1f}",
            "-" if row.model_alone_ms is None else f"{row.ms_per_frame / row.model_alone_ms:.2f}", split,
            f"{row.peak_rss_mb:.0f}", f"{row.load_before:.2f}→{row.load_after:.2f}",
        )  # fmt: skip
    console.print(table)
