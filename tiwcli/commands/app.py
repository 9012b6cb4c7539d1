"""`tiw app`: the web page (tiwcli/app/), started on 127.0.0.1 unless told otherwise.

Gradio is an optional extra: without it the command says in one line how to install it (exit 2).
"""

from __future__ import annotations

import importlib.util
from typing import Annotated

import typer

from tiwcli.commands import options
from tiwcli.errors import InputError

INSTALL_HINT = 'tiw app needs Gradio, an optional extra: pip install "tiw[app]"'


def app(
    *,
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 opens the page to the whole network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 7860,
    share: Annotated[
        bool,
        typer.Option("--share/--no-share", help="Also open a public gradio.live link (needs the internet)."),
    ] = False,
    max_upload_mb: Annotated[int, typer.Option(min=1, help="Largest upload accepted, in MB.")] = 200,
    max_seconds: Annotated[
        float, typer.Option(min=1, help="Longest driving video accepted, in seconds.")
    ] = 120.0,
    weights: options.Weights = None,
) -> None:
    """Serve a web page to animate photos: upload, press Animate, watch and download."""
    if not gradio_installed():
        raise InputError(INSTALL_HINT)
    from tiwcli.app.jobs import AppSettings
    from tiwcli.checkpoint import resolve_weights

    resolve_weights(weights)  # missing weights are one line now, not at the first job
    settings = AppSettings(weights=weights, max_upload_mb=max_upload_mb, max_seconds=max_seconds)

    from tiwcli.app.page import serve

    serve(settings, host, port, share)


def gradio_installed() -> bool:
    return importlib.util.find_spec("gradio") is not None
