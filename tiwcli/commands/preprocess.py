"""`tiw preprocess RAW... OUT_DIR`: thin CLI over `tiwcli.dataset.preprocess.preprocess`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tiwcli.commands import options
from tiwcli.errors import InputError


def preprocess(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            metavar="RAW", help="Video files, or folders searched for videos.", show_default=False
        ),
    ],
    out_dir: Annotated[Path, typer.Argument(metavar="OUT_DIR", help="Dataset folder (created or extended).")],
    *,
    size: Annotated[int, typer.Option(help="Side of the square face clips, in pixels.", min=16)] = 256,
    min_frames: Annotated[int, typer.Option(help="Drop face segments shorter than this.", min=2)] = 32,
    max_frames: Annotated[
        int, typer.Option(help="Split longer face segments into clips of this many frames.", min=2)
    ] = 300,
    max_input_frames: Annotated[
        options.OptionalInt,
        typer.Option(help="Read only this many frames of each input (quick trials).", min=1),
    ] = None,
    test_fraction: Annotated[
        float,
        typer.Option(help="Share of source videos (identities) put in the test split.", min=0.0, max=1.0),
    ] = 0.1,
    test_video: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(help="File name of a video to put in the test split (repeatable).", show_default=False),
    ] = None,
    max_jump: Annotated[
        float,
        typer.Option(help="Cut a clip where the face moves more than this x the crop size in one frame."),
    ] = 0.25,
    face_backend: options.FaceBackendOption = options.FaceBackendChoice.auto,  # type: ignore[attr-defined]
    progress: options.Progress = True,
    backend_old: Annotated[options.FaceBackendOld, options.hidden("--backend")] = None,
) -> None:
    """Cut raw videos into square face clips for `tiw train` (split by source video)."""
    from tiwcli.io.files import check_output_folder, missing_reason

    for item in inputs:  # before loading the face detector
        if not item.exists():
            raise InputError(f"{item}: {missing_reason(item, 'no such file or folder')}")
    check_output_folder(out_dir)
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from tiwcli.dataset.preprocess import PreprocessOptions
    from tiwcli.dataset.preprocess import preprocess as run_preprocess
    from tiwcli.faces.backends import load_face_analyzer

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    preprocess_options = PreprocessOptions(
        size=size,
        min_frames=min_frames,
        max_frames=max_frames,
        max_input_frames=max_input_frames,
        test_fraction=test_fraction,
        test_videos=tuple(test_video or ()),
        max_jump=max_jump,
        backend=options.aliased(face_backend, backend_old).value,
    )
    analyzer = load_face_analyzer(preprocess_options.backend)
    if analyzer.note:
        console.print(escape(analyzer.note), style="dim")
    from tiwcli.console import LogProgress

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    bar = Progress(*columns, console=console, disable=not progress)
    if progress and not console.is_terminal:  # a log: a line every few seconds, not one bar at the end
        bar = LogProgress(console, unit="frames")
    with bar:
        task = bar.add_task("frames", total=None)

        def on_source(path: Path, frames: int) -> None:
            bar.update(task, description=path.name[:40], total=frames or None, completed=0)

        summary = run_preprocess(
            inputs,
            out_dir,
            preprocess_options,
            analyzer,
            on_source=on_source,
            on_frame=lambda: bar.advance(task),
        )
    for entry in summary.skipped:
        console.print(f"[yellow]skipped:[/] {escape(entry['reason'])}")
    typer.echo(
        f"{summary.clips_written} clips from {summary.sources_done} videos "
        f"({summary.sources_skipped} skipped, {summary.sources_already_done} already done) in {out_dir}"
    )
