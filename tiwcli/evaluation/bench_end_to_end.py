"""`tiw bench`, end to end: `tiw animate`'s render API on real clips, one child process per run.

Each run is its own process (`bench_child.py`, started as `python -m tiwcli.evaluation.bench_child`)
so that its peak resident memory is its own; the child calls the same functions `tiw animate`
does (`tiwcli.inference.jobs`) and writes a JSON summary: frames, frames/s as `tiw animate`
reports it (start-up and model loading excluded), the time split per stage, torch's thread
count and its peak resident memory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tiwcli.errors import InputError
from tiwcli.evaluation.bench import ModelTiming, load_average


@dataclass(frozen=True)
class EndToEndTiming:
    preset: str
    device: str
    num_sources: int
    faces: bool  # face tracking, crop and paste-back into a 640x360 photo (else --no-crop at 256)
    frames: int
    threads: int
    batch_size: int
    ms_per_frame: float
    frames_per_second: float
    peak_rss_mb: float
    split_ms: dict[str, float] = field(default_factory=dict)  # stage -> ms/frame (stages overlap)
    load_before: float = float("nan")
    load_after: float = float("nan")
    # the model alone at the same preset, sources, threads and batch (batched ms/frame), if timed:
    # ms_per_frame / model_alone_ms is the end-to-end overhead (issue 11's goal: at most 1.25)
    model_alone_ms: float | None = None
    engine: str = "torch"  # what ran the model: torch, or onnx (`tiw animate --engine onnx`)


def with_model_alone(rows: list[EndToEndTiming], model_rows: list[ModelTiming]) -> list[EndToEndTiming]:
    """Each end-to-end row with the matching model-alone figure (plain model: no compile,
    no channels-last), when one was timed."""

    def like_for_like(row: EndToEndTiming | ModelTiming) -> tuple:
        return row.preset, row.num_sources, row.threads, row.batch_size, row.engine

    plain = {
        like_for_like(row): row.batched_ms_per_frame
        for row in model_rows
        if not row.compiled and not row.channels_last
    }
    return [dataclasses.replace(row, model_alone_ms=plain.get(like_for_like(row))) for row in rows]


@dataclass(frozen=True)
class RealClips:
    """The end-to-end inputs, cut from the Pexels clip (640x360)."""

    short: Path  # 256x256 centre crop, `frames` frames
    long: Path  # the same, looped `long_factor` times (memory must not grow with length)
    sources: list[Path]  # 8 source frames of the crop, evenly spread
    faces: Path  # the first `frames` frames at full size, for the face path
    photo: Path  # a full-size source photo for the face path


def make_real_clips(folder: Path, frames: int, long_factor: int) -> RealClips:
    """From the Pexels clip (640x360): a 256x256 centre crop, its longer loop, 8 source frames;
    and for the face path, the first `frames` frames at full size plus a source photo."""
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
    return RealClips(short=short, long=long, sources=sources, faces=faces, photo=photo)


def time_end_to_end_runs(
    weights: Path,
    preset: str,
    clips: RealClips,
    device: str,
    batch_size: int,
    source_counts: tuple[int, ...],
    thread_counts: tuple[int | None, ...],
    faces: bool,
    announce: Callable[[str], None] = lambda message: None,
    engine: str = "torch",
) -> list[EndToEndTiming]:
    """`tiw animate` runs: 1 and the most sources on the 256 crop (short, long) at each thread
    count, and (with `faces`) one source photo with the face path on the 640x360 clip."""
    runs = [
        (clips.sources[:count], driving, False)
        for count in sorted({1, max(source_counts)})
        for driving in (clips.short, clips.long)
    ]
    if faces:
        runs.append(([clips.photo], clips.faces, True))
    rows = []
    for threads in thread_counts:
        for source_paths, driving, with_faces in runs:
            announce(f"end to end: {preset}, {engine}, {len(source_paths)} source(s), {driving.name}")
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
                    engine=engine,
                )
            )
    return rows


def time_end_to_end(
    weights: Path,
    sources: list[Path],
    driving: Path,
    device: str,
    batch_size: int,
    preset: str,
    faces: bool = False,
    threads: int | None = None,
    engine: str = "torch",
) -> EndToEndTiming:
    """One `tiw animate` run on real files in a child process: frames/s, split, peak RSS.

    `faces`: the default face path (tracking, crop, paste-back into the source photo);
    otherwise no crop (inputs already square crops). `engine` "onnx": exported once into the run's
    own temporary cache ($TIW_CACHE), before the clock starts."""
    load_before = load_average()[0]
    with tempfile.TemporaryDirectory() as folder:
        summary_path = Path(folder) / "summary.json"
        request = {
            "weights": str(weights),
            "sources": [str(path) for path in sources],
            "driving": str(driving),
            "output": str(Path(folder) / "out.mp4"),
            "device": device,
            "batch_size": batch_size,
            "crop": faces,
            "threads": threads,
            "engine": engine,
            "summary": str(summary_path),
        }
        command = [sys.executable, "-m", "tiwcli.evaluation.bench_child", json.dumps(request)]
        environment = {**os.environ, "TIW_CACHE": str(Path(folder) / "cache")}
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, ValueError):
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise InputError(f"end-to-end run failed: {last}") from None
    if "error" in summary:
        raise InputError(f"end-to-end run failed: {summary['error']}")
    return EndToEndTiming(
        preset=preset,
        device=device,
        num_sources=len(sources),
        faces=faces,
        frames=summary["frames"],
        threads=summary["threads"],
        batch_size=batch_size,
        ms_per_frame=1000 / summary["frames_per_second"],
        frames_per_second=summary["frames_per_second"],
        peak_rss_mb=summary["peak_rss_kib"] / 1024,
        split_ms=summary["split_ms"],
        load_before=load_before,
        load_after=load_average()[0],
        engine=engine,
    )
