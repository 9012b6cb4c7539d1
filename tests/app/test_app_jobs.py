"""The app's job runner without a browser or Gradio: the CLI's messages with short paths, the
driving-length limit, a cancelled job leaves nothing behind; `tiw app` without Gradio."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tiwcli.app.jobs import Animations, AppSettings, JobCancelledError, short_paths
from tiwcli.cli import app
from tiwcli.commands import app as app_command
from tiwcli.errors import InputError
from tiwcli.inference.options import AnimateOptions


def test_without_gradio_tiw_app_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(app_command, "gradio_installed", lambda: False)
    result = CliRunner().invoke(app, ["app"])
    assert result.exit_code == 2
    assert result.output.strip() == 'error: tiw app needs Gradio, an optional extra: pip install "tiw[app]"'


def test_messages_name_uploads_by_their_file_name():
    upload = Path("/tmp/gradio/4f2a9c/photo.jpg")
    assert short_paths(f"{upload}: no face found", [upload]) == "photo.jpg: no face found"


def test_a_driving_video_over_the_limit_is_refused_before_any_work(tmp_path, face_photo, app_inputs):
    animations = Animations(AppSettings(max_seconds=0.1), tmp_path)
    with pytest.raises(
        InputError, match=r"^clip\.mp4: driving video is 0 s long, over this app's limit of 0\.1 s"
    ):
        animations.run([face_photo], app_inputs / "clip.mp4", AnimateOptions())
    assert not list(tmp_path.rglob("*.mp4"))


def test_a_cancelled_job_stops_and_leaves_no_file(tmp_path, face_photo, app_inputs):
    """The flag a closed tab sets: the job stops at its next batch, its writers clean up."""
    cancelled = threading.Event()
    cancelled.set()
    animations = Animations(AppSettings(), tmp_path)
    with pytest.raises(JobCancelledError):
        animations.run(
            [face_photo], app_inputs / "clip.mp4", AnimateOptions(batch_size=2), cancelled=cancelled
        )
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]
    result = animations.run([face_photo], app_inputs / "clip.mp4", AnimateOptions(batch_size=2))
    assert result.video.is_file() and result.preview.is_file()
