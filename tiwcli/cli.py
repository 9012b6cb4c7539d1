"""The `tiw` command line: thin Typer commands over reusable pipelines.

Each command lives in `tiwcli/commands/<name>.py` as a plain function with
`Annotated` options. This file registers them and is the only place where the
project exception (`TiwError`) becomes a one-line message and an exit code.

Layers (imports only point down; tests/test_layers.py checks):
    cli.py -> commands/ -> app/ -> evaluation/ -> inference/, training/ -> dataset/ -> faces/, checkpoint.py
    -> io/, models/ -> runtime.py, choices.py, config.py, paths.py, errors.py (and the other root modules)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from tiwcli import __version__
from tiwcli.commands.animate import animate
from tiwcli.commands.app import app as app_command
from tiwcli.commands.bench import bench
from tiwcli.commands.evaluate import evaluate
from tiwcli.commands.export import export
from tiwcli.commands.live import live
from tiwcli.commands.preprocess import preprocess
from tiwcli.commands.train import train
from tiwcli.errors import TiwError

app = typer.Typer(
    name="tiw",
    help="Animate a face with Implicit Warping: source portrait(s) + a driving video -> video.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_stderr = Console(stderr=True, highlight=False)

# command name -> its function (tiwcli/commands/<module>.py); heavy imports happen inside them
_COMMANDS: dict[str, Callable[..., Any]] = {
    "animate": animate,
    "preprocess": preprocess,
    "train": train,
    "eval": evaluate,
    "bench": bench,
    "export": export,
    "live": live,
    "app": app_command,
}


def _exits_cleanly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn TiwError into `error: ...` on stderr and its exit code; Ctrl-C into exit 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TiwError as error:
            _stderr.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            _stderr.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper


def _register() -> None:
    for name, command in _COMMANDS.items():
        app.command(name)(_exits_cleanly(command))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tiw {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """tiw: Implicit Warping face animation."""


_register()


def main() -> None:
    """The `tiw` entry point. Usage errors (an unknown option, a value out of range...) are one
    `error:` line with exit code 2 too, like every other bad input, not a framed usage box."""
    import sys

    from tiwcli.allocator import keep_freed_memory

    keep_freed_memory()
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        _stderr.print("[yellow]aborted[/]")
        sys.exit(1)
    except Exception as error:
        # Click's usage errors (Typer may vendor Click, so they are recognised by their interface)
        if not (hasattr(error, "format_message") and isinstance(getattr(error, "exit_code", None), int)):
            raise
        if type(error).__name__ == "NoArgsIsHelpError":
            app(["--help"])  # bare `tiw`: the help, as Typer shows it
        message = " ".join(error.format_message().split())
        context = getattr(error, "ctx", None)
        if context is not None:
            message += f" (see `{context.command_path} --help`)"
        _stderr.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
