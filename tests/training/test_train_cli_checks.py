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


class _Hostile:
    """Unpickling this would call a function: `weights_only` loading must refuse it."""

    def __reduce__(self):
        import os

        return (os.getcwd, ())


@pytest.mark.parametrize("kind", ["pickle", "random bytes", "truncated", "empty", "a list of tensors"])
def test_unreadable_vgg_weights_are_one_line(tmp_path, kind):
    """D7: a --vgg-weights file that is a pickle of other things, random bytes or a cut download is
    an InputError naming the file (before: an UnpicklingError traceback advising weights_only=False)."""
    import pickle

    import torch

    from tiwcli.errors import InputError
    from tiwcli.training.perceptual import load_vgg19

    path = tmp_path / "vgg19.pth"
    if kind == "pickle":
        path.write_bytes(pickle.dumps({"features.0.weight": _Hostile()}))
    elif kind == "random bytes":
        path.write_bytes(bytes(range(256)) * 40)
    elif kind == "truncated":
        torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
        path.write_bytes(path.read_bytes()[:700])
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        torch.save([torch.zeros(2)], path)
    with pytest.raises(InputError) as error:
        load_vgg19(path)
    message = str(error.value)
    assert str(path) in message and "\n" not in message and "weights_only" not in message


def test_missing_vgg_weights_is_reported_before_training(tmp_path, sample_dataset, no_training):
    """D8: an explicit --vgg-weights that does not exist is exit 2, like a missing --init (before: a
    note, and training silently without the perceptual loss)."""
    result = run_train(
        "--data", sample_dataset, "--out", tmp_path / "run", "--vgg-weights", tmp_path / "vgg19-typo.pth"
    )
    assert result.exit_code == 2 and "vgg19-typo.pth: no such file" in error_line(result)
    assert not (tmp_path / "run").exists()
