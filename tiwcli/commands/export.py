"""`tiw export WEIGHTS -o OUT.onnx`: the model as one ONNX file, for the ONNX engine or any ONNX
runtime. Thin: checks the options, loads the weights, calls `tiwcli.inference.onnx_export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tiwcli.commands import options


def export(
    weights: Annotated[
        Path, typer.Argument(metavar="WEIGHTS", help="Model checkpoint (.safetensors) to export.")
    ],
    *,
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write (OUT.onnx).")],
    format_name: Annotated[str, typer.Option("--format", help="What to write: onnx.")] = "onnx",
    sources: Annotated[
        options.OptionalInt,
        typer.Option(min=1, help="Fix the number of source images (default: any number)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
) -> None:
    """Export the model (landmark prior included) to ONNX: keypoints, sources and render graphs."""
    from tiwcli.checkpoint import load_model, resolve_weights
    from tiwcli.choices import ExportFormat, check_choice
    from tiwcli.console import make_console
    from tiwcli.inference.onnx_export import check_exportable, export_onnx, require_onnx
    from tiwcli.io.video import check_output_path

    check_choice(format_name, ExportFormat, "export format")
    require_onnx()
    check_output_path(output, overwrite)
    model = load_model(resolve_weights(weights))
    check_exportable(model.config, sources)
    console = make_console(stderr=True)
    console.print(f"[dim]exporting {weights} to ONNX (traces three graphs: under a minute on a CPU)[/]")
    result = export_onnx(model, output, sources, overwrite)
    count = "any number of sources" if result.num_sources is None else f"{result.num_sources} source(s)"
    typer.echo(
        f"wrote {result.path} ({result.size_bytes / 1e6:.1f} MB, opset {result.opset}, "
        f"graphs {', '.join(result.parts)}, {count})"
    )
