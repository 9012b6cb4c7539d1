"""`tiw train`: paths checked before any work (one-line errors), progress lines in logs, one final
message under torchrun."""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from tiwcli.cli import app

runner = CliRunner()


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if training starts: the error must come before it."""

    def train(options):
        raise AssertionError("training started before the paths were checked")

    monkeypatch.setattr("tiwcli.training.loop.train", train)


def run_train(*arguments: object):
    result = runner.invoke(app, ["train", *map(str, arguments), "--preset", "tiny"])
    assert "Traceback" not in result.output, result.output
    return result


def error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def unwritable_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys"), Path("/proc")):
        try:
            with tempfile.NamedTemporaryFile(dir=candidate):
                pass
        except OSError:
            return candidate
    pytest.skip("no unwritable folder on this machine")


def test_out_is_an_existing_file(tmp_path, sample_dataset, no_training):
    (tmp_path / "notes.txt").write_text("keep")
    result = run_train("--data", sample_dataset, "--out", tmp_path / "notes.txt")
    assert result.exit_code == 2
    assert "is a file" in error_line(result)
    assert (tmp_path / "notes.txt").read_text() == "keep"


def test_out_below_an_existing_file(tmp_path, sample_dataset, no_training):
    (tmp_path / "notes.txt").write_text("keep")
    result = run_train("--data", sample_dataset, "--out", tmp_path / "notes.txt" / "run")
    assert result.exit_code == 2
    assert "is a file" in error_line(result)


def test_run_folder_not_writable(tmp_path, sample_dataset, no_training):
    result = run_train("--data", sample_dataset, "--out", unwritable_folder(tmp_path) / "run")
    assert result.exit_code == 2
    assert "cannot write there" in error_line(result)


def test_missing_data_and_init_are_reported_first(tmp_path, sample_dataset, no_training):
    result = run_train("--data", tmp_path / "nothing", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "no such dataset folder" in error_line(result)
    result = run_train(
        "--data", sample_dataset, "--out", tmp_path / "run", "--init", tmp_path / "no.safetensors"
    )
    assert result.exit_code == 2 and "no such file" in error_line(result)


@pytest.mark.parametrize(("rank", "printed"), [("0", True), ("1", False)])
def test_final_message_once_under_torchrun(tmp_path, sample_dataset, monkeypatch, rank, printed):
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setattr(
        "tiwcli.training.loop.train",
        lambda options: SimpleNamespace(step=4, model_path=options.run_dir / "m"),
    )
    result = run_train("--data", sample_dataset, "--out", tmp_path / "run", "--steps", 4)
    assert result.exit_code == 0, result.output
    assert ("trained to step 4" in result.stdout) == printed


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, sample_dataset, monkeypatch):
    monkeypatch.setattr("tiwcli.console.LOG_PROGRESS_SECONDS", 0.0)
    arguments = ["--data", sample_dataset, "--out", tmp_path / "run", "--steps", 3, "--batch-size", 1]
    result = run_train(*arguments, "--max-sources", 1, "--sample-every", 0)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert any(line.startswith("train: 3/3 steps") for line in lines), result.stderr
