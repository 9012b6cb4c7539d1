"""`tiw animate SOURCE... DRIVING -o OUT.mp4`: thin CLI over `tiwcli.inference.animator.Animator`.

Checks every input before any work (one-line errors, no output file), then
streams the driving video through the model into `VideoWriter`, which writes to a
hidden temporary file and renames it only on success: Ctrl-C or an error never
leaves a partial output. Heavy modules are imported inside the function so that
`tiw --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tiwcli.choices import MAX_SOURCES_FROM_VIDEO, MOUTH_SCALE
from tiwcli.commands import options

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from tiwcli.console import LogProgress
    from tiwcli.inference.options import AnimateOptions, AnimationSummary
    from tiwcli.io.video import VideoInfo


def animate(
    sources: Annotated[
        list[Path],
        typer.Argument(
            metavar="SOURCE",
            help="Source portrait photo(s), or ONE source video to take --sources-from-video frames from.",
            show_default=False,
        ),
    ],
    driving: Annotated[
        Path, typer.Argument(metavar="DRIVING", help="Driving video: its motion, fps and audio are used.")
    ],
    *,
    output: Annotated[
        options.OptionalPath,
        typer.Option(
            "-o",
            "--output",
            help="Output video (.mp4, H.264). Default: SOURCE--DRIVING.mp4 in the current folder "
            "(SOURCE--DRIVING.1.mp4 and so on when that exists; never replaced without --overwrite).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    weights: options.Weights = None,
    sources_from_video: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_SOURCES_FROM_VIDEO,
            help=f"With a source video: how many of its frames to use as sources (1 to "
            f"{MAX_SOURCES_FROM_VIDEO}).",
        ),
    ] = 3,
    mode: Annotated[
        options.MotionModeChoice,  # type: ignore[valid-type]
        typer.Option(
            help="relative: copy the driving motion onto the source's face; absolute: use the "
            "driving keypoints as they are."
        ),
    ] = options.MotionModeChoice.relative,  # type: ignore[attr-defined]
    find_best_frame: Annotated[
        bool,
        typer.Option(
            "--find-best-frame",
            help="Relative mode: measure motion from the driving frame most like the source "
            "(an extra pass), not from the first frame.",
        ),
    ] = False,
    mouth_reference: Annotated[
        options.MouthReferenceChoice,  # type: ignore[valid-type]
        typer.Option(
            help="Relative mode, landmark weights: closed measures mouth openings from the "
            "driver's least open mouth within the frames so far and the next 25, so a clip that "
            "starts mid-word still opens the mouth; frame from the reference frame's mouth (FOMM)."
        ),
    ] = options.MouthReferenceChoice.closed,  # type: ignore[attr-defined]
    mouth_interior: options.MouthInteriorOption = options.MouthInteriorChoice.driver,  # type: ignore[attr-defined]
    source_mouth: options.SourceMouthOption = options.SourceMouthChoice.as_is,  # type: ignore[attr-defined]
    mouth_scale: options.MouthScale = MOUTH_SCALE,
    device: options.Device = "auto",
    precision: options.PrecisionOption = options.PrecisionChoice.auto,  # type: ignore[attr-defined]
    engine: options.EngineOption = options.EngineChoice.torch,  # type: ignore[attr-defined]
    batch_size: options.AutoBatchSize = None,
    preview: Annotated[
        bool,
        typer.Option(
            "--preview", help="Also write OUT.preview.mp4: sources | driving | result, keypoints drawn."
        ),
    ] = False,
    crop: options.Crop = True,
    paste_back: options.PasteBack = None,
    face_backend: options.FaceBackendOption = options.FaceBackendChoice.auto,  # type: ignore[attr-defined]
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUT (and its preview) if they exist.")
    ] = False,
    crf: Annotated[int, typer.Option(min=0, max=51, help="H.264 quality: lower is better and bigger.")] = 18,
    detect_every: options.DetectEvery = 8,
    faces: Annotated[
        str,
        typer.Option(
            help="Which faces of the source photo to animate: largest, all, or face numbers counted "
            "from the left, e.g. 1,3. Each is pasted back into the whole photo.",
        ),
    ] = "largest",
    driving_per_face: Annotated[
        bool,
        typer.Option(
            "--driving-per-face",
            help="Several DRIVING videos after the photo, one per chosen face (left to right); the "
            "first sets the length, fps and audio.",
        ),
    ] = False,
    edit: Annotated[
        bool,
        typer.Option(
            "--edit",
            help="SOURCE is a video to edit: each frame keeps its head pose, body and background, and "
            "its expression follows DRIVING. The output has the source's length, fps and audio.",
        ),
    ] = False,
    audio: Annotated[
        options.AudioChoice | None,  # type: ignore[valid-type]
        typer.Option(help="With --edit: keep the source's audio (default) or the driving video's."),
    ] = None,
    motion: options.Motion = options.MotionControlChoice.both,  # type: ignore[attr-defined]
    expression_scale: options.ExpressionScale = 1.0,
    eyes: options.Eyes = True,
    mouth: options.Mouth = True,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Also print the time split (decode/faces/crop/model/paste/encode)."
        ),
    ] = False,
    threads: options.Threads = None,
    num_sources_old: Annotated[
        options.OptionalInt, options.hidden("--num-sources", min=1, max=MAX_SOURCES_FROM_VIDEO)
    ] = None,
    landmarks_old: Annotated[options.FaceBackendOld, options.hidden("--landmarks")] = None,
) -> None:
    """Animate source portrait(s) with the motion of a driving video."""
    from rich.console import Console
    from rich.markup import escape

    from tiwcli.inference.jobs import AnimationJob, prepare_job
    from tiwcli.io.files import check_input_files, sigterm_as_interrupt

    check_input_files([*sources, driving])  # before the slow imports: a typo is reported at once
    per_face: tuple[Path, ...] = ()
    if driving_per_face:  # SOURCE DRIVING DRIVING...: one photo, then a driver per face
        per_face = (*sources[1:], driving)
        sources, driving = sources[:1], per_face[0]
        if faces == "largest":
            faces = "all"
    if output is None:
        from tiwcli.inference.jobs import default_output

        output = default_output(sources[0], driving, overwrite)
    job = AnimationJob(
        list(sources),
        driving,
        output,
        weights,
        preview,
        overwrite,
        crf,
        per_face,
        edit,
        None if audio is None else audio.value,
    )
    with sigterm_as_interrupt():  # `kill` cleans up like Ctrl-C: no temporary file is left behind
        prepared = prepare_job(job)

        from tiwcli.inference.jobs import different_people_warning, load_model_and_faces, run_job
        from tiwcli.inference.options import AnimateOptions, default_batch_size
        from tiwcli.runtime import resolve_device

        stderr = Console(stderr=True, highlight=False)
        if batch_size is None:
            batch_size = default_batch_size(resolve_device(device).type)
        animate_options = AnimateOptions(
            mode=mode.value,
            find_best_frame=find_best_frame,
            mouth_reference=mouth_reference.value,
            mouth_interior=mouth_interior.value,
            source_mouth=source_mouth.value,
            mouth_scale=mouth_scale,
            batch_size=batch_size,
            device=device,
            precision=precision.value,
            engine=engine.value,
            crop=crop,
            paste_back=paste_back,
            face_backend=options.aliased(face_backend, landmarks_old).value,
            controls=options.motion_controls(motion, expression_scale, eyes, mouth),  # type: ignore[arg-type]
            faces=faces,
            num_sources=options.aliased(sources_from_video, num_sources_old),
            detect_every=detect_every,
        )
        resolve_device(animate_options.device)  # a missing GPU is reported before any work
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        model, analyzer = load_model_and_faces(prepared.weights, animate_options, threads)
        warning = different_people_warning(prepared, analyzer)
        if warning is not None:
            stderr.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
        with _progress(stderr) as progress:
            totals = {"driving": prepared.driving.num_frames or None}
            if prepared.source_video is not None:
                totals["source"] = prepared.source_video.num_frames or None
            summary = run_job(
                prepared, model, animate_options, analyzer, _progress_callback(progress, totals)
            )
    from_video = prepared.source_video is not None
    _print_summary(
        summary,
        output,
        prepared.preview_path,
        prepared.source_video if edit else prepared.driving,
        from_video and not edit,
        edit,
    )
    if verbose:
        _print_split(summary, animate_options)
    if analyzer is not None and analyzer.note:  # after success: errors stay one line
        stderr.print(f"[dim]{escape(analyzer.note)}[/]")


def _progress(stderr: Console) -> Progress | LogProgress:
    """A live bar on a terminal; on anything else (a log file, CI) a line every few seconds."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tiwcli.console import LogProgress

    if not stderr.is_terminal:
        return LogProgress(stderr, unit="frames")
    return Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        _FramesPerSecondColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    )


def _progress_callback(
    progress: Progress | LogProgress, totals: dict[str, int | None]
) -> Callable[[str, int], None]:
    from tiwcli.inference import options as stages

    stage_totals = {
        stages.STAGE_TRACKING: totals.get("driving"),
        stages.STAGE_REFERENCE: totals.get("driving"),
        stages.STAGE_ANIMATING: totals.get("driving"),
        stages.STAGE_TRACKING_SOURCE: totals.get("source"),
        stages.STAGE_SOURCES: totals.get("source"),
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


def _print_summary(
    summary: AnimationSummary,
    output: Path,
    preview_path: Path | None,
    driving: VideoInfo,
    from_video: bool,
    edit: bool = False,
) -> None:
    width, height = summary.output_size
    seconds = summary.video_seconds or summary.frames / float(driving.fps)
    parts = [
        f"wrote {output}: {summary.frames} frames, {width // 2 * 2}x{height // 2 * 2}, "
        f"{seconds:.1f} s at {_format_fps(driving.fps)} fps",
        f"{summary.frames_per_second:.1f} frames/s ({summary.seconds:.1f} s)",
    ]
    if edit:
        parts.append(f"edited {summary.frames - summary.frames_without_face} frames of the source video")
    elif from_video:
        parts.append(f"source frames {', '.join(str(i) for i in summary.sources_used)}")
    else:
        parts.append(f"{len(summary.sources_used)} source image{'s' * (len(summary.sources_used) > 1)}")
    if summary.faces > 1:
        parts.append(f"{summary.faces} faces")
    if summary.reference_frame:
        parts.append(f"motion measured from driving frame {summary.reference_frame}")
    if summary.frames_without_face and edit:
        parts.append(f"{summary.frames_without_face} frames without a face passed through unchanged")
    elif summary.frames_without_face:
        parts.append(f"{summary.frames_without_face} frames without a face (kept the last crop)")
    if not driving.has_audio:
        parts.append("no audio in the driving video")
    if preview_path is not None:
        parts.append(f"preview {preview_path}")
    typer.echo("; ".join(parts))


def _print_split(summary: AnimationSummary, options: AnimateOptions) -> None:
    import os

    import torch

    from tiwcli.runtime import resolve_device
    from tiwcli.timing import format_split

    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    typer.echo(format_split(summary.stage_seconds, summary.frames))
    typer.echo(
        f"device {resolve_device(options.device).type}, torch threads {torch.get_num_threads()}, "
        f"batch {options.batch_size}, "
        f"load average {load}; stages on other threads overlap the model, so they may sum past the total"
    )


def _format_fps(fps: object) -> str:
    """24000/1001 -> 23.976, 25 -> 25"""
    return f"{float(fps):.3f}".rstrip("0").rstrip(".")  # type: ignore[arg-type]
