"""`tiw preprocess`: inputs and the output folder are checked before the face detector loads."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tiwcli.cli import app


@pytest.fixture
def no_detector(monkeypatch):
    def load_face_analyzer(backend="auto"):
        raise AssertionError("the face detector was loaded before the paths were checked")

    monkeypatch.setattr("tiwcli.faces.backends.load_face_analyzer", load_face_analyzer)


def run_preprocess(*arguments: object) -> str:
    """The one `error:` line of a failing run (exit 2, no traceback)."""
    result = CliRunner().invoke(app, ["preprocess", *map(str, arguments)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def test_missing_input(tmp_path, no_detector, carphone):
    assert "no such file or folder" in run_preprocess(carphone, tmp_path / "nope.mp4", tmp_path / "out")


def test_output_is_a_file(tmp_path, no_detector, carphone):
    (tmp_path / "out").write_text("keep")
    assert "is a file" in run_preprocess(carphone, tmp_path / "out")
    assert (tmp_path / "out").read_text() == "keep"


def test_output_folder_not_writable(tmp_path, no_detector, carphone):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys"), Path("/proc")):
        try:
            with tempfile.NamedTemporaryFile(dir=candidate):
                pass
        except OSError:
            break
    else:
        pytest.skip("no unwritable folder on this machine")
    assert "cannot write there" in run_preprocess(carphone, candidate / "dataset")
