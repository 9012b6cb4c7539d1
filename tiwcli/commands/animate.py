"""`tiw animate SOURCE... DRIVING -o OUT.mp4`: thin CLI over `tiwcli.pipeline.Animator`.

Checks every input before any work (one-line errors, no output file), then
streams the driving video through the model into `VideoWriter`, which writes to a
hidden temporary file and renames it only on success: Ctrl-C or an error never
leaves a partial output. Heavy modules are imported inside the function so that
`tiw --help` stays fast.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from tiwcli.errors import InputError, MissingWeightsError

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console
    from rich.progress import Progress

    from tiwcli.faces import FaceAnalyzer
    from tiwcli.models import ImplicitWarping
    from tiwcli.pipeline import AnimatedBatch, AnimateOptions, AnimationSummary, Animator, Sources
    from tiwcli.video import VideoInfo

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".m4v"}
MAX_SOURCE_SIDE = 2048  # bigger photos are downscaled first: paste-back output stays a sane video size


class MotionMode(str, Enum):
    relative = "relative"
    absolute = "absolute"


class DeviceChoice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class PrecisionChoice(str, Enum):
    auto = "auto"
    bf16 = "bf16"
    fp16 = "fp16"
    fp32 = "fp32"


class LandmarkBackend(str, Enum):
    auto = "auto"
    dlib = "dlib"
    fan = "fan"


def animate(
    sources: Annotated[
        list[Path],
        typer.Argument(
            metavar="SOURCE",
            help="Source portrait photo(s), or ONE source video to take --num-sources frames from.",
            show_default=False,
        ),
    ],
    driving: Annotated[
        Path, typer.Argument(metavar="DRIVING", help="Driving video: its motion, fps and audio are used.")
    ],
    *,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Output video (.mp4, H.264).", dir_okay=False)
    ],
    weights: Annotated[
        Optional[Path],  # noqa: UP045 (typer needs Optional here on Python 3.10)
        typer.Option(help="Model checkpoint (.safetensors); default: the shipped weights, or $TIW_WEIGHTS."),
    ] = None,
    num_sources: Annotated[
        int, typer.Option(min=1, help="With a source video: how many of its frames to use as sources.")
    ] = 3,
    mode: Annotated[
        MotionMode,
        typer.Option(
            help="relative: copy the driving motion onto the source's face; absolute: use the "
            "driving keypoints as they are."
        ),
    ] = MotionMode.relative,
    find_best_frame: Annotated[
        bool,
        typer.Option(
            "--find-best-frame",
            help="Relative mode: measure motion from the driving frame most like the source "
            "(an extra pass), not from the first frame.",
        ),
    ] = False,
    device: Annotated[DeviceChoice, typer.Option(help="Where the model runs.")] = DeviceChoice.auto,
    precision: Annotated[
        PrecisionChoice, typer.Option(help="CUDA autocast dtype (auto = bf16); the CPU always uses fp32.")
    ] = PrecisionChoice.auto,
    batch_size: Annotated[int, typer.Option(min=1, help="Driving frames per model call.")] = 8,
    preview: Annotated[
        bool,
        typer.Option(
            "--preview", help="Also write OUT.preview.mp4: sources | driving | result, keypoints drawn."
        ),
    ] = False,
    crop: Annotated[
        bool,
        typer.Option(
            help="Find and crop the face in sources and driving frames. --no-crop: inputs are "
            "already square face crops (resized to the model size)."
        ),
    ] = True,
    paste_back: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option(
            "--paste-back/--no-paste-back",
            help="Paste the animated face back into the full source photo (default: on for one "
            "source photo larger than the crop).",
            show_default=False,
        ),
    ] = None,
    landmarks: Annotated[
        LandmarkBackend, typer.Option(help="Face detector and landmarks (auto: fan if installed, else dlib).")
    ] = LandmarkBackend.auto,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUT (and its preview) if they exist.")
    ] = False,
    crf: Annotated[int, typer.Option(min=0, max=51, help="H.264 quality: lower is better and bigger.")] = 18,
) -> None:
    """Animate source portrait(s) with the motion of a driving video."""
    from rich.console import Console
    from rich.markup import escape

    from tiwcli.pipeline import AnimateOptions, Animator, resolve_device
    from tiwcli.video import check_output_path, probe_video

    stderr = Console(stderr=True, highlight=False)
    options = AnimateOptions(
        mode=mode.value,
        find_best_frame=find_best_frame,
        batch_size=batch_size,
        device=device.value,
        precision=precision.value,
        crop=crop,
        paste_back=paste_back,
        landmarks=landmarks.value,
        num_sources=num_sources,
    )
    preview_path = preview_path_for(output) if preview else None
    for path in (output, preview_path):
        if path is not None:
            _check_video_suffix(path)
            check_output_path(path, overwrite)
    weights_path = _weights_path(weights)
    driving_info = _probe_driving(driving, probe_video)
    source_video = _source_video(sources, probe_video)
    source_images = [] if source_video is not None else [_load_source(path) for path in sources]

    resolve_device(options.device)  # a missing GPU is reported before any work
    model, analyzer = _load_model_and_faces(weights_path, options)
    with _progress(stderr) as progress:
        totals = {"driving": driving_info.num_frames or None}
        if source_video is not None:
            totals["source"] = source_video.num_frames or None
        animator = Animator(model, options, analyzer=analyzer, progress=_progress_callback(progress, totals))
        if source_video is not None:
            prepared = animator.sources_from_video(
                _frame_source(source_video.path), name=str(source_video.path)
            )
        else:
            prepared = animator.sources_from_images(source_images, names=[str(path) for path in sources])
        _write_videos(animator, prepared, driving_info, output, preview_path, overwrite, crf)
    _print_summary(animator.summary, output, preview_path, driving_info, source_video is not None)
    if analyzer is not None and analyzer.note:  # after success: errors stay one line
        stderr.print(f"[dim]{escape(analyzer.note)}[/]")


def preview_path_for(output: Path) -> Path:
    """OUT.mp4 -> OUT.preview.mp4"""
    return output.with_name(f"{output.stem}.preview{output.suffix}")


def _check_video_suffix(path: Path) -> None:
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"{path}: output must be a video file ({', '.join(sorted(VIDEO_SUFFIXES))})")


def _weights_path(weights: Path | None) -> Path:
    from tiwcli.checkpoint import WEIGHTS_ENV, default_weights_path

    path = weights if weights is not None else default_weights_path()
    if path.is_file():
        return path
    if weights is not None:
        raise MissingWeightsError(f"{path}: no such weights file")
    if os.environ.get(WEIGHTS_ENV):
        raise MissingWeightsError(
            f"${WEIGHTS_ENV} names {path}, which does not exist: fix it or pass --weights"
        )
    raise MissingWeightsError(
        f"no model weights at {path} (the shipped default): pass --weights FILE or set ${WEIGHTS_ENV}"
    )


def _probe_driving(path: Path, probe: Callable[[Path], VideoInfo]) -> VideoInfo:
    from tiwcli.images import is_image_path

    if is_image_path(path) and path.exists():
        raise InputError(f"{path}: the driving input must be a video, not an image")
    return probe(path)


def _source_video(sources: list[Path], probe: Callable[[Path], VideoInfo]) -> VideoInfo | None:
    """The source video's info when the sources are one video; None when they are images."""
    from tiwcli.images import is_image_path

    videos = [path for path in sources if not is_image_path(path)]
    if not videos:
        return None
    if len(sources) > 1:
        raise InputError(f"{videos[0]}: give either source images or ONE source video, not a mix")
    return probe(videos[0])


def _load_source(path: Path) -> np.ndarray:
    """A source photo as RGB uint8, downscaled to at most MAX_SOURCE_SIDE on its longer side."""
    from tiwcli.images import load_image, resize_image

    image = load_image(path)
    height, width = image.shape[:2]
    scale = MAX_SOURCE_SIDE / max(height, width)
    if scale < 1:
        image = resize_image(image, (round(height * scale), round(width * scale)))
    return image


def _load_model_and_faces(
    weights_path: Path, options: AnimateOptions
) -> tuple[ImplicitWarping, FaceAnalyzer | None]:
    from tiwcli.checkpoint import load_model
    from tiwcli.faces import load_face_analyzer

    model = load_model(weights_path)
    analyzer = None
    if options.crop:
        analyzer = load_face_analyzer(options.landmarks)
    return model, analyzer


def _frame_source(path: Path) -> Callable[[], Iterator[np.ndarray]]:
    """A re-openable pass over a video's frames (the pipeline reads the driving video more than once)."""
    from tiwcli.video import VideoReader

    def frames() -> Iterator[np.ndarray]:
        with VideoReader(path) as reader:
            yield from reader.frames()

    return frames


def _progress(stderr: Console) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        _FramesPerSecondColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    )


def _progress_callback(progress: Progress, totals: dict[str, int | None]) -> Callable[[str, int], None]:
    from tiwcli import pipeline

    stage_totals = {
        pipeline.STAGE_TRACKING: totals.get("driving"),
        pipeline.STAGE_REFERENCE: totals.get("driving"),
        pipeline.STAGE_ANIMATING: totals.get("driving"),
        pipeline.STAGE_TRACKING_SOURCE: totals.get("source"),
        pipeline.STAGE_SOURCES: totals.get("source"),
    }
    tasks: dict[str, object] = {}

    def advance(stage: str, frames: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=stage_totals.get(stage))
        progress.advance(tasks[stage], frames)  # type: ignore[arg-type]

    return advance


def _FramesPerSecondColumn() -> object:  # noqa: N802 (a factory that keeps rich out of import time)
    from rich.progress import ProgressColumn
    from rich.text import Text

    class FramesPerSecond(ProgressColumn):
        def render(self, task) -> Text:  # type: ignore[no-untyped-def]
            speed = task.finished_speed or task.speed
            return Text(f"{speed:5.1f} frames/s" if speed else "  ... frames/s", style="cyan")

    return FramesPerSecond()


def _write_videos(
    animator: Animator,
    sources: Sources,
    driving: VideoInfo,
    output: Path,
    preview_path: Path | None,
    overwrite: bool,
    crf: int,
) -> None:
    """Animate into OUT (and OUT.preview): both appear only when everything succeeded."""
    from tiwcli.video import VideoWriter

    audio = driving.path if driving.has_audio else None
    preview_done = False
    try:
        with VideoWriter(output, driving.fps, audio_from=audio, crf=crf, overwrite=overwrite) as writer:
            with contextlib.ExitStack() as stack:
                preview_writer = None
                if preview_path is not None:
                    preview_writer = stack.enter_context(
                        VideoWriter(preview_path, driving.fps, audio_from=audio, crf=crf, overwrite=overwrite)
                    )
                    strip = _source_strip(animator, sources)
                for batch in animator.animate(sources, _frame_source(driving.path), name=str(driving.path)):
                    writer.write_batch(batch.frames)
                    if preview_writer is not None:
                        for frame in _preview_frames(strip, batch):
                            preview_writer.write(frame)
            preview_done = preview_path is not None
    except BaseException:
        if preview_done and preview_path is not None:
            preview_path.unlink(missing_ok=True)  # the main output failed while closing
        raise


def _preview_frames(strip: np.ndarray, batch: AnimatedBatch) -> Iterator[np.ndarray]:
    from tiwcli.preview import preview_frame

    for index in range(len(batch.frames)):
        yield preview_frame(
            strip,
            batch.driving[index],
            batch.driving_keypoints.positions[index],
            batch.driving_keypoints.strengths[index],
            batch.results[index],
            batch.motion_keypoints.positions[index],
            batch.motion_keypoints.strengths[index],
        )


def _source_strip(animator: Animator, sources: Sources) -> np.ndarray:
    from tiwcli.preview import source_strip

    keypoints = animator.source_keypoints(sources)
    return source_strip(sources.crops, keypoints.positions, keypoints.strengths)


def _print_summary(
    summary: AnimationSummary,
    output: Path,
    preview_path: Path | None,
    driving: VideoInfo,
    from_video: bool,
) -> None:
    width, height = summary.output_size
    seconds = summary.frames / float(driving.fps)
    parts = [
        f"wrote {output}: {summary.frames} frames, {width // 2 * 2}x{height // 2 * 2}, "
        f"{seconds:.1f} s at {_format_fps(driving.fps)} fps",
        f"{summary.frames_per_second:.1f} frames/s ({summary.seconds:.1f} s)",
    ]
    if from_video:
        parts.append(f"source frames {', '.join(str(i) for i in summary.sources_used)}")
    else:
        parts.append(f"{len(summary.sources_used)} source image{'s' * (len(summary.sources_used) > 1)}")
    if summary.reference_frame:
        parts.append(f"motion measured from driving frame {summary.reference_frame}")
    if summary.frames_without_face:
        parts.append(f"{summary.frames_without_face} frames without a face (kept the last crop)")
    if not driving.has_audio:
        parts.append("no audio in the driving video")
    if preview_path is not None:
        parts.append(f"preview {preview_path}")
    typer.echo("; ".join(parts))


def _format_fps(fps: object) -> str:
    """24000/1001 -> 23.976, 25 -> 25"""
    return f"{float(fps):.3f}".rstrip("0").rstrip(".")  # type: ignore[arg-type]
