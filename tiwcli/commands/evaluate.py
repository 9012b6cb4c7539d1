"""`tiw eval`: score the model (and baselines) on a dataset split, or any tool's videos.

    tiw eval --data DIR [--weights W] [--sources 1,2,3] [--metrics ...] [--json PATH]
    tiw eval --data DIR --cross-identity ...
    tiw eval --pred PRED_DIR --real REAL_DIR

Thin: parses options, calls `tiwcli.evaluation.protocols`, prints the table. Heavy imports inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from tiwcli.commands import options
from tiwcli.commands.options import parse_int_list
from tiwcli.errors import InputError

if TYPE_CHECKING:
    from tiwcli.evaluation.report import EvaluationReport

ALL = "l1,psnr,ssim,lpips,fid,kid,akd,mkr,aed"


def _check_output(path: Path | None, suffix: str, option: str) -> None:
    from tiwcli.io.files import check_writable_folder

    if path is None:
        return
    if path.suffix.lower() != suffix:
        raise InputError(f"{option} {path}: expected a {suffix} file")
    if not path.parent.exists():
        raise InputError(f"{option} {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder")
    check_writable_folder(path.parent)


def _write_outputs(
    report: EvaluationReport, json_path: Path | None, csv_path: Path | None, plot: Path | None
) -> None:
    """--json, --csv, --plot; a failed write (a full disk) is one line, and leaves no partial file."""
    from tiwcli.evaluation.report import plot_report
    from tiwcli.io.files import write_error

    writers = [(json_path, report.write_json), (csv_path, report.write_csv)]
    writers.append((plot, lambda path: plot_report(report, path)))
    for path, write in writers:
        if path is None:
            continue
        try:
            write(path)
        except OSError as error:
            path.unlink(missing_ok=True)
            raise write_error(path, error) from None


def evaluate(
    *,
    data: Annotated[
        Optional[Path],  # noqa: UP045 (typer needs Optional on Python 3.10)
        typer.Option(help="Dataset folder (DIR/<split>/*.mp4, from `tiw preprocess`).", file_okay=False),
    ] = None,
    weights: options.Weights = None,
    split: Annotated[str, typer.Option(help="Dataset split to evaluate.")] = "test",
    sources: Annotated[
        str, typer.Option(help="Numbers of source frames, one table row each, e.g. 1,2,3.")
    ] = "1",
    metrics: Annotated[str, typer.Option(help=f"Comma-separated metrics, or all: {ALL}.")] = ALL,
    baselines: Annotated[
        str, typer.Option(help="Baselines scored in the same run: copy-source,landmark-warp or none.")
    ] = "copy-source,landmark-warp",
    no_model: Annotated[bool, typer.Option("--no-model", help="Score the baselines only.")] = False,
    cross_identity: Annotated[
        bool, typer.Option("--cross-identity", help="Sources from one clip, driving frames from another.")
    ] = False,
    pred: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            help="Folder of generated videos (any tool), matched to --real by file name.", file_okay=False
        ),
    ] = None,
    real: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Folder of real videos for --pred.", file_okay=False),
    ] = None,
    max_frames: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(help="At most this many driving frames per clip, evenly spaced.", min=1),
    ] = None,
    fid_frames: Annotated[
        int, typer.Option(help="At most this many frames per set for FID/KID, evenly spaced.", min=2)
    ] = 500,
    batch_size: options.BatchSize = 8,
    seed: Annotated[int, typer.Option(help="Seed for KID subsets and cross-identity pairs.")] = 0,
    face_backend: options.FaceBackendOption = options.FaceBackendChoice.auto,  # type: ignore[attr-defined]
    device: Annotated[
        str, typer.Option(help="Where the model runs: auto, cpu, cuda or cuda:N (metrics networks: the CPU).")
    ] = "auto",
    precision: options.PrecisionOption = options.PrecisionChoice.auto,  # type: ignore[attr-defined]
    json_path: Annotated[
        Optional[Path], typer.Option("--json", help="Write the results as JSON.", dir_okay=False)  # noqa: UP045
    ] = None,
    csv_path: Annotated[
        Optional[Path], typer.Option("--csv", help="Write the table as CSV.", dir_okay=False)  # noqa: UP045
    ] = None,
    plot: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Write a PNG of each metric against the number of sources.", dir_okay=False),
    ] = None,
    num_sources_old: Annotated[options.OptionalStr, options.hidden("--num-sources")] = None,
) -> None:
    """Evaluate with the paper's metrics (reconstruction, cross-identity, or --pred/--real videos)."""
    from rich.console import Console

    from tiwcli.evaluation.baselines import parse_baseline_names
    from tiwcli.evaluation.metrics import parse_metric_names

    _check_output(json_path, ".json", "--json")
    _check_output(csv_path, ".csv", "--csv")
    _check_output(plot, ".png", "--plot")
    if (pred is None) != (real is None):
        raise InputError("--pred and --real go together")
    if (pred is None) == (data is None):
        raise InputError("give either --data DIR or --pred DIR --real DIR")
    from tiwcli.evaluation.protocols import evaluate_data
    from tiwcli.evaluation.report import EvalSettings
    from tiwcli.evaluation.videos import evaluate_videos

    settings = EvalSettings(
        metrics=parse_metric_names(metrics),
        num_sources=parse_int_list(
            options.aliased(sources, num_sources_old),
            "--sources" if num_sources_old is None else "--num-sources",
        ),
        baselines=parse_baseline_names(baselines),
        max_frames=max_frames,
        fid_frames=fid_frames,
        seed=seed,
        batch_size=batch_size,
        face_backend=face_backend.value,
        cross_identity=cross_identity,
        precision=precision.value,
    )
    for folder in (data, pred, real):  # before the model and the metric networks load
        if folder is not None and not folder.is_dir():
            raise InputError(f"{folder}: no such {'dataset ' if folder is data else ''}folder")
    stderr = Console(stderr=True, highlight=False)

    def progress(message: str) -> None:
        stderr.print(f"[dim]{message}[/]")

    if pred is not None:
        report = evaluate_videos(pred, real, settings, progress=progress)
    else:
        assert data is not None
        report = evaluate_data(
            data,
            settings,
            split=split,
            weights=weights,
            use_model=not no_model,
            device=device,
            progress=progress,
        )
    console = Console(highlight=False)
    if not console.is_terminal:  # a pipe or a file: do not squeeze the table to 80 columns
        console = Console(highlight=False, width=200)
    console.print(render_table(report))
    for line in report_footer(report):
        console.print(line, soft_wrap=True, markup=False)
    _write_outputs(report, json_path, csv_path, plot)


def render_table(report: EvaluationReport):
    from rich import box
    from rich.table import Table

    from tiwcli.evaluation.metrics import METRICS
    from tiwcli.evaluation.report import format_value

    table = Table(title=f"tiw eval: {report.mode}", box=box.SIMPLE_HEAD)
    table.add_column("method")
    table.add_column("sources", justify="right")
    for name in report.metrics:
        table.add_column(
            f"{METRICS[name].label} {'↑' if METRICS[name].higher_is_better else '↓'}", justify="right"
        )
    for row in report.rows:
        table.add_row(
            row.method,
            "" if row.num_sources is None else str(row.num_sources),
            *(format_value(name, row.metrics[name]) for name in report.metrics),
        )
    return table


def report_footer(report: EvaluationReport) -> list[str]:
    from tiwcli.evaluation.metrics import METRICS
    from tiwcli.evaluation.report import unexplained_gaps

    lines = [f"{METRICS[name].label} unavailable: {reason}" for name, reason in report.unavailable.items()]
    lines += unexplained_gaps(report)
    return lines + report.notes
