"""`tiw bench`: milliseconds per frame, FLOPs and peak memory, model alone and end to end."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from tiwcli.commands.options import DeviceChoice, parse_int_list


def bench(
    *,
    presets: Annotated[str, typer.Option(help="Comma-separated model presets.")] = "small-256,base-256",
    sources: Annotated[str, typer.Option(help="Comma-separated numbers of source images.")] = "1,2,4,8",
    device: Annotated[DeviceChoice, typer.Option(help="Where the model runs.")] = DeviceChoice.auto,
    batch_size: Annotated[int, typer.Option(min=1, help="Driving frames per model call.")] = 8,
    frames: Annotated[int, typer.Option(min=1, help="Frames timed per model-only row.")] = 32,
    end_to_end: Annotated[
        bool, typer.Option(help="Also time decode + model + encode of a real clip, and its peak memory.")
    ] = True,
    clip_frames: Annotated[int, typer.Option(min=8, help="Length of the end-to-end clip.")] = 48,
    long_factor: Annotated[
        int, typer.Option(min=2, help="Memory check: a clip this many times longer.")
    ] = 10,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON.")] = None,
) -> None:
    """Time the model alone (1, 2, 4, 8 sources) and end to end, with FLOPs per frame and peak memory."""
    import torch
    from rich.table import Table

    from tiwcli.bench import as_dicts, time_end_to_end, time_model
    from tiwcli.checkpoint import save_model
    from tiwcli.config import model_preset
    from tiwcli.console import make_console
    from tiwcli.models import ImplicitWarping
    from tiwcli.pipeline import resolve_device

    console = make_console(stderr=True)
    torch_device = resolve_device(device.value)
    preset_names = [name.strip() for name in presets.split(",") if name.strip()]
    source_counts = parse_int_list(sources, "--sources")
    dtype = torch.bfloat16 if torch_device.type == "cuda" else None
    model_rows = []
    end_to_end_rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        clip = _make_real_clip(work, clip_frames, long_factor) if end_to_end else None
        for name in preset_names:
            config = model_preset(name)
            torch.manual_seed(0)
            model = ImplicitWarping(config).to(torch_device).eval()
            for count in source_counts:
                console.print(f"model alone: {name}, {count} source(s) on {torch_device.type}")
                model_rows.append(time_model(model, name, count, batch_size, frames, dtype))
            if clip is not None:
                weights = work / f"{name}.safetensors"
                save_model(weights, model)
                source_paths = clip["sources"]
                for count in sorted({1, max(source_counts)}):
                    for driving in (clip["short"], clip["long"]):
                        console.print(f"end to end: {name}, {count} source(s), {driving.name}")
                        end_to_end_rows.append(
                            time_end_to_end(
                                weights, source_paths[:count], driving, torch_device.type, batch_size, name
                            )
                        )
    _print_tables(make_console(), model_rows, end_to_end_rows, Table)
    if json_path is not None:
        report = {"model": as_dicts(model_rows), "end_to_end": as_dicts(end_to_end_rows)}
        json_path.write_text(json.dumps(report, indent=2))


def _make_real_clip(folder: Path, frames: int, long_factor: int) -> dict:
    """A 256x256 real face clip (centre crop of the Pexels clip), its longer loop, and 8 source frames."""
    import numpy as np

    from tiwcli.images import resize_image, save_image
    from tiwcli.samples import sample_file
    from tiwcli.video import VideoReader, VideoWriter

    path = sample_file("WolfgangLanger_Pexels.mp4")
    crops = []
    with VideoReader(path) as reader:
        fps = reader.info.fps
        for frame in reader.frames():
            height, width = frame.shape[:2]
            left = (width - height) // 2
            crops.append(resize_image(frame[:, left : left + height], (256, 256)))
            if len(crops) == frames:
                break
    clip = np.stack(crops)
    short, long = folder / "driving.mp4", folder / f"driving_x{long_factor}.mp4"
    with VideoWriter(short, fps) as writer:
        writer.write_batch(clip)
    with VideoWriter(long, fps) as writer:
        for _ in range(long_factor):
            writer.write_batch(clip)
    sources = []
    for index in np.linspace(0, len(clip) - 1, 8).round().astype(int):
        source = folder / f"source_{index:03d}.png"
        save_image(source, clip[index])
        sources.append(source)
    return {"short": short, "long": long, "sources": sources}


def _print_tables(console, model_rows, end_to_end_rows, table_class) -> None:
    table = table_class(title="Model alone (sources encoded once; per driving frame)")
    for column in (
        "preset",
        "device",
        "dtype",
        "sources",
        "ms/frame",
        "fps",
        "encode ms",
        "GFLOP/frame",
        "H100 floor µs",
        "CUDA peak MB",
    ):
        table.add_column(column, justify="right")
    for row in model_rows:
        table.add_row(
            row.preset,
            row.device,
            row.dtype,
            str(row.num_sources),
            f"{row.ms_per_frame:.1f}",
            f"{row.frames_per_second:.1f}",
            f"{row.encode_ms:.0f}",
            f"{row.gflops_per_frame:.2f}",
            f"{row.h100_floor_us:.1f}",
            "-" if row.peak_memory_mb is None else f"{row.peak_memory_mb:.0f}",
        )
    console.print(table)
    if not end_to_end_rows:
        return
    table = table_class(title="End to end: decode + model + encode (tiw animate --no-crop), own process")
    for column in ("preset", "device", "sources", "frames", "ms/frame", "fps", "peak RSS MB"):
        table.add_column(column, justify="right")
    for row in end_to_end_rows:
        table.add_row(
            row.preset,
            row.device,
            str(row.num_sources),
            str(row.frames),
            f"{row.ms_per_frame:.1f}",
            f"{row.frames_per_second:.1f}",
            f"{row.peak_rss_mb:.0f}",
        )
    console.print(table)
