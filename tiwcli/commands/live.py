"""`tiw live SOURCE... --camera /dev/video0 [--window] [--virtual-camera] [-o out.mp4]`:
thin CLI over `tiwcli.inference.live` (real-time animation from a camera, or a file standing in for one)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from tiwcli.choices import MOUTH_SCALE
from tiwcli.commands import options

if TYPE_CHECKING:
    from tiwcli.inference.live import LiveSummary


def live(
    sources: Annotated[
        list[Path],
        typer.Argument(metavar="SOURCE", help="Source portrait photo(s) to animate.", show_default=False),
    ],
    *,
    camera: Annotated[
        str,
        typer.Option(
            help="A V4L2 camera (/dev/videoN), a stream URL, or a video file played at its own rate "
            "(stands in for a camera)."
        ),
    ] = "/dev/video0",
    output: Annotated[
        Optional[Path],  # noqa: UP045 (typer needs Optional here on Python 3.10)
        typer.Option(
            "-o",
            "--output",
            help="Also record to this video file (keeps the input's timing).",
            dir_okay=False,
        ),
    ] = None,
    window: Annotated[
        bool, typer.Option("--window", help="Show a window (needs OpenCV). Keys: r re-anchor, q quit.")
    ] = False,
    virtual_camera: Annotated[
        bool, typer.Option("--virtual-camera", help="Send to a virtual camera (needs pyvirtualcam).")
    ] = False,
    anchor_after: Annotated[
        float,
        typer.Option(
            help="Seconds before the relative motion is anchored to the current frame (time to match "
            "the source's pose). Enter or r re-anchors at any time.",
        ),
    ] = 0.0,
    overlay: Annotated[bool, typer.Option(help="Draw the fps and the latency on the output.")] = True,
    loop: Annotated[bool, typer.Option("--loop", help="A file: play it again at its end.")] = False,
    max_seconds: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(help="Stop after this many seconds (default: the input's end, q, or Ctrl-C)."),
    ] = None,
    max_frames: Annotated[Optional[int], typer.Option(help="Stop after this many output frames.")] = None,  # noqa: UP045
    camera_size: Annotated[
        Optional[str], typer.Option(help="V4L2 capture size, e.g. 640x480.")  # noqa: UP045
    ] = None,
    camera_fps: Annotated[Optional[int], typer.Option(help="V4L2 capture frame rate.")] = None,  # noqa: UP045
    weights: options.Weights = None,
    device: options.Device = "auto",
    precision: options.PrecisionOption = options.PrecisionChoice.auto,  # type: ignore[attr-defined]
    engine: options.EngineOption = options.EngineChoice.torch,  # type: ignore[attr-defined]
    threads: options.Threads = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Model workers, each on the newest frame (try --workers 2 --threads 1 on 2 cores)."
        ),
    ] = 1,
    crop: options.Crop = True,
    paste_back: options.PasteBack = None,
    face_backend: options.FaceBackendOption = options.FaceBackendChoice.auto,  # type: ignore[attr-defined]
    detect_every: options.DetectEvery = 8,
    motion: options.Motion = options.MotionControlChoice.both,  # type: ignore[attr-defined]
    expression_scale: options.ExpressionScale = 1.0,
    eyes: options.Eyes = True,
    mouth: options.Mouth = True,
    mouth_interior: options.MouthInteriorOption = options.MouthInteriorChoice.driver,  # type: ignore[attr-defined]
    source_mouth: options.SourceMouthOption = options.SourceMouthChoice.as_is,  # type: ignore[attr-defined]
    mouth_scale: options.MouthScale = MOUTH_SCALE,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the output file.")] = False,
    stats_json: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--stats-json", help="Write fps, latency percentiles and the time split as JSON."),
    ] = None,
    landmarks_old: Annotated[options.FaceBackendOld, options.hidden("--landmarks")] = None,
) -> None:
    """Animate source portrait(s) in real time from a camera (or a video file standing in for one)."""
    import contextlib
    import json
    import threading

    from tiwcli.checkpoint import resolve_weights
    from tiwcli.errors import InputError
    from tiwcli.inference.animator import Animator
    from tiwcli.inference.jobs import check_video_suffix, load_model_and_faces, load_source
    from tiwcli.inference.live import LiveSession, run_live, terminal_keys
    from tiwcli.inference.live_capture import LiveOptions, input_rate
    from tiwcli.inference.live_outputs import FileOutput, VirtualCameraOutput, WindowOutput, check_available
    from tiwcli.inference.options import AnimateOptions
    from tiwcli.io.files import check_output_file, write_text_atomically
    from tiwcli.io.video import check_output_path
    from tiwcli.runtime import resolve_device

    if output is None and not window and not virtual_camera:
        raise InputError("nothing to show: give -o FILE, --window or --virtual-camera")
    check_available(window, virtual_camera)
    if output is not None:
        check_video_suffix(output)
        check_output_path(output, overwrite)
    if stats_json is not None:
        check_output_file(stats_json, "--stats-json")  # before the run, not after it
    live_options = LiveOptions(
        camera=camera, camera_size=camera_size, camera_fps=camera_fps, loop=loop, overlay=overlay,
        anchor_after=anchor_after, max_seconds=max_seconds, max_frames=max_frames, detect_every=detect_every,
        workers=workers,
    )  # fmt: skip
    fps = input_rate(live_options)  # opens the input once: a bad camera or file is reported before any work
    animate_options = AnimateOptions(
        batch_size=1,
        device=device,
        precision=precision.value,
        engine=engine.value,
        crop=crop,
        paste_back=paste_back,
        face_backend=options.aliased(face_backend, landmarks_old).value,
        controls=options.motion_controls(motion, expression_scale, eyes, mouth),  # type: ignore[arg-type]
        mouth_interior=mouth_interior.value,
        source_mouth=source_mouth.value,
        mouth_scale=mouth_scale,
    )
    resolve_device(animate_options.device)
    images = [load_source(path) for path in sources]
    model, analyzer = load_model_and_faces(resolve_weights(weights), animate_options, threads)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    animator = Animator(model, animate_options, analyzer=analyzer)
    session = LiveSession(
        animator, animator.sources_from_images(images, [str(p) for p in sources]), live_options
    )
    quit_requested = threading.Event()  # `q` on the terminal
    with contextlib.ExitStack() as stack, terminal_keys(session, quit_requested):
        outputs = []
        if output is not None:
            outputs.append(stack.enter_context(FileOutput(output, fps, overwrite, times=session.times)))
        if virtual_camera:
            outputs.append(stack.enter_context(VirtualCameraOutput(fps)))
        if window:
            outputs.append(stack.enter_context(WindowOutput(session)))
        outputs.append(lambda frame, captured: not quit_requested.is_set())
        summary = run_live(session, outputs)
    _print_summary(summary, output)
    if stats_json is not None:
        write_text_atomically(stats_json, json.dumps(summary.as_dict(), indent=2))


def _print_summary(summary: LiveSummary, output: Path | None) -> None:
    import torch

    from tiwcli.timing import format_split

    parts = [
        f"live: {summary.frames_shown} frames shown of {summary.frames_captured} captured "
        f"({summary.dropped} dropped) in {summary.seconds:.1f} s, {summary.frames_per_second:.1f} fps",
        f"latency p50 {summary.latency_percentile(50):.0f} ms, p95 {summary.latency_percentile(95):.0f} ms",
        f"torch threads {torch.get_num_threads()}",
        f"stopped by {summary.stopped_by}",
    ]
    if summary.frames_without_face:
        parts.append(f"{summary.frames_without_face} frames without a face (source shown)")
    if output is not None:
        parts.append(f"wrote {output}")
    typer.echo("; ".join(parts))
    typer.echo(format_split(summary.stage_seconds, summary.stage_calls))
