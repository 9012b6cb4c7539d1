"""Progress when stderr is not a terminal: plain lines every few seconds, nothing for quick stages."""

from __future__ import annotations

import io

from rich.console import Console
from typer.testing import CliRunner

from tiwcli.cli import app
from tiwcli.console import LogProgress


def log_console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200), buffer


def test_log_progress_prints_lines_and_a_last_one():
    console, buffer = log_console()
    with LogProgress(console, unit="frames", interval=0.0) as progress:
        task = progress.add_task("animating", total=4)
        progress.advance(task, 2)
        progress.advance(task, 2)
    lines = buffer.getvalue().splitlines()
    assert lines[-1].startswith("animating: 4/4 frames")
    assert all(line.startswith("animating: ") for line in lines)


def test_quick_stages_print_nothing():
    console, buffer = log_console()
    with LogProgress(console, interval=60.0) as progress:
        task = progress.add_task("tracking faces", total=3)
        progress.advance(task, 3)
    assert buffer.getvalue() == ""


def test_animate_logs_progress_when_stderr_is_not_a_terminal(tmp_path, monkeypatch, face_photo, carphone):
    import torch

    from tiwcli.checkpoint import save_model
    from tiwcli.config import model_preset
    from tiwcli.models import ImplicitWarping

    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    save_model(weights, ImplicitWarping(model_preset("tiny")))
    monkeypatch.setattr("tiwcli.console.LOG_PROGRESS_SECONDS", 0.0)
    args = [face_photo, carphone, "-o", tmp_path / "out.mp4", "--weights", weights, "--no-crop"]
    result = CliRunner().invoke(app, ["animate", *map(str, args)])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert "" not in lines  # no empty line (a transient rich bar left one)
    assert any(line.startswith("animating: ") and "/120 frames" in line for line in lines), lines


def test_a_new_description_starts_a_new_stage():
    console, buffer = log_console()
    with LogProgress(console, interval=0.0) as progress:
        task = progress.add_task("first.mp4", total=2)
        progress.advance(task, 2)
        progress.update(task, description="second.mp4", total=3, completed=0)
        progress.advance(task, 3)
    assert buffer.getvalue().splitlines()[-1].startswith("second.mp4: 3/3 frames")
